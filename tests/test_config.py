import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interp.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from interp.errors import ConfigError
from interp.presets import list_presets, parse_override, run_config


def test_configs_are_frozen_and_keyword_only():
    cfg = ModelConfig(n_layers=1, d_model=8, n_ctx=4, d_head=2, n_heads=4, d_vocab=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_layers = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        ModelConfig(1, 8, 4, 2, 4)  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(d_model=30), "d_model (30) must equal n_heads * d_head"),
        (dict(n_layers=0), "n_layers must be a positive integer"),
        (dict(act_fn="tanh"), "act_fn must be one of"),
        (dict(normalization_type="BN"), "normalization_type must be one of"),
        (dict(attn_only=True, d_mlp=64), "attention-only model has no MLP"),
        (dict(d_vocab=0), "d_vocab must be > 1"),
        (dict(positional_embedding_type="alibi"), "positional_embedding_type"),
    ],
)
def test_model_config_errors_name_the_field(changes, fragment):
    base = dict(n_layers=1, d_model=32, n_ctx=8, d_head=8, n_heads=4, d_vocab=5)
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        ModelConfig(**{**base, **changes})


@pytest.mark.parametrize(
    "cls, kwargs, fragment",
    [
        (TrainConfig, dict(lr=0), "train.lr"),
        (TrainConfig, dict(warmup_steps=10, steps=5), "warmup_steps"),
        (TrainConfig, dict(schedule="linear"), "schedule"),
        (TrainConfig, dict(n_checkpoints=1), "n_checkpoints"),
        (DataConfig, dict(repeated_fraction=1.5), "repeated_fraction"),
        (DataConfig, dict(span_min=10, span_max=5), "span_min"),
        (DataConfig, dict(tokenizer="sentencepiece"), "tokenizer"),
        (DataConfig, dict(corpus="none", repeated_fraction=0.5), "corpus = 'none'"),
    ],
)
def test_train_and_data_config_errors(cls, kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        cls(**kwargs)


def test_run_config_checks_combinations_and_unknown_fields():
    model = dict(n_layers=1, d_model=32, n_ctx=16, d_head=8, n_heads=4)
    with pytest.raises(ConfigError, match="span_max .* half of model.n_ctx"):
        RunConfig.from_dict({"model": model, "data": {"repeated_fraction": 0.5, "span_max": 10}})
    with pytest.raises(ConfigError, match="unknown field.*model.n_layer\\b"):
        RunConfig.from_dict({"model": {**model, "n_layer": 2}})
    with pytest.raises(ConfigError, match="unknown config section"):
        RunConfig.from_dict({"model": model, "optim": {}})


def test_with_vocab_refuses_a_mismatch():
    cfg = ModelConfig(n_layers=1, d_model=8, n_ctx=4, d_head=2, n_heads=4, d_vocab=50)
    assert cfg.with_vocab(50).d_vocab == 50
    with pytest.raises(ConfigError, match="does not match the tokenizer"):
        cfg.with_vocab(65)


def test_hooked_transformer_dict_round_trip():
    cfg = ModelConfig(n_layers=2, d_model=32, n_ctx=8, d_head=8, n_heads=4, d_vocab=7, d_mlp=64, act_fn="relu")
    data = cfg.to_hooked_transformer_dict()
    assert data["d_mlp"] == 64 and data["d_vocab_out"] == 7
    assert ModelConfig.from_hooked_transformer_dict(data) == cfg


@given(
    n_heads=st.integers(1, 8),
    d_head=st.integers(1, 16),
    n_layers=st.integers(1, 4),
    attn_only=st.booleans(),
)
def test_any_consistent_shape_is_accepted(n_heads, d_head, n_layers, attn_only):
    cfg = ModelConfig(
        n_layers=n_layers, d_model=n_heads * d_head, n_ctx=8, d_head=d_head, n_heads=n_heads, d_vocab=3, attn_only=attn_only
    )
    assert ModelConfig.from_hooked_transformer_dict(cfg.to_hooked_transformer_dict()) == cfg


def test_every_preset_is_valid():
    names = list_presets()
    assert {"attn-only-1l", "attn-only-2l", "attn-only-3l", "2l-mlp", "gpt2-small-ish", "char-gpt"} <= set(names)
    for name in names:
        assert run_config(name).model.n_layers >= 1


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ConfigError, match="unknown preset 'nope'; available: .*attn-only-2l"):
        run_config("nope")


def test_overrides_parse_toml_literals():
    assert parse_override("train.lr=3e-4") == ("train.lr", 3e-4)
    assert parse_override("data.tokenizer=gpt2") == ("data.tokenizer", "gpt2")
    assert parse_override("model.attn_only=false") == ("model.attn_only", False)
    run = run_config("attn-only-2l", overrides=dict([parse_override("model.n_layers=3")]))
    assert run.model.n_layers == 3
    with pytest.raises(ConfigError, match="section.field=value"):
        parse_override("lr")
