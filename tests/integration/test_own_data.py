"""Training on one's own data end to end: every corpus format trains a tiny model on windows of exactly its tokens,
the token cache is reused, a run with its own tokenizer file decodes after the file is deleted, bad input writes
nothing."""

import json
import socket

import datasets
import pytest
import torch
from tokenizers import Tokenizer as Backend
from tokenizers import models, pre_tokenizers, trainers
from typer.testing import CliRunner

import interp
import interp.text.token_file as token_file_module
from interp.cli.app import app
from interp.core.errors import DataError
from interp.text.tokenizers import load_tokenizer, tokenizer_from_dict
from interp.train.checkpoints import resolve_checkpoint
from interp.train.data import TrainingData

EOS = 50256
DOCS = [f"Document {i}: the {'quick brown fox' if i % 2 else 'lazy dog'} jumps over {i} fences.\n" * 4 for i in range(12)]
TINY = {
    "model.n_ctx": 16,
    "data.repeated_fraction": 0.0,
    "train.steps": 3,
    "train.eval_every": 3,
    "train.eval_batches": 1,
    "train.threads": 1,
}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    original = socket.socket.connect

    def refuse(self, address, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise ConnectionError(f"a test tried to reach the network ({address})")
        return original(self, address, *args)

    monkeypatch.setattr(socket.socket, "connect", refuse)


def write_corpus(root, form):
    """DOCS in the given format; returns the data.corpus value."""
    table = datasets.Dataset.from_dict({"body": DOCS})
    if form == "text file":
        (root / "one.txt").write_text(DOCS[0])
        return str(root / "one.txt")
    if form == "folder":
        for i, doc in enumerate(DOCS):
            (root / "docs" / f"{i:02d}.txt").parent.mkdir(exist_ok=True)
            (root / "docs" / f"{i:02d}.txt").write_text(doc)
        return str(root / "docs")
    if form == "save_to_disk":
        table.save_to_disk(str(root / "saved"))
        return str(root / "saved")
    path = root / {"jsonl": "docs.jsonl", "parquet": "docs.parquet", "csv": "docs.csv"}[form]
    {
        "jsonl": lambda: table.to_json(str(path), lines=True),
        "parquet": lambda: table.to_parquet(str(path)),
        "csv": lambda: table.to_csv(str(path), index=False),
    }[form]()
    return str(path)


def reference_stream(docs):
    gpt2, out = load_tokenizer("gpt2"), []
    for i, doc in enumerate(docs):
        out += ([EOS] if i else []) + gpt2.encode(doc)
    return out


def assert_windows_of(rows, stream, stop):
    """Every row is stream[s : s + n_ctx] for some start s whose window ends by `stop`."""
    n = rows.shape[1]
    for row in rows.tolist():
        assert any(stream[s : s + n] == row for s in range(stop - n + 1)), row


@pytest.mark.parametrize("form", ["text file", "folder", "jsonl", "parquet", "csv", "save_to_disk"])
def test_each_corpus_format_trains_on_windows_of_its_tokens(tmp_path, form):
    corpus = write_corpus(tmp_path, form)
    overrides = {
        **TINY,
        "data.corpus": corpus,
        "data.tokenizer": "gpt2",
        "data.text_field": "text" if "file" in form or form == "folder" else "body",
    }
    result = interp.train_run("tiny", tmp_path / "run", overrides=overrides, cache_dir=tmp_path / "cache", progress=False)
    assert [c.step for c in result.checkpoints][-1] == 3
    assert all(torch.isfinite(torch.tensor(list(result.final_metrics.values()))))
    run_file = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_file["run"]["data"]["corpus"] == corpus and "bigram_val_loss" in run_file

    stream = reference_stream(DOCS[:1] if form == "text file" else DOCS)
    data = TrainingData.prepare(result.checkpoints[-1].run, cache_dir=tmp_path / "cache")
    assert data.windows.tokens.tolist() == stream
    assert_windows_of(torch.cat([data.batch(s) for s in range(3)]), stream, data.windows.val_start)
    val_rows = data.val_batches()["val"][0]
    assert val_rows[0].tolist() == stream[data.windows.val_start : data.windows.val_start + 16]


def test_the_token_cache_is_reused_by_a_second_run(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path, "folder")
    overrides = {**TINY, "data.corpus": corpus, "data.tokenizer": "char"}
    interp.train_run("tiny", tmp_path / "a", overrides=overrides, cache_dir=tmp_path / "cache", progress=False)
    monkeypatch.setattr(token_file_module, "_build", lambda *a, **k: pytest.fail("tokenized again"))
    interp.train_run("tiny", tmp_path / "b", overrides=overrides, cache_dir=tmp_path / "cache", progress=False)
    a, b = (json.loads((tmp_path / r / "run.json").read_text())["tokenizer"] for r in "ab")
    assert a == b and a["kind"] == "char" and set(a["alphabet"]) == set("".join(DOCS)) | {"\n"}


def test_a_run_with_its_own_tokenizer_decodes_after_the_file_is_deleted(tmp_path):
    corpus = write_corpus(tmp_path, "folder")
    backend = Backend(models.BPE(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(DOCS, trainers.BpeTrainer(vocab_size=120, special_tokens=["[UNK]", "</s>"]))
    backend.save(str(tmp_path / "tok.json"))
    original = load_tokenizer(f"file:{tmp_path / 'tok.json'}")
    overrides = {**TINY, "data.corpus": corpus, "data.tokenizer": f"file:{tmp_path / 'tok.json'}"}
    result = interp.train_run("tiny", tmp_path / "run", overrides=overrides, cache_dir=tmp_path / "cache", progress=False)
    (tmp_path / "tok.json").unlink()

    ckpt = resolve_checkpoint(tmp_path / "run")
    rebuilt = tokenizer_from_dict(ckpt.tokenizer)
    assert rebuilt == original and ckpt.config.d_vocab == original.vocab_size
    assert rebuilt.eos_token_id == original.encode("</s>")[0]  # documents are joined by it
    data = TrainingData.prepare(result.checkpoints[-1].run, cache_dir=tmp_path / "cache", tokenizer=rebuilt)
    expected = []
    for i, doc in enumerate(DOCS):
        expected += ([rebuilt.eos_token_id] if i else []) + original.encode(doc)
    assert data.windows.tokens.tolist() == expected
    generated = CliRunner().invoke(app, ["generate", str(tmp_path / "run"), "--prompt", "the quick", "--tokens", "5"])
    assert generated.exit_code == 0, generated.output
    assert generated.output.startswith("the quick")


def test_one_command_trains_on_a_text_file_with_a_tokenizer_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my.txt").write_text("".join(DOCS))
    words = sorted({word for doc in DOCS for word, _ in pre_tokenizers.Whitespace().pre_tokenize_str(doc)})
    backend = Backend(models.WordLevel({w: i for i, w in enumerate(["[UNK]", *words])}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.save("tok.json")
    sets = [f"{k}={v}" for k, v in {**TINY, "data.corpus": "my.txt", "data.tokenizer": "file:tok.json"}.items()]
    args = ["train", "--preset", "tiny", "--out", "run", *[a for s in sets for a in ("--set", s)]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["tokenizer"]["kind"] == "file"


def uncovering_tokenizer(tmp_path):
    backend = Backend(models.WordLevel({"[UNK]": 0, "the": 1}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.save(str(tmp_path / "narrow.json"))
    return f"file:{tmp_path / 'narrow.json'}"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: {"data.corpus": str(p / "nope.txt")}, "corpus path .*nope.txt does not exist"),
        (lambda p: {"data.corpus": str(p / "empty")}, "holds no text"),
        (lambda p: {"data.corpus": write_corpus(p, "jsonl")}, "has no column 'text'; its columns are body"),
        (lambda p: {"data.tokenizer": "file:" + str(p / "bad.json")}, "is not a HuggingFace tokenizers JSON"),
        (lambda p: {"data.tokenizer": uncovering_tokenizer(p)}, "does not cover the corpus"),
    ],
)
def test_bad_own_data_is_one_error_line_and_writes_no_run(tmp_path, change, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.json").write_text("[1, 2")
    overrides = {**TINY, "data.corpus": write_corpus(tmp_path, "folder"), **change(tmp_path)}
    with pytest.raises(DataError, match=message) as error:
        interp.train_run("tiny", tmp_path / "run", overrides=overrides, cache_dir=tmp_path / "cache", progress=False)
    assert "\n" not in str(error.value) and not (tmp_path / "run").exists()
    assert not (tmp_path / "cache").exists() or [p.name for p in (tmp_path / "cache").iterdir()] == []


def test_compact_vocab_renumbers_the_ids_a_corpus_file_uses(tmp_path):
    overrides = {**TINY, "data.corpus": write_corpus(tmp_path, "folder"), "data.tokenizer": "gpt2", "data.compact_vocab": True}
    result = interp.train_run("tiny", tmp_path / "run", overrides=overrides, cache_dir=tmp_path / "cache", progress=False)
    data = TrainingData.prepare(result.checkpoints[-1].run, cache_dir=tmp_path / "cache")
    stream = reference_stream(DOCS)
    assert data.tokenizer.vocab_size == len(set(stream)) == result.checkpoints[-1].config.d_vocab
    assert data.tokenizer.to_base(data.windows.rows([0])[0].tolist()) == stream[:16]
    assert_windows_of(torch.tensor([data.tokenizer.to_base(r) for r in data.batch(0).tolist()]), stream, data.windows.val_start)


def test_text_field_is_refused_under_a_packaged_corpus():
    from interp.core.errors import ConfigError
    from interp.train.presets import run_config

    with pytest.raises(ConfigError, match="data.text_field .* names the text column of a corpus file"):
        TrainingData.prepare(run_config("tiny", overrides={"data.corpus": "shakespeare", "data.text_field": "body"}))
