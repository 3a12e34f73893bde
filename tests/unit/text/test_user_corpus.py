"""A corpus of one's own: every format reads back the documents written, and every bad input is one DataError line.
A file tokenizer: it round-trips through its dict without the file, and one that loses the text is refused."""

import json
import socket

import datasets
import pytest
from tokenizers import Tokenizer as Backend
from tokenizers import models, pre_tokenizers

from interp.core.errors import DataError
from interp.text.file_tokenizer import FileTokenizer
from interp.text.tokenizers import load_tokenizer, tokenizer_from_dict
from interp.text.user_corpus import batch_texts, looks_like_user_corpus, open_user_corpus

DOCS = ["The first document.\nIt has two lines.", "A second one, über short.", "third"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(self, address, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise ConnectionError(f"a test tried to reach the network ({address})")
        return original(self, address, *args)

    original = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)


def texts_of(corpus, tmp_path):
    rows = corpus.rows(tmp_path / "work")
    return batch_texts(rows[:], corpus)


def write_table(path, docs, column="text"):
    table = datasets.Dataset.from_dict({column: docs, "id": list(range(len(docs)))})
    if path.suffix == ".jsonl":
        table.to_json(str(path), lines=True)
    elif path.suffix == ".csv":
        table.to_csv(str(path), index=False)
    else:
        table.to_parquet(str(path))
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_a_table_file_gives_one_document_per_row(tmp_path, suffix):
    corpus = open_user_corpus(str(write_table(tmp_path / f"docs{suffix}", DOCS)))
    assert corpus.kind == "table" and texts_of(corpus, tmp_path) == DOCS


def test_another_text_field_and_max_documents(tmp_path):
    path = write_table(tmp_path / "docs.jsonl", DOCS, column="body")
    corpus = open_user_corpus(str(path), text_field="body", max_documents=2)
    assert texts_of(corpus, tmp_path) == DOCS[:2]


def test_a_save_to_disk_folder_and_a_dataset_dict(tmp_path):
    datasets.Dataset.from_dict({"text": DOCS}).save_to_disk(str(tmp_path / "saved"))
    assert texts_of(open_user_corpus(str(tmp_path / "saved")), tmp_path) == DOCS
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": DOCS[:1]})})
    splits.save_to_disk(str(tmp_path / "splits"))
    assert texts_of(open_user_corpus(str(tmp_path / "splits")), tmp_path) == DOCS[:1]


def test_a_folder_reads_text_files_recursively_in_sorted_order_skipping_hidden_and_other_files(tmp_path):
    (tmp_path / "corpus" / "b" / ".hidden").mkdir(parents=True)
    (tmp_path / "corpus" / "b" / "2.txt").write_text(DOCS[1])
    (tmp_path / "corpus" / "a.md").write_text(DOCS[0])
    (tmp_path / "corpus" / "c.txt").write_text(DOCS[2])
    (tmp_path / "corpus" / "notes.pdf").write_bytes(b"%PDF")
    (tmp_path / "corpus" / ".secret.txt").write_text("hidden")
    (tmp_path / "corpus" / "b" / ".hidden" / "x.txt").write_text("hidden")
    corpus = open_user_corpus(str(tmp_path / "corpus"))
    assert corpus.kind == "text" and texts_of(corpus, tmp_path) == DOCS
    assert texts_of(open_user_corpus(str(tmp_path / "corpus"), max_documents=2), tmp_path) == DOCS[:2]


def test_a_folder_of_jsonl_shards_is_one_table(tmp_path):
    (tmp_path / "shards").mkdir()
    write_table(tmp_path / "shards" / "00.jsonl", DOCS[:2])
    write_table(tmp_path / "shards" / "01.jsonl", DOCS[2:])
    assert texts_of(open_user_corpus(str(tmp_path / "shards")), tmp_path) == DOCS


def test_a_large_text_file_is_cut_into_pieces_that_join_back_exactly(tmp_path):
    text = "".join(f"line {i} ünïcödé\n" + ("  indented\n\n" if i % 7 == 0 else "") for i in range(400)) + "x" * 300
    (tmp_path / "big.txt").write_text(text)
    corpus = open_user_corpus(str(tmp_path / "big.txt"), piece_bytes=100)
    pieces = texts_of(corpus, tmp_path)
    assert len(pieces) > 50 and "".join(pieces) == text
    rows = corpus.rows(tmp_path / "work")
    assert rows["first"][0] and not any(rows["first"][1:])
    # cuts fall after a line break between two non-space characters wherever the text has one
    lines = [p for p in pieces if "x" not in p]  # the long last line is cut at character boundaries
    assert len(lines) > 40 and all(p[-1] == "\n" and not p[-2].isspace() for p in lines)
    assert all(not p[0].isspace() for p in pieces)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: str(p / "missing.txt"), "corpus path .*missing.txt does not exist"),
        (lambda p: (p / "empty").mkdir() or str(p / "empty"), "holds no text: no \\*.txt or \\*.md file"),
        (lambda p: (p / "e.txt").write_text("") and "" or str(p / "e.txt"), "holds no text: the file is empty"),
    ],
)
def test_a_path_that_does_not_exist_or_holds_no_text_is_refused(tmp_path, make, message):
    with pytest.raises(DataError, match=message) as error:
        open_user_corpus(make(tmp_path))
    assert "\n" not in str(error.value)


