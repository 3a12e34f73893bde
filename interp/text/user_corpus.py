"""A corpus of one's own (`data.corpus`): where its documents are, what identifies them, and reading them in batches.

`data.corpus` may name, besides the packaged corpora:

- a text file (any name; UTF-8): one document;
- a folder: every `*.txt` and `*.md` file under it, recursively, in sorted path order, one document each (hidden
  files and folders skipped); a folder holding no such file but `.jsonl`/`.json`/`.parquet`/`.csv`/`.tsv` files
  of one kind reads them all as one table;
- a JSONL/JSON, Parquet, CSV or TSV file: a table whose `text_field` column (default "text") holds one document
  per row;
- a folder written by `datasets.Dataset.save_to_disk` (its "train" split if it is a `DatasetDict`);
- "hf:NAME" or "hf:NAME:CONFIG": a hub dataset's "train" split through `datasets.load_dataset` — the only form
  that may use the network, so a mistyped path never does.

Paths are relative to the working directory. `max_documents` keeps the first documents (files, or rows).
Nothing here reads a document: `open_user_corpus` checks the path and records its files' identity (path, size,
mtime), which keys the token cache (`interp.text.token_file`); `UserCorpus.rows` gives the `datasets.Dataset` that
`batch_texts` turns into texts. A text file becomes rows of about `piece_bytes` bytes cut after a line break
between two non-space characters, so a large file is tokenized in parallel and never held in memory; GPT-2-style
pre-tokenizers split there anyway, so the tokens equal those of encoding the whole file at once.

>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "b.txt").write_text("second file"), (folder / "a.md").write_text("first\\nfile")
>>> corpus = open_user_corpus(str(folder))
>>> corpus.kind, [Path(f).name for f in corpus.files]
('text', ['a.md', 'b.txt'])
>>> rows = corpus.rows(folder / "work")
>>> batch_texts(rows[:], corpus), rows[:]["first"]
(['first\\nfile', 'second file'], [True, True])
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from interp.core.errors import DataError

HUB_PREFIX = "hf:"
TEXT_SUFFIXES = (".txt", ".md")
# suffix -> (datasets builder, its options)
TABLE_SUFFIXES: dict[str, tuple[str, dict]] = {
    ".jsonl": ("json", {}),
    ".json": ("json", {}),
    ".parquet": ("parquet", {}),
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t"}),
}
PIECE_BYTES = 1 << 20
_SPACE = b" \t\n\r\f\v"
_SAVED_MARKERS = ("state.json", "dataset_dict.json")


def looks_like_user_corpus(name: str) -> bool:
    """Whether `data.corpus = name` means a corpus of one's own rather than a misspelt registered name: "hf:...",
    anything with a path separator or a known suffix, or an existing path."""
    if not isinstance(name, str) or not name:
        return False
    suffixes = TEXT_SUFFIXES + tuple(TABLE_SUFFIXES)
    return (
        name.startswith((HUB_PREFIX, ".", "~"))
        or "/" in name
        or os.sep in name
        or name.lower().endswith(suffixes)
        or Path(name).exists()
    )


@dataclass(frozen=True)
class UserCorpus:
    """Where a corpus's documents are: `kind` is "text" (files), "table" (JSONL/Parquet/CSV files), "saved" (a
    save_to_disk folder) or "hub"; `identity` is what the token cache's key hashes."""

    spec: str
    kind: str
    files: tuple[str, ...]
    identity: dict
    text_field: str = "text"
    max_documents: int | None = None
    piece_bytes: int = PIECE_BYTES
    builder: tuple[str, dict] | None = field(default=None, compare=False)

    def rows(self, work_dir: Path) -> datasets.Dataset:
        """The rows to tokenize. Text: columns path/start/stop/first (byte ranges); tables, saved and hub datasets:
        their own columns, checked to hold `text_field`. `work_dir` takes the arrow copies `datasets` makes."""
        if self.kind == "text":
            return _text_pieces(self.files, self.piece_bytes)
        if self.kind == "table":
            name, options = self.builder
            dataset = _load(
                lambda: datasets.load_dataset(
                    name, data_files=list(self.files), split="train", cache_dir=str(work_dir), **options
                ),
                self.spec,
            )
        elif self.kind == "saved":
            dataset = _load(lambda: datasets.load_from_disk(self.files[0]), self.spec)
            if isinstance(dataset, datasets.DatasetDict):
                if "train" not in dataset:
                    raise DataError(
                        f"{self.spec} is a DatasetDict without a 'train' split (splits: {', '.join(dataset)}); save one split"
                    )
                dataset = dataset["train"]
        else:
            name, _, config = self.spec[len(HUB_PREFIX) :].partition(":")
            dataset = _load(lambda: datasets.load_dataset(name, config or None, split="train"), self.spec)
        return _documents(dataset, self)


