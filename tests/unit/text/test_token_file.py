"""The token file equals the tokenizer applied to the documents directly, is reused, rebuilt when corrupted, and
its windows are slices of it."""

import json
import warnings

import numpy as np
import pytest
import torch

import interp.text.token_file as token_file_module
from interp.core.errors import DataError
from interp.text.token_file import COUNTS, META, TOKENS, token_file
from interp.text.token_windows import TokenWindows
from interp.text.tokenizers import CharTokenizer, load_tokenizer
from interp.text.user_corpus import open_user_corpus

DOCS = ["Once upon a time there was a corpus.\nIt was small.", "A second file, with ünïcödé.", "Third and last.\n"]
EOS = 50256


@pytest.fixture
def folder(tmp_path):
    for i, doc in enumerate(DOCS):
        (tmp_path / "docs" / f"{i}.txt").parent.mkdir(exist_ok=True)
        (tmp_path / "docs" / f"{i}.txt").write_text(doc)
    return tmp_path / "docs"


def reference_gpt2(docs):
    gpt2 = load_tokenizer("gpt2")
    out = []
    for i, doc in enumerate(docs):
        out += ([EOS] if i else []) + gpt2.encode(doc)
    return out


def test_a_folder_tokenizes_to_each_document_encoded_and_joined_by_eos(folder, tmp_path):
    tokens = token_file(open_user_corpus(str(folder)), load_tokenizer("gpt2"), cache_dir=tmp_path / "cache", progress=False)
    assert tokens.tokens.dtype == np.uint16 and tokens.tokens.tolist() == reference_gpt2(DOCS)
    assert tokens.meta["n_documents"] == 3 and tokens.meta["n_chars"] == sum(map(len, DOCS))
    assert np.array_equal(tokens.counts, np.bincount(reference_gpt2(DOCS), minlength=50257))


def test_worker_processes_write_the_same_file(folder, tmp_path):
    corpus = open_user_corpus(str(folder), piece_bytes=16)  # many pieces (cut inside lines), so both workers get some
    assert len(corpus.rows(tmp_path / "work")) >= 4
    one = token_file(corpus, load_tokenizer("gpt2"), cache_dir=tmp_path / "one", progress=False)
    two = token_file(corpus, load_tokenizer("gpt2"), cache_dir=tmp_path / "two", num_proc=2, progress=False)
    assert one.tokens.tolist() == two.tokens.tolist() and one.meta["sha256"] == two.meta["sha256"]
    assert load_tokenizer("gpt2").decode(two.tokens.tolist()) == "<|endoftext|>".join(DOCS)


def test_a_text_file_in_many_pieces_equals_encoding_it_whole(tmp_path):
    text = "".join(f"Line {i}: the quick brown fox, ünïcödé.\n" for i in range(300))
    (tmp_path / "big.txt").write_text(text)
    corpus = open_user_corpus(str(tmp_path / "big.txt"), piece_bytes=200)
    assert len(corpus.rows(tmp_path / "work")) > 50
    tokens = token_file(corpus, load_tokenizer("gpt2"), cache_dir=None, progress=False)
    assert tokens.tokens.tolist() == load_tokenizer("gpt2").encode(text)
    chars = token_file(corpus, None, cache_dir=None, progress=False)  # char: the corpus's own alphabet, plus "\n"
    assert chars.tokenizer == CharTokenizer.from_text(text) and chars.tokens.tolist() == chars.tokenizer.encode(text)


