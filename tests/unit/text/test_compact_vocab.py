"""Compact GPT-2/BERT vocabularies (round trips, remapped training rows) and the sparse bigram baseline."""

import pytest
import torch

from interp.core.errors import ConfigError, DataError
from interp.model.config import ModelConfig
from interp.text.compact_tokenizer import compact_packed
from interp.text.config import DataConfig
from interp.text.packing import PackedTokens
from interp.text.tokenizers import CompactTokenizer, load_tokenizer, tokenizer_from_dict
from interp.train.baseline import bigram_log_probs, bigram_loss
from interp.train.config import RunConfig, TrainConfig
from interp.train.data import TrainingData

TEXTS = ["The film was great, and the cast was great too.", "A dull film; the plot made no sense."]


@pytest.mark.parametrize("base", ["gpt2", "bert"])
def test_compact_tokenizer_round_trips_through_its_dict(base):
    tok = CompactTokenizer.from_texts(base, TEXTS, with_special=True)
    full = load_tokenizer(base)
    assert tok.vocab_size == len(set(full.encode(TEXTS[0])) | set(full.encode(TEXTS[1]))) + (1 if base == "gpt2" else 2)
    for text in TEXTS:
        ids = tok.encode(text)
        assert max(ids) < tok.vocab_size
        assert tok.decode(ids) == full.decode(full.encode(text))  # same text as the full tokenizer gives back
        assert tok.token_strings(ids) == full.token_strings(full.encode(text))
    rebuilt = tokenizer_from_dict(tok.to_dict())
    assert rebuilt == tok and rebuilt.encode(TEXTS[1]) == tok.encode(TEXTS[1])
    assert full.token_strings(tok.to_base([tok.eos_token_id])) == full.token_strings([full.eos_token_id])


def test_compact_tokenizer_errors_name_the_missing_tokens():
    tok = CompactTokenizer.from_texts("gpt2", TEXTS)
    with pytest.raises(DataError, match="photos"):
        tok.encode(" photosynthesis")
    with pytest.raises(DataError, match="base must be one of"):
        CompactTokenizer("char", [1])
    with pytest.raises(DataError, match="not a compact tokenizer dict"):
        CompactTokenizer.from_dict({"kind": "bert-compact", "base": "bert"})


def test_ioi_compact_tokenizer_is_the_generic_one_with_base_gpt2():
    from interp.tasks.ioi.vocab import CompactTokenizer as IOICompact

    ioi = IOICompact.from_texts(TEXTS, with_eos=True)
    generic = CompactTokenizer.from_texts("gpt2", TEXTS, with_special=True)
    assert ioi.to_dict() == generic.to_dict() and ioi.gpt2_ids == generic.base_ids
    assert ioi.to_gpt2(ioi.encode(TEXTS[0])) == load_tokenizer("gpt2").encode(TEXTS[0])


def test_compact_packed_rows_decode_to_the_same_text():
    full = load_tokenizer("bert")
    stream = torch.tensor(full.encode(" ".join(TEXTS))[:20])
    packed = PackedTokens(train=stream[:15].reshape(3, 5), val=stream[15:20].reshape(1, 5))
    tok, compact = compact_packed("bert", packed)
    assert tok.vocab_size == len(stream.unique()) + 2  # plus [CLS] and [SEP]
    assert tok.decode(compact.train.flatten()) == full.decode(packed.train.flatten())
    assert int(compact.val.max()) < tok.vocab_size
    again, same = compact_packed("bert", packed, tok)
    assert again is tok and torch.equal(same.train, compact.train)
    with pytest.raises(DataError, match="compact bert tokenizer"):
        compact_packed("bert", packed, full)


def test_training_data_with_a_compact_vocabulary_round_trips_through_the_run_tokenizer():
    run = RunConfig(
        model=ModelConfig(n_layers=1, d_model=16, n_ctx=16, d_head=8, n_heads=2, attn_only=True),
        data=DataConfig(corpus="imdb", tokenizer="gpt2", max_documents=6, compact_vocab=True),
        train=TrainConfig(steps=2, batch_size=4),
    )
    data = TrainingData.prepare(run)
    all_ids = torch.cat([data.packed.train.flatten(), data.packed.val.flatten()])
    assert data.vocab_size == len(all_ids.unique()) < 2000  # EOS separates the documents, so it is among them
    assert data.tokenizer.eos_token_id == data.vocab_size - 1 == int(all_ids.max())  # 50256 is the largest GPT-2 id
    rebuilt = TrainingData.prepare(run, tokenizer=tokenizer_from_dict(data.tokenizer.to_dict()))
    assert torch.equal(rebuilt.packed.train, data.packed.train)
    plain = TrainingData.prepare(
        RunConfig(model=run.model, data=DataConfig(corpus="imdb", tokenizer="gpt2", max_documents=6), train=run.train)
    )
    assert data.tokenizer.decode(data.packed.train[0]) == plain.tokenizer.decode(plain.packed.train[0])


def test_compact_vocab_config_needs_a_subword_tokenizer_and_a_text_corpus():
    with pytest.raises(ConfigError, match="compact_vocab"):
        DataConfig(tokenizer="char", compact_vocab=True)
    with pytest.raises(ConfigError, match="compact_vocab"):
        DataConfig(corpus="none", tokenizer="gpt2", repeated_fraction=1.0, compact_vocab=True)
    with pytest.raises(ConfigError, match="true or false"):
        DataConfig(tokenizer="gpt2", compact_vocab="yes")


@pytest.mark.parametrize("smoothing", [1.0, 0.5])
def test_sparse_bigram_loss_equals_the_dense_table(smoothing):
    generator = torch.Generator().manual_seed(0)
    train = torch.randint(0, 9, (20, 12), generator=generator)
    val = torch.randint(0, 9, (5, 12), generator=generator)
    val[0, :2] = torch.tensor([9, 10])  # ids never seen in training: their rows are pure smoothing
    dense = bigram_log_probs(train, 11, smoothing)
    expected = float(-dense[val[:, :-1], val[:, 1:]].mean())
    assert bigram_loss(train, val, vocab_size=11, smoothing=smoothing) == pytest.approx(expected, rel=1e-12)


def test_sparse_bigram_loss_handles_a_gpt2_sized_vocabulary_quickly():
    rows = torch.tensor([[50256, 262, 995, 50256, 262, 995]])
    # "the" follows EOS twice in training, "world" follows "the" twice: each prediction has (2 + 1) / (2 + 50257)
    expected = -torch.log(torch.tensor(3.0 / 50259, dtype=torch.float64)).item()
    assert bigram_loss(rows, rows[:, :3], vocab_size=50257) == pytest.approx(expected)