def open_user_corpus(
    spec: str, *, text_field: str = "text", max_documents: int | None = None, piece_bytes: int = PIECE_BYTES
) -> UserCorpus:
    """Check that `spec` names a corpus (see the module docstring) and record what identifies it; reads no document.

    >>> open_user_corpus("no/such/file.txt")
    Traceback (most recent call last):
    ...
    interp.core.errors.DataError: corpus path no/such/file.txt does not exist; data.corpus takes a text file, a folder, a JSONL/Parquet/CSV file, a save_to_disk folder or hf:NAME
    """
    common = dict(text_field=text_field, max_documents=max_documents, piece_bytes=piece_bytes)
    if spec.startswith(HUB_PREFIX):
        if not spec[len(HUB_PREFIX) :].partition(":")[0]:
            raise DataError(f"a hub corpus is written hf:NAME or hf:NAME:CONFIG, got {spec!r}")
        return UserCorpus(spec=spec, kind="hub", files=(), identity={"hub": spec}, **common)
    path = Path(spec).expanduser()
    if not path.exists():
        hint = f"; to load the hub dataset write hf:{spec}" if re.fullmatch(r"[\w.-]+/[\w.-]+", spec) else ""
        raise DataError(
            f"corpus path {spec} does not exist; data.corpus takes a text file, a folder, a JSONL/Parquet/CSV file, "
            f"a save_to_disk folder or hf:NAME{hint}"
        )
    if path.is_dir() and any((path / marker).is_file() for marker in _SAVED_MARKERS):
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return UserCorpus(spec=spec, kind="saved", files=(str(path.resolve()),), identity=_identity(files, path), **common)
    if path.is_file():
        builder = TABLE_SUFFIXES.get(path.suffix.lower())
        kind = "text" if builder is None else "table"
        files = [path]
    else:
        files = _visible_files(path, TEXT_SUFFIXES)
        builder, kind = None, "text"
        if not files:
            by_suffix = {s: _visible_files(path, (s,)) for s in TABLE_SUFFIXES}
            found = {s: f for s, f in by_suffix.items() if f}
            if len({TABLE_SUFFIXES[s][0] + repr(TABLE_SUFFIXES[s][1]) for s in found}) > 1:
                raise DataError(f"folder {spec} mixes table formats ({', '.join(sorted(found))}); keep one format per folder")
            if not found:
                raise DataError(
                    f"folder {spec} holds no text: no *.txt or *.md file (nor .jsonl/.parquet/.csv) under it; "
                    "point data.corpus at a folder of text files"
                )
            suffix = next(iter(found))
            files, builder, kind = sorted(f for fs in found.values() for f in fs), TABLE_SUFFIXES[suffix], "table"
    if kind == "text" and max_documents is not None:
        files = files[:max_documents]
    if all(f.stat().st_size == 0 for f in files):
        raise DataError(f"corpus {spec} holds no text: {'its files are' if len(files) > 1 else 'the file is'} empty")
    return UserCorpus(
        spec=spec,
        kind=kind,
        files=tuple(str(f.resolve()) for f in files),
        identity=_identity(files, None),
        builder=builder,
        **common,
    )


