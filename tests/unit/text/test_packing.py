import time

import datasets
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxtyping import Int
from safetensors import safe_open
from torch import Tensor

import interp.text.packing as packing
from interp.text.corpora import corpus_text, load_corpus
from interp.text.packing import PackedTokens, pack
from interp.text.tokenizers import CharTokenizer, Tokenizer, load_tokenizer

ALPHABET = "\nabcdefghijklmnopqrstuvwxyz "


def _docs(*texts: str, column: str = "text") -> datasets.Dataset:
    return datasets.Dataset.from_dict({column: list(texts)})


def _naive_rows(texts, tokenizer: Tokenizer, n_ctx: int) -> torch.Tensor:
    """The packing rule written the slow, obvious way: the reference for `pack`."""
    stream: list[int] = []
    for i, text in enumerate(texts):
        if i:
            stream += [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else tokenizer.encode("\n\n")
        stream += tokenizer.encode(text)
    n_rows = len(stream) // n_ctx
    return torch.tensor(stream[: n_rows * n_ctx], dtype=torch.long).reshape(n_rows, n_ctx)


def _all_rows(packed: PackedTokens) -> torch.Tensor:
    return torch.cat([packed.train, packed.val])


def test_char_packing_exact():
    tok = CharTokenizer(ALPHABET)
    packed = pack(_docs("abc", "de", "fghij"), tok, n_ctx=4)
    # "abc\n\nde\n\nfghij" is 14 characters: three rows of four, the last two characters dropped.
    assert tok.decode(packed.train.flatten()) == "abc\n\nde\n"
    assert tok.decode(packed.val.flatten()) == "\nfgh"
    assert packed.train.dtype == packed.val.dtype == torch.int64
    assert isinstance(packed.train, Int[Tensor, "sequence pos"])


@pytest.mark.parametrize(("kind", "separator"), [("gpt2", 50256), ("bert", 102)])
def test_subword_packing_matches_naive(kind, separator):
    tok = load_tokenizer(kind)
    texts = ["Hello world, this is the first document.", "A second one: short.", "Third and last — with unicode ☃."]
    packed = pack(_docs(*texts), tok, n_ctx=5, val_fraction=0.3)
    assert torch.equal(_all_rows(packed), _naive_rows(texts, tok, 5))
    assert (packed.train.flatten() == separator).sum() >= 1
    assert packed.train[0, 0] != separator  # separators go between documents, not before the first


@settings(max_examples=50, deadline=None)
@given(
    texts=st.lists(st.text(alphabet=ALPHABET, max_size=40), min_size=1, max_size=6),
    n_ctx=st.integers(1, 16),
    val_fraction=st.floats(0.01, 0.99),
)
def test_char_packing_matches_naive(texts, n_ctx, val_fraction):
    tok = CharTokenizer(ALPHABET)
    expected = _naive_rows(texts, tok, n_ctx)
    if len(expected) < 2:
        with pytest.raises(ValueError, match="needs at least"):
            pack(_docs(*texts), tok, n_ctx=n_ctx, val_fraction=val_fraction)
        return
    packed = pack(_docs(*texts), tok, n_ctx=n_ctx, val_fraction=val_fraction)
    assert torch.equal(_all_rows(packed), expected)
    assert len(packed.train) >= 1 and len(packed.val) >= 1


@pytest.mark.parametrize(("val_fraction", "n_val"), [(0.05, 5), (0.1, 10), (0.001, 1), (0.999, 99)])
def test_val_split_sizes(val_fraction, n_val):
    tok = CharTokenizer(ALPHABET)
    packed = pack(_docs("a" * 1000), tok, n_ctx=10, val_fraction=val_fraction)
    assert (len(packed.train), len(packed.val)) == (100 - n_val, n_val)


def test_val_rows_come_from_the_end():
    tok = CharTokenizer(ALPHABET)
    packed = pack(_docs("a" * 90 + "z" * 10), tok, n_ctx=10, val_fraction=0.1)
    assert tok.decode(packed.val[0]) == "z" * 10
    assert "z" not in tok.decode(packed.train.flatten())


def test_too_small_corpus():
    with pytest.raises(ValueError, match=r"has 7 tokens but packing needs at least 8"):
        pack(_docs("abcdefg"), CharTokenizer(ALPHABET), n_ctx=4)


def test_bad_arguments():
    tok = CharTokenizer(ALPHABET)
    with pytest.raises(ValueError, match="no column 'text'"):
        pack(_docs("abc", column="body"), tok, n_ctx=1)
    with pytest.raises(ValueError, match="val_fraction"):
        pack(_docs("abc"), tok, n_ctx=1, val_fraction=0.0)
    with pytest.raises(ValueError, match="n_ctx"):
        pack(_docs("abc"), tok, n_ctx=0)
    with pytest.raises(ValueError, match="cannot encode"):
        pack(_docs("abc", "def"), CharTokenizer("abcdef"), n_ctx=1)  # no "\n" to separate documents
    assert len(pack(_docs("abc", column="body"), tok, n_ctx=1, text_column="body").train) == 2


def _forbid_tokenizing(monkeypatch, tok: Tokenizer) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("pack tokenized again although the cache should have been used")

    monkeypatch.setattr(tok, "encode", fail)
    monkeypatch.setattr(tok, "encode_batch", fail)


@pytest.mark.parametrize("kind", ["char", "gpt2"])
def test_cache_round_trip(tmp_path, monkeypatch, kind):
    texts = ["the first document\nof the corpus", "and a second, longer document " * 5]
    tok = load_tokenizer(kind, text=ALPHABET + ",")
    first = pack(_docs(*texts), tok, n_ctx=8, cache_dir=tmp_path / "cache")
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].suffix == ".safetensors"
    with safe_open(files[0], framework="pt") as f:
        assert f.get_tensor("train").dtype == torch.int32  # half the disk of int64

    _forbid_tokenizing(monkeypatch, tok)
    # A new Dataset with the same content (different object, maybe a different fingerprint) hits the cache.
    second = pack(_docs(*texts), tok, n_ctx=8, cache_dir=tmp_path / "cache")
    assert torch.equal(first.train, second.train) and torch.equal(first.val, second.val)
    assert second.train.dtype == torch.int64


