"""Tokenize a text corpus once and cut it into fixed-length rows for training, with an optional disk cache.

Documents are joined into one stream, separated by the tokenizer's EOS token (char tokenizers: the text
"\\n\\n"), and the stream is cut into non-overlapping rows of n_ctx tokens. The last rows are validation, so
train and val never share text except across the one row boundary.

>>> from interp.text.corpora import load_corpus
>>> from interp.text.tokenizers import load_tokenizer
>>> plays = load_corpus("shakespeare", max_documents=1)
>>> packed = pack(plays, load_tokenizer("char", text=plays[0]["text"]), n_ctx=256)
>>> packed.train.shape[1], packed.val.shape[0] >= 1
(256, True)
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import torch
from jaxtyping import Int
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from interp.core.errors import DataError
from interp.core.io import atomic_file
from interp.text.tokenizers import Tokenizer

_CACHE_FORMAT = 1  # bump when the packing rule changes, so old cache files stop matching
_BATCH_DOCUMENTS = 1000  # documents per tokenizer call: bounded memory, still fast batch encoding


@dataclass(frozen=True)
class PackedTokens:
    """Token rows of length n_ctx: `train` first, then the held-out `val` rows from the end of the stream."""

    train: Int[Tensor, "sequence pos"]
    val: Int[Tensor, "sequence pos"]


def pack(
    dataset: datasets.Dataset,
    tokenizer: Tokenizer,
    *,
    n_ctx: int,
    val_fraction: float = 0.05,
    cache_dir: Path | None = None,
    text_column: str = "text",
) -> PackedTokens:
    """Tokenize `dataset[text_column]`, cut into n_ctx rows, hold out the last `val_fraction` (at least one row).

    With `cache_dir`, the result is stored as safetensors keyed by the content, tokenizer and settings, and a
    later call with the same inputs loads it instead of tokenizing again.
    """
    if n_ctx < 1:
        raise DataError(f"n_ctx must be a positive integer, got {n_ctx}")
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    if text_column not in dataset.column_names:
        raise DataError(f"dataset has no column {text_column!r} (columns: {dataset.column_names}); pass text_column=")

    path = None
    if cache_dir is not None:
        key = _cache_key(dataset, tokenizer, n_ctx=n_ctx, val_fraction=val_fraction, text_column=text_column)
        path = Path(cache_dir) / f"packed-{tokenizer.kind}-ctx{n_ctx}-{key[:24]}.safetensors"
        if path.is_file():
            return _load(path)

    stream = _token_stream(dataset, tokenizer, text_column)
    n_rows = len(stream) // n_ctx
    if n_rows < 2:
        raise DataError(
            f"the corpus has {len(stream)} tokens but packing needs at least {2 * n_ctx} "
            f"(2 rows of n_ctx={n_ctx}: one train, one val); use more documents or a smaller n_ctx"
        )
    # Keep at least one training row too, whatever val_fraction says.
    n_val = min(max(1, round(n_rows * val_fraction)), n_rows - 1)
    rows = torch.from_numpy(stream[: n_rows * n_ctx].reshape(n_rows, n_ctx))
    packed = PackedTokens(train=rows[: n_rows - n_val].clone(), val=rows[n_rows - n_val :].clone())
    if path is not None:
        _save(path, packed, vocab_size=tokenizer.vocab_size)
    return packed


def _token_stream(dataset: datasets.Dataset, tokenizer: Tokenizer, text_column: str) -> np.ndarray:
    separator = _separator(tokenizer)
    pieces: list[np.ndarray] = []
    for batch in dataset.iter(batch_size=_BATCH_DOCUMENTS):
        texts = batch[text_column]
        if any(not isinstance(t, str) for t in texts):
            raise DataError(f"column {text_column!r} must hold strings only; drop or fill missing documents first")
        for ids in tokenizer.encode_batch(texts):
            if pieces:
                pieces.append(separator)
            pieces.append(ids)
    return np.concatenate(pieces).astype(np.int64) if pieces else np.zeros(0, dtype=np.int64)


def _separator(tokenizer: Tokenizer) -> np.ndarray:
    if tokenizer.eos_token_id is not None:
        return np.array([tokenizer.eos_token_id], dtype=np.int64)
    try:
        return np.asarray(tokenizer.encode("\n\n"), dtype=np.int64)
    except ValueError:
        raise DataError(
            "this tokenizer has no EOS token and cannot encode '\\n\\n' to separate documents; "
            "build the char alphabet from text that contains newlines (e.g. corpus_text(name))"
        ) from None


def _cache_key(dataset: datasets.Dataset, tokenizer: Tokenizer, **settings) -> str:
    # Hash the texts themselves rather than dataset._fingerprint: a fingerprint can be random for
    # datasets built in memory, which would make the cache miss in every new process.
    content = hashlib.sha256()
    for batch in dataset.iter(batch_size=_BATCH_DOCUMENTS):
        for text in batch[settings["text_column"]]:
            data = str(text).encode("utf-8")
            content.update(len(data).to_bytes(8, "little"))  # length prefix: ["ab","c"] != ["a","bc"]
            content.update(data)
    description = {
        "format": _CACHE_FORMAT,
        "content": content.hexdigest(),
        "tokenizer": tokenizer.to_dict(),
        **settings,
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode("utf-8")).hexdigest()


def _save(path: Path, packed: PackedTokens, *, vocab_size: int) -> None:
    # int32 halves the file; every vocabulary here is far below 2**31.
    dtype = torch.int32 if vocab_size < 2**31 else torch.int64
    tensors = {"train": packed.train.to(dtype).contiguous(), "val": packed.val.to(dtype).contiguous()}
    with atomic_file(path) as tmp:  # readers (another process sharing the cache) never see half a file
        save_file(tensors, str(tmp))


def _load(path: Path) -> PackedTokens:
    try:
        tensors = load_file(path)
    except (SafetensorError, OSError) as e:
        raise DataError(f"cannot read packed-token cache {path} ({e}); delete the file and run again") from None
    if set(tensors) != {"train", "val"}:
        raise DataError(f"packed-token cache {path} lacks train/val tensors; delete the file and run again")
    return PackedTokens(train=tensors["train"].long(), val=tensors["val"].long())