def batch_texts(batch: dict, corpus: UserCorpus) -> list[str]:
    """The texts of a batch of `corpus.rows(...)` (a dict of columns): byte ranges read and decoded for text files."""
    if corpus.kind != "text":
        texts = batch[corpus.text_field]
        bad = next((t for t in texts if not isinstance(t, str)), "")
        if bad != "":
            raise DataError(
                f"column {corpus.text_field!r} of {corpus.spec} holds {type(bad).__name__} values, not only strings; "
                "drop or fill them first"
            )
        return texts
    out = []
    for path, start, stop in zip(batch["path"], batch["start"], batch["stop"]):
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(stop - start)
        try:
            out.append(data.decode("utf-8"))
        except UnicodeDecodeError as error:
            raise DataError(
                f"{path} is not UTF-8 text (byte {start + error.start}); convert it or leave it out of the corpus"
            ) from None
    return out


def _documents(dataset: datasets.Dataset, corpus: UserCorpus) -> datasets.Dataset:
    if corpus.text_field not in dataset.column_names:
        raise DataError(
            f"{corpus.spec} has no column {corpus.text_field!r}; its columns are {', '.join(dataset.column_names)}: "
            "set data.text_field to the one holding the text"
        )
    if len(dataset) == 0:
        raise DataError(f"corpus {corpus.spec} holds no text: it has no rows")
    if corpus.max_documents is not None:
        dataset = dataset.select(range(min(corpus.max_documents, len(dataset))))
    return dataset.select_columns([corpus.text_field])


def _load(load, spec: str):
    try:
        return load()
    except DataError:
        raise
    except Exception as error:  # datasets raises many kinds (FileNotFoundError, ConnectionError, ArrowInvalid, ...)
        message = (str(error).strip() or type(error).__name__).splitlines()[0][:200]
        raise DataError(f"cannot load corpus {spec} ({type(error).__name__}: {message})") from None


def _visible_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    found = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if not d.startswith("."))
        found += [Path(directory) / n for n in names if not n.startswith(".") and n.lower().endswith(suffixes)]
    return sorted(found)


def _identity(files: list[Path], root: Path | None) -> dict:
    def entry(path: Path) -> list:
        stat = path.stat()
        name = str(path.relative_to(root)) if root is not None else str(path.resolve())
        return [name, stat.st_size, stat.st_mtime_ns]

    return {"root": None if root is None else str(root.resolve()), "files": [entry(f) for f in files]}


def _text_pieces(files: tuple[str, ...], piece_bytes: int) -> datasets.Dataset:
    columns: dict[str, list] = {"path": [], "start": [], "stop": [], "first": []}
    for path in files:
        for number, (start, stop) in enumerate(_piece_bounds(path, piece_bytes)):
            columns["path"].append(path)
            columns["start"].append(start)
            columns["stop"].append(stop)
            columns["first"].append(number == 0)
    return datasets.Dataset.from_dict(columns)


def _piece_bounds(path: str, piece_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges covering the file, each about `piece_bytes` long, cut after a line break with a non-space byte
    on both sides (else after any line break, else at a UTF-8 character boundary)."""
    size = os.path.getsize(path)
    bounds, start = [], 0
    with open(path, "rb") as handle:
        while start < size:
            stop = min(start + piece_bytes, size)
            if stop < size:
                stop = _cut_after(handle, stop, size, piece_bytes)
            bounds.append((start, stop))
            start = stop
    return bounds or [(0, 0)]


def _cut_after(handle, offset: int, size: int, piece_bytes: int) -> int:
    handle.seek(offset - 1)
    window = handle.read(piece_bytes + 2)  # the byte before `offset` and about one more piece
    for match in re.finditer(rb"\n", window):
        i = match.start()
        if 0 < i < len(window) - 1 and window[i - 1] not in _SPACE and window[i + 1] not in _SPACE:
            return offset - 1 + i + 1
    newline = window.find(b"\n", 1)
    if newline > 0:
        return min(offset - 1 + newline + 1, size)
    for i in range(1, len(window)):  # a very long line: cut before a byte that starts a UTF-8 character
        if window[i] & 0xC0 != 0x80:
            return min(offset - 1 + i, size)
    return size