def test_the_cache_is_reused_and_a_changed_file_is_tokenized_again(folder, tmp_path, monkeypatch):
    cache, gpt2 = tmp_path / "cache", load_tokenizer("gpt2")
    first = token_file(open_user_corpus(str(folder)), gpt2, cache_dir=cache, progress=False)
    written = (first.path / TOKENS).stat().st_mtime_ns
    builds = []
    real_build = token_file_module._build
    monkeypatch.setattr(token_file_module, "_build", lambda *a, **k: builds.append(1) or real_build(*a, **k))
    again = token_file(open_user_corpus(str(folder)), gpt2, cache_dir=cache, progress=False)
    assert builds == [] and again.path == first.path and (again.path / TOKENS).stat().st_mtime_ns == written
    (folder / "2.txt").write_text("Changed.")
    changed = token_file(open_user_corpus(str(folder)), gpt2, cache_dir=cache, progress=False)
    assert builds == [1] and changed.path != first.path and changed.tokens.tolist() == reference_gpt2([*DOCS[:2], "Changed."])
    # a checkpoint's char tokenizer finds the folder built with the alphabet found in the corpus
    chars = token_file(open_user_corpus(str(folder)), None, cache_dir=cache, progress=False)
    assert token_file(open_user_corpus(str(folder)), chars.tokenizer, cache_dir=cache, progress=False).path == chars.path
    assert len(builds) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / TOKENS).write_bytes((d / TOKENS).read_bytes()[:-2]),  # truncated
        lambda d: (d / TOKENS).write_bytes(b"\x00\x00" + (d / TOKENS).read_bytes()[2:]),  # same size, other ids
        lambda d: (d / META).write_text("{ not json"),
        lambda d: (d / COUNTS).unlink(),
    ],
)
def test_a_corrupted_cache_is_rebuilt_never_used(folder, tmp_path, damage):
    cache, gpt2 = tmp_path / "cache", load_tokenizer("gpt2")
    first = token_file(open_user_corpus(str(folder)), gpt2, cache_dir=cache, progress=False)
    damage(first.path)
    with pytest.warns(UserWarning, match="is corrupted .*tokenizing the corpus again"):
        rebuilt = token_file(open_user_corpus(str(folder)), gpt2, cache_dir=cache, progress=False)
    assert rebuilt.tokens.tolist() == reference_gpt2(DOCS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt folder is whole again
        assert token_file(open_user_corpus(str(folder)), gpt2, cache_dir=cache, progress=False).path == first.path
    assert [p.name for p in cache.iterdir()] == [first.path.name]  # no temporary folder left behind


def test_a_corpus_with_no_tokens_writes_nothing(tmp_path):
    (tmp_path / "blank.jsonl").write_text(json.dumps({"text": ""}) + "\n")
    with pytest.raises(DataError, match="holds no text: it tokenizes to no tokens"):
        token_file(
            open_user_corpus(str(tmp_path / "blank.jsonl")), load_tokenizer("gpt2"), cache_dir=tmp_path / "cache", progress=False
        )
    assert list((tmp_path / "cache").iterdir()) == []


def test_training_windows_are_slices_before_the_validation_tail():
    stream = np.random.default_rng(0).integers(0, 1000, size=500).astype(np.uint16)
    windows = TokenWindows.split(stream, n_ctx=16, val_fraction=0.1)
    assert windows.val_start == 450 and windows.n_val_rows == 3
    rows = windows.train_rows(64, torch.Generator().manual_seed(1))
    again = windows.train_rows(64, torch.Generator().manual_seed(1))
    assert torch.equal(rows, again) and rows.dtype == torch.int64
    starts = [next(s for s in range(450 - 16 + 1) if stream[s : s + 16].tolist() == row) for row in rows.tolist()]
    assert len(set(starts)) > 50 and max(starts) + 16 <= 450  # found in the training part, never in the tail
    assert windows.val_rows(torch.arange(3)).flatten().tolist() == stream[450:498].tolist()
    with pytest.raises(DataError, match="has 20 tokens but training needs at least 32"):
        TokenWindows.split(stream[:20], n_ctx=16, val_fraction=0.1)


def test_a_lookup_renumbers_window_ids():
    lookup = np.array([5, 6, 7, 8])
    windows = TokenWindows.split(np.array([0, 1, 2, 3, 0, 1, 2, 3], dtype=np.uint16), n_ctx=2, val_fraction=0.25, lookup=lookup)
    assert windows.rows([1]).tolist() == [[6, 7]]


def test_several_documents_need_an_eos_token_or_a_separator_the_tokenizer_can_encode(folder, tmp_path):
    from tokenizers import Tokenizer as Backend
    from tokenizers import models, pre_tokenizers

    from interp.text.file_tokenizer import FileTokenizer

    words = sorted({w for doc in DOCS for w, _ in pre_tokenizers.Whitespace().pre_tokenize_str(doc)})
    backend = Backend(models.WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()  # "\n\n" encodes to nothing
    backend.save(str(tmp_path / "tok.json"))
    tokenizer = FileTokenizer.from_file(tmp_path / "tok.json")
    with pytest.raises(DataError, match="has no EOS token and cannot encode .* add an EOS special token"):
        token_file(open_user_corpus(str(folder)), tokenizer, cache_dir=tmp_path / "cache", progress=False)
    one = token_file(open_user_corpus(str(folder / "0.txt")), tokenizer, cache_dir=tmp_path / "cache", progress=False)
    assert one.tokens.tolist() == tokenizer.encode(DOCS[0])  # a single document needs no separator


def test_windows_read_from_the_file_equal_slices_of_the_mapping(folder, tmp_path):
    tokens = token_file(open_user_corpus(str(folder)), load_tokenizer("gpt2"), cache_dir=tmp_path / "cache", progress=False)
    mapped = TokenWindows.split(tokens.tokens, n_ctx=4, val_fraction=0.2)
    read = TokenWindows.split(tokens.tokens, n_ctx=4, val_fraction=0.2, file=tokens.path / TOKENS)
    stream = reference_gpt2(DOCS)
    starts = list(range(len(stream) - 4 + 1))
    assert read.rows(starts).tolist() == mapped.rows(starts).tolist() == [stream[s : s + 4] for s in starts]


def test_the_fast_gpt2_encoder_gives_the_backends_ids():
    from interp.text.corpora import corpus_text
    from interp.text.fast_gpt2 import FastGPT2

    gpt2 = load_tokenizer("gpt2")
    texts = [
        corpus_text("shakespeare", max_chars=100_000),
        corpus_text("imdb", max_chars=100_000),
        "Numbers 1234567 and 3.14, ünïcödé 日本語 😀, tabs\t\tand   spaces \n\n\n  <|endoftext|>x<|endoftext|>",
        "",
    ]
    assert [ids.tolist() for ids in FastGPT2().encode_batch(texts)] == [gpt2.encode(t) for t in texts]
