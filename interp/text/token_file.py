"""A corpus tokenized once into a memory-mapped token file (as nanoGPT's train.bin), cached beside the packed rows.

`token_file(corpus, tokenizer, cache_dir=...)` tokenizes a `UserCorpus` with `datasets.Dataset.map` (batched, in
`num_proc` worker processes, with a progress bar) and writes one flat array of token ids — uint16 when the
vocabulary fits, else uint32 — with the documents joined by the tokenizer's EOS token (no EOS: the text "\\n\\n"),
as `interp.text.packing` joins the packaged corpora. The folder `tokens-<kind>-<key>` holds:

    tokens.bin    the ids, little-endian, nothing else
    counts.bin    how often each id occurs (int64 per vocabulary entry)
    meta.json     format, key, dtype, n_tokens, n_documents, n_chars, vocab_size, sha256 of both files, alphabet (char)

The key hashes the corpus's identity (its files' paths, sizes and mtimes, or the hub name), `text_field`,
`max_documents`, and the tokenizer (a file tokenizer by its JSON, not its path), so a changed file is tokenized
again and an unchanged one never. The folder is written under a temporary name and renamed when complete; on
opening, sizes and checksums are verified and a corrupted folder is rebuilt (with a warning), never trained on.
Without `cache_dir` the file is built in a temporary folder that is deleted once mapped.

`tokenizer=None` means a char tokenizer over the corpus's own characters (plus "\\n"), found by a first pass.

>>> import tempfile
>>> from pathlib import Path
>>> from interp.text.tokenizers import load_tokenizer
>>> from interp.text.user_corpus import open_user_corpus
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "a.txt").write_text("hello world"), (folder / "b.txt").write_text(" again")
>>> tokens = token_file(open_user_corpus(str(folder)), load_tokenizer("gpt2"), cache_dir=folder / "cache", progress=False)
>>> tokens.tokens.tolist(), tokens.meta["n_documents"]
([31373, 995, 50256, 757], 2)
"""

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow.compute

from interp.core.errors import DataError
from interp.core.io import atomic_directory, commit_directory, write_json
from interp.text.fast_gpt2 import FastGPT2
from interp.text.tokenizers import CharTokenizer, GPT2Tokenizer, Tokenizer, tokenizer_from_dict
from interp.text.user_corpus import UserCorpus, batch_texts

FORMAT = 1  # bump when the layout or the joining rule changes, so old folders stop matching
TOKENS, COUNTS, META = "tokens.bin", "counts.bin", "meta.json"
_CORPUS_ALPHABET = "<the corpus's characters>"
_HASH_CHUNK = 1 << 24


@dataclass(frozen=True)
class TokenFile:
    """An opened token folder: `tokens` is a read-only memory map (1-D), `counts` the per-id occurrences."""

    path: Path | None
    tokens: np.ndarray
    counts: np.ndarray
    meta: dict

    @property
    def tokenizer(self) -> Tokenizer | None:
        """The char tokenizer whose alphabet was found in the corpus (None for other tokenizers: the caller's)."""
        alphabet = self.meta.get("alphabet")
        return None if alphabet is None else CharTokenizer(alphabet)


def token_file(
    corpus: UserCorpus,
    tokenizer: Tokenizer | None,
    *,
    cache_dir: Path | None,
    num_proc: int | None = None,
    progress: bool = True,
) -> TokenFile:
    """The corpus's token file: opened from `cache_dir` when a valid one exists, else tokenized and written there.

    `num_proc` worker processes tokenize (default: the CPU count, at most 8, one for a small corpus)."""
    keys = [cache_key(corpus, tokenizer)]
    if isinstance(tokenizer, CharTokenizer):  # a checkpoint's char tokenizer: the one found in the corpus, probably
        keys.append(cache_key(corpus, None))
    if cache_dir is not None:
        for key in keys:
            folder = _folder(cache_dir, tokenizer, key)
            if folder.is_dir():
                try:
                    found = open_token_file(folder, key=key)
                except _Corrupt as reason:
                    warnings.warn(f"token cache {folder} is corrupted ({reason}); tokenizing the corpus again", stacklevel=2)
                    continue
                if tokenizer is None or found.tokenizer is None or found.tokenizer == tokenizer:
                    return found
    final = _folder(Path(cache_dir), tokenizer, keys[0]) if cache_dir is not None else None
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tokenize-", dir=cache_dir)) if cache_dir is not None else Path(tempfile.mkdtemp())
    try:
        out = atomic_directory(final) if final is not None else scratch / "tokens"
        out.mkdir(exist_ok=True)
        try:
            _build(corpus, tokenizer, out, key=keys[0], work=scratch / "work", num_proc=num_proc, progress=progress)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise
        if final is None:
            opened = open_token_file(out, key=keys[0])  # mapped: the data stays readable after the folder is deleted
            return TokenFile(path=None, tokens=opened.tokens, counts=opened.counts, meta=opened.meta)
        commit_directory(out, final)
        return open_token_file(final, key=keys[0])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def cache_key(corpus: UserCorpus, tokenizer: Tokenizer | None) -> str:
    """What a token folder is for: the corpus's identity and options, and the tokenizer."""
    description = tokenizer.to_dict() if tokenizer is not None else {"kind": "char", "alphabet": _CORPUS_ALPHABET}
    description = {k: v for k, v in description.items() if k != "source"}  # a moved tokenizer file is the same one
    content = {
        "format": FORMAT,
        "kind": corpus.kind,
        "identity": corpus.identity,
        "text_field": corpus.text_field,
        "max_documents": corpus.max_documents,
        "piece_bytes": corpus.piece_bytes,
        "tokenizer": description,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode("utf-8")).hexdigest()


