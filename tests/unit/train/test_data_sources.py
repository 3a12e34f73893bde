"""The data-source registry: built-in and task sources by name, unknown names, sources of one's own."""

import pytest
import torch

import interp.tasks  # noqa: F401  registers "ioi", as the CLI and `import interp` do
from interp.core.errors import ConfigError
from interp.text.config import DataConfig
from interp.text.tokenizers import CharTokenizer
from interp.train.data import TrainingData, prepare_synthetic, prepare_text_corpus
from interp.train.data_sources import DataSource, check_data, data_source, register_source, source_names, unregister_source
from interp.train.presets import run_config


def test_the_built_in_corpora_and_the_ioi_generator_are_registered():
    assert {"shakespeare", "imdb", "prose", "none", "ioi"} <= set(source_names())
    assert all(data_source(name).prepare is prepare_text_corpus for name in ("shakespeare", "imdb", "prose"))
    assert data_source("none").prepare is prepare_synthetic
    assert data_source("ioi").prepare.__module__ == "interp.tasks.ioi.source"


def test_an_unknown_corpus_is_one_config_error_listing_the_registered_names():
    with pytest.raises(ConfigError, match=r"unknown corpus 'wiki'; choose one of imdb, ioi, none, prose, shakespeare\b") as error:
        data_source("wiki")
    assert "\n" not in str(error.value)
    run = run_config("attn-only-1l", overrides={"data.corpus": "wiki"})  # any name is a valid config until it is prepared
    with pytest.raises(ConfigError, match="unknown corpus 'wiki'"):
        TrainingData.prepare(run)


def test_ioi_extra_names_belong_to_the_ioi_source():
    DataConfig(corpus="shakespeare", ioi_extra_names=0)
    check_data(DataConfig(corpus="ioi", tokenizer="gpt2", ioi_extra_names=7))
    with pytest.raises(ConfigError, match="ioi_extra_names .* must be 0 for other corpora; got 5 with corpus 'imdb'"):
        check_data(DataConfig(corpus="imdb", ioi_extra_names=5))
    with pytest.raises(ConfigError, match="must be an integer >= 0"):
        DataConfig(corpus="ioi", ioi_extra_names=-1)


def test_compact_vocab_under_ioi_is_refused_by_the_ioi_source_in_the_generic_words():
    data = DataConfig(corpus="ioi", tokenizer="gpt2", compact_vocab=True)  # text/config no longer knows "ioi"
    words = (
        "data.compact_vocab = true keeps the GPT-2/BERT ids a text corpus uses: it needs data.tokenizer = 'gpt2' "
        "or 'bert' and a text corpus (got tokenizer 'gpt2', corpus 'ioi')"
    )
    with pytest.raises(ConfigError) as error:
        check_data(data)
    assert str(error.value) == words
    with pytest.raises(ConfigError, match="compact_vocab = true keeps"):
        run_config("ioi-attn-only-3l", overrides={"data.compact_vocab": True})
    with pytest.raises(ConfigError, match=r"corpus 'none'\)$"):  # "none" stays refused by the config itself
        DataConfig(corpus="none", tokenizer="gpt2", repeated_fraction=1.0, compact_vocab=True)
    check_data(DataConfig(corpus="imdb", tokenizer="gpt2", compact_vocab=True))  # a text corpus keeps it


def test_a_source_of_ones_own_trains_by_name(tmp_path):
    def prepare_twos(run, *, cache_dir=None, tokenizer=None):
        tokenizer = tokenizer or CharTokenizer("ab")
        return TrainingData(run=run, tokenizer=tokenizer, packed=None, synthetic_vocab=torch.tensor([1]))

    source = DataSource(name="just-bs", prepare=prepare_twos, summary="the letter b, repeated")
    register_source(source)
    try:
        register_source(source)  # the same source again: a no-op
        with pytest.raises(ConfigError, match="'just-bs' is already registered"):
            register_source(DataSource(name="just-bs", prepare=prepare_text_corpus, summary="something else"))
        run = run_config(
            "attn-only-1l", overrides={"data.corpus": "just-bs", "data.repeated_fraction": 1.0, "train.batch_size": 2}
        )
        assert bool((TrainingData.prepare(run).batch(0) == 1).all())
    finally:
        unregister_source("just-bs")
    assert "just-bs" not in source_names()
    with pytest.raises(ConfigError, match="no data source 'just-bs'"):
        unregister_source("just-bs")