def test_a_hub_like_name_without_the_prefix_is_a_path_with_a_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="does not exist.*write hf:owner/name"):
        open_user_corpus("owner/name")


def test_a_missing_text_field_names_the_columns_and_a_non_string_column_is_refused(tmp_path):
    path = write_table(tmp_path / "docs.jsonl", DOCS, column="body")
    with pytest.raises(DataError, match="has no column 'text'; its columns are body, id: set data.text_field"):
        open_user_corpus(str(path)).rows(tmp_path / "work")
    corpus = open_user_corpus(str(path), text_field="id")
    with pytest.raises(DataError, match="holds int values, not only strings"):
        batch_texts(corpus.rows(tmp_path / "work")[:], corpus)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    (tmp_path / "bin.txt").write_bytes(b"abc\xff\xfe")
    corpus = open_user_corpus(str(tmp_path / "bin.txt"))
    with pytest.raises(DataError, match="bin.txt is not UTF-8 text"):
        texts_of(corpus, tmp_path)


def test_a_hub_failure_is_one_data_error_and_nothing_else_reaches_the_network(tmp_path, monkeypatch):
    calls = []

    def offline(name, config=None, **options):
        calls.append((name, config, options.get("split")))
        raise ConnectionError("Couldn't reach the Hugging Face Hub\n(offline)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    corpus = open_user_corpus("hf:owner/name:small")
    with pytest.raises(DataError, match=r"cannot load corpus hf:owner/name:small \(ConnectionError: Couldn't reach") as error:
        corpus.rows(tmp_path / "work")
    assert calls == [("owner/name", "small", "train")] and "\n" not in str(error.value)
    with pytest.raises(DataError, match="hf:NAME"):
        open_user_corpus("hf:")


def test_which_names_mean_a_corpus_of_ones_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mydocs").mkdir()
    assert [looks_like_user_corpus(n) for n in ("wiki", "hf:x", "a/b", "my.txt", "x.parquet", "mydocs", "./x")] == [
        False,
        True,
        True,
        True,
        True,
        True,
        True,
    ]


# ---- file tokenizers -----------------------------------------------------------------------------------------


def word_level(tmp_path, words, *, unk=True, name="tok.json"):
    vocab = {w: i for i, w in enumerate((["[UNK]"] if unk else []) + words)}
    backend = Backend(models.WordLevel(vocab, unk_token="[UNK]" if unk else None))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.save(str(tmp_path / name))
    return tmp_path / name


def test_a_file_tokenizer_round_trips_through_its_dict_after_the_file_is_gone(tmp_path):
    path = word_level(tmp_path, ["hello", "world", "</s>"])
    tokenizer = load_tokenizer(f"file:{path}")
    assert tokenizer.encode("hello world") == [1, 2] and tokenizer.unk_token_id == 0
    saved = json.loads(json.dumps(tokenizer.to_dict()))  # as run.json stores it
    path.unlink()
    rebuilt = tokenizer_from_dict(saved)
    assert rebuilt == tokenizer and rebuilt.encode("world hello") == [2, 1] and rebuilt.decode([1, 2]) == "hello world"


def test_eos_and_bos_come_from_special_tokens(tmp_path):
    backend = Backend(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    backend.add_special_tokens(["<s>", "</s>"])
    backend.save(str(tmp_path / "t.json"))
    tokenizer = FileTokenizer.from_file(tmp_path / "t.json")
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.vocab_size) == (2, 3, 4)


def test_a_tokenizer_file_that_does_not_parse_or_exist_is_one_data_error(tmp_path):
    (tmp_path / "bad.json").write_text('{"model": ')
    for spec, message in [
        (f"file:{tmp_path / 'bad.json'}", "is not a HuggingFace tokenizers JSON"),
        ("file:nope.json", "does not exist"),
    ]:
        with pytest.raises(DataError, match=message) as error:
            load_tokenizer(spec)
        assert "\n" not in str(error.value)


def test_a_tokenizer_that_does_not_cover_the_text_is_refused(tmp_path):
    tokenizer = FileTokenizer.from_file(word_level(tmp_path, ["the", "cat", "sat"]))
    tokenizer.check_covers(["the cat sat", "the cat"])  # covered: whitespace is not counted
    with pytest.raises(DataError, match=r"does not cover the corpus: 75.0% of its characters become the unk token"):
        tokenizer.check_covers(["the dog ran far"])
    # a BPE without the corpus's characters drops them silently: the offsets show what is lost
    bpe = Backend(models.BPE({"a": 0, "b": 1}, [], unk_token=None))
    bpe.save(str(tmp_path / "bpe.json"))
    with pytest.raises(DataError, match="does not cover the corpus: 50.0%"):
        FileTokenizer.from_file(tmp_path / "bpe.json").check_covers(["abxy"])
    # a WordLevel model without an unk token cannot encode an unknown word at all
    strict = FileTokenizer.from_file(word_level(tmp_path, ["the"], unk=False, name="strict.json"))
    with pytest.raises(DataError, match="cannot encode the corpus"):
        strict.check_covers(["the unknown"])