def open_token_file(folder: Path, *, key: str | None = None) -> TokenFile:
    """Open a token folder after checking it is whole: meta.json readable, sizes and sha256 checksums right."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        dtype = np.dtype(meta["dtype"])
        n_tokens, vocab_size = int(meta["n_tokens"]), int(meta["vocab_size"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise _Corrupt(f"{META} unreadable: {type(error).__name__}") from None
    if meta.get("format") != FORMAT or (key is not None and meta.get("key") != key):
        raise _Corrupt(f"{META} describes another format or corpus")
    for name, size, digest in ((TOKENS, n_tokens * dtype.itemsize, "sha256"), (COUNTS, vocab_size * 8, "counts_sha256")):
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            raise _Corrupt(f"{name} is missing or has the wrong size")
        if _sha256(path) != meta.get(digest):
            raise _Corrupt(f"{name} does not match its checksum")
    tokens = np.memmap(folder / TOKENS, dtype=dtype, mode="r", shape=(n_tokens,)) if n_tokens else np.zeros(0, dtype)
    counts = np.fromfile(folder / COUNTS, dtype="<i8")
    return TokenFile(path=folder, tokens=tokens, counts=counts, meta=meta)


class _Corrupt(Exception):
    """A token folder that must not be used (it is rebuilt)."""


def _folder(cache_dir: Path, tokenizer: Tokenizer | None, key: str) -> Path:
    kind = "char" if tokenizer is None else tokenizer.kind
    return Path(cache_dir) / f"tokens-{kind}-{key[:24]}"


def _build(corpus: UserCorpus, tokenizer: Tokenizer | None, out: Path, *, key: str, work: Path, num_proc, progress) -> None:
    rows = corpus.rows(work)
    enabled = datasets.utils.logging.is_progress_bar_enabled()
    if not progress:
        datasets.disable_progress_bars()
    try:
        if tokenizer is None:
            tokenizer = CharTokenizer("".join(sorted(set(_alphabet(rows, corpus, work, num_proc)) | {"\n"})))
        if hasattr(tokenizer, "check_covers"):  # a file tokenizer: refuse one that loses the corpus's text
            tokenizer.check_covers(_sample_texts(rows, corpus))
        mapped = _tokenize(rows, corpus, tokenizer, work, num_proc)
    finally:
        if enabled and not progress:
            datasets.enable_progress_bars()
    dtype = np.dtype("<u2") if tokenizer.vocab_size <= 2**16 else np.dtype("<u4")
    counts = np.zeros(tokenizer.vocab_size, dtype=np.int64)
    digest, n_tokens = hashlib.sha256(), 0
    with open(out / TOKENS, "wb") as handle:  # plain writes, not a writable memory map: no page of it stays resident
        for table in mapped.with_format("arrow").iter(batch_size=64):
            ids = table.column("ids").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            if ids.size and (ids.min() < 0 or ids.max() >= tokenizer.vocab_size):
                raise DataError(
                    f"the tokenizer produced ids outside [0, {tokenizer.vocab_size}); it is not a consistent tokenizer"
                )
            counts += np.bincount(ids, minlength=tokenizer.vocab_size)
            data = ids.astype(dtype).tobytes()
            digest.update(data)
            handle.write(data)
            n_tokens += ids.size
    if n_tokens == 0:
        raise DataError(f"corpus {corpus.spec} holds no text: it tokenizes to no tokens")
    counts_bytes = counts.astype("<i8").tobytes()
    (out / COUNTS).write_bytes(counts_bytes)
    meta = {
        "format": FORMAT,
        "key": key,
        "corpus": corpus.spec,
        "dtype": dtype.str,
        "n_tokens": n_tokens,
        "n_documents": int(sum(rows["first"])) if corpus.kind == "text" else len(rows),
        "n_chars": int(pyarrow.compute.sum(mapped.data.column("n_chars")).as_py()),
        "vocab_size": tokenizer.vocab_size,
        "tokenizer_kind": tokenizer.kind,
        "alphabet": tokenizer.alphabet if isinstance(tokenizer, CharTokenizer) else None,
        "sha256": digest.hexdigest(),
        "counts_sha256": hashlib.sha256(counts_bytes).hexdigest(),
    }
    write_json(out / META, meta)


def _workers(num_proc: int | None, n_batches: int) -> int | None:
    wanted = num_proc if num_proc is not None else min(os.cpu_count() or 1, 8, n_batches // 4 or 1)
    return wanted if wanted > 1 else None


def _batch_size(corpus: UserCorpus) -> int:
    return 4 if corpus.kind == "text" else 256  # about 4 MB of text per batch from files; rows are documents


def _sample_texts(rows: datasets.Dataset, corpus: UserCorpus, max_chars: int = 200_000) -> list[str]:
    """The first documents, up to `max_chars` characters: what the coverage check of a file tokenizer reads."""
    texts, total = [], 0
    for text in batch_texts(rows[: 1 if corpus.kind == "text" else 1000], corpus):
        texts.append(text[: max_chars - total])
        total += len(texts[-1])
        if total >= max_chars:
            break
    return texts


def _tokenize(rows: datasets.Dataset, corpus: UserCorpus, tokenizer: Tokenizer, work: Path, num_proc) -> datasets.Dataset:
    size = _batch_size(corpus)
    several = len(corpus.files) > 1 if corpus.kind == "text" else len(rows) > 1
    separator = _separator(tokenizer) if several else []  # one document needs none
    return rows.map(
        _encode_rows,
        batched=True,
        batch_size=size,
        with_indices=True,
        remove_columns=rows.column_names,
        fn_kwargs={"corpus": corpus, "tokenizer": tokenizer.to_dict(), "separator": separator},
        features=datasets.Features({"ids": datasets.Sequence(datasets.Value("int32")), "n_chars": datasets.Value("int64")}),
        num_proc=_workers(num_proc, -(-len(rows) // size)),
        writer_batch_size=2 * size,  # bounded memory: a few batches of ids before they go to disk
        cache_file_name=str(work / "ids.arrow"),
        load_from_cache_file=False,
        new_fingerprint=hashlib.sha256(f"ids {cache_key(corpus, tokenizer)}".encode()).hexdigest()[:32],
        desc=f"tokenize {Path(corpus.spec).name or corpus.spec}",
    )


def _encode_rows(batch: dict, indices: list[int], *, corpus: UserCorpus, tokenizer: dict, separator: list[int]) -> dict:
    texts = batch_texts(batch, corpus)
    firsts = batch["first"] if corpus.kind == "text" else [True] * len(texts)
    encoded = _worker_tokenizer(json.dumps(tokenizer, sort_keys=True)).encode_batch(texts)
    ids = []
    for index, first, row in zip(indices, firsts, encoded):
        ids.append(np.concatenate([separator, row]).astype(np.int32) if first and index > 0 else row.astype(np.int32))
    return {"ids": ids, "n_chars": [len(t) for t in texts]}


_TOKENIZERS: dict[str, Tokenizer | FastGPT2] = {}


def _worker_tokenizer(description: str) -> Tokenizer | FastGPT2:
    # Each worker process rebuilds the tokenizer once from its dict (tokenizer objects are not sent to workers);
    # GPT-2 goes through tiktoken (`interp.text.fast_gpt2`): the same ids, many times faster.
    if description not in _TOKENIZERS:
        _TOKENIZERS.clear()
        tokenizer = tokenizer_from_dict(json.loads(description))
        _TOKENIZERS[description] = FastGPT2() if isinstance(tokenizer, GPT2Tokenizer) else tokenizer
    return _TOKENIZERS[description]


def _alphabet(rows: datasets.Dataset, corpus: UserCorpus, work: Path, num_proc) -> str:
    size = _batch_size(corpus)
    found = rows.map(
        _characters,
        batched=True,
        batch_size=size,
        remove_columns=rows.column_names,
        fn_kwargs={"corpus": corpus},
        num_proc=_workers(num_proc, -(-len(rows) // size)),
        cache_file_name=str(work / "alphabet.arrow"),
        load_from_cache_file=False,
        new_fingerprint=hashlib.sha256(f"alphabet {cache_key(corpus, None)}".encode()).hexdigest()[:32],
        desc="characters",
    )
    return "".join(set().union(*(set(chars) for chars in found["chars"])))


def _characters(batch: dict, *, corpus: UserCorpus) -> dict:
    return {"chars": ["".join(set().union(*(set(t) for t in batch_texts(batch, corpus))))]}


def _separator(tokenizer: Tokenizer) -> list[int]:
    if tokenizer.eos_token_id is not None:
        return [tokenizer.eos_token_id]
    try:
        ids = tokenizer.encode("\n\n")
    except (ValueError, DataError):
        ids = []
    if not ids:
        raise DataError(
            f"the tokenizer {tokenizer!r} has no EOS token and cannot encode '\\n\\n' to separate documents; "
            "add an EOS special token to it (e.g. '</s>' or '<|endoftext|>')"
        )
    return ids


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:  # chunked reads, not a mapping: checking a large file costs no memory
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