def test_cache_key_changes_with_inputs(tmp_path):
    tok = CharTokenizer(ALPHABET)
    base = dict(n_ctx=4, cache_dir=tmp_path)
    pack(_docs("abcdefghij"), tok, **base)
    pack(_docs("abcdefghij"), tok, **{**base, "n_ctx": 3})
    pack(_docs("abcdefghij"), tok, **base, val_fraction=0.4)
    pack(_docs("abcdefghik"), tok, **base)
    pack(_docs("abcde", "fghij"), tok, **base)
    pack(_docs("abcdefghij"), CharTokenizer(ALPHABET[::-1]), **base)
    pack(_docs("abcdefghij", column="body"), tok, **base, text_column="body")
    assert len(list(tmp_path.glob("*.safetensors"))) == 7
    assert not list(tmp_path.glob("*.tmp"))


def test_failed_cache_write_leaves_nothing(tmp_path, monkeypatch):
    def broken_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(packing, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        pack(_docs("abcdefghij"), CharTokenizer(ALPHABET), n_ctx=4, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unreadable_cache_file(tmp_path):
    tok = CharTokenizer(ALPHABET)
    pack(_docs("abcdefghij"), tok, n_ctx=4, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"not safetensors")
    with pytest.raises(ValueError, match="delete the file"):
        pack(_docs("abcdefghij"), tok, n_ctx=4, cache_dir=tmp_path)


def test_shakespeare_char_packing(tmp_path):
    plays = load_corpus("shakespeare")
    tok = load_tokenizer("char", text=corpus_text("shakespeare"))
    start = time.perf_counter()
    packed = pack(plays, tok, n_ctx=256, cache_dir=tmp_path)
    seconds = time.perf_counter() - start
    n_chars = len("\n\n".join(plays["text"]))
    assert _all_rows(packed).numel() == n_chars // 256 * 256
    assert len(packed.val) == round(n_chars // 256 * 0.05)
    assert seconds < 5, f"packing ~5 M characters took {seconds:.1f} s; the vectorised path takes ~0.5 s"
    assert tok.decode(packed.train[0]).startswith("A Midsummer Night's Dream\n")
