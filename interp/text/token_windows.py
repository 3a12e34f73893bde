"""Training windows of n_ctx tokens drawn from a flat (memory-mapped) token array, and its validation tail.

The last `val_fraction` of the tokens (at least n_ctx) is validation, as `interp.text.packing` holds out the last
rows of the packaged corpora: for a folder of files that is the end of the last files in sorted order. Training
windows start anywhere in the rest (`n_train - n_ctx + 1` starts) and never reach the validation tail; validation
rows are its consecutive non-overlapping windows. Only the windows asked for are read, so memory does not grow with
the corpus. Given the token file's path (`file`), windows are read with `os.pread` rather than through the memory
map: a mapped page fault can map a whole large folio of the page cache (megabytes), so a mapping's resident size
grows with every window read, while preads leave the pages to the kernel's cache.

>>> import numpy as np, torch
>>> windows = TokenWindows.split(np.arange(100, dtype=np.uint16), n_ctx=8, val_fraction=0.2)
>>> windows.val_start, windows.n_val_rows
(80, 2)
>>> windows.rows([0, 5]).tolist()[1]
[5, 6, 7, 8, 9, 10, 11, 12]
>>> windows.val_rows(torch.tensor([1])).tolist()
[[88, 89, 90, 91, 92, 93, 94, 95]]
"""

import os
from dataclasses import dataclass

import numpy as np
import torch
from jaxtyping import Int
from torch import Tensor

from interp.core.errors import DataError


@dataclass(frozen=True)
class TokenWindows:
    """`tokens` (1-D, any integer dtype) split at `val_start`; `lookup` optionally renumbers ids (compact vocab);
    `file`, when given, holds exactly `tokens` (raw, little-endian) and windows are read from it."""

    tokens: np.ndarray
    n_ctx: int
    val_start: int
    lookup: np.ndarray | None = None
    file: str | None = None

    @classmethod
    def split(
        cls, tokens: np.ndarray, *, n_ctx: int, val_fraction: float, lookup: np.ndarray | None = None, file: str | None = None
    ) -> "TokenWindows":
        """Hold out the last `val_fraction` of `tokens` (at least one window); DataError when that leaves no training window."""
        n = len(tokens)
        n_val = max(n_ctx, round(n * val_fraction))
        if n - n_val < n_ctx:
            raise DataError(
                f"the corpus has {n} tokens but training needs at least {n_ctx + n_val} "
                f"(a window of n_ctx={n_ctx} for training and {n_val} held out); use more text or a smaller n_ctx"
            )
        return cls(tokens=tokens, n_ctx=n_ctx, val_start=n - n_val, lookup=lookup, file=None if file is None else str(file))

    @property
    def n_train_starts(self) -> int:
        return self.val_start - self.n_ctx + 1

    @property
    def n_val_rows(self) -> int:
        return (len(self.tokens) - self.val_start) // self.n_ctx

    def rows(self, starts) -> Int[Tensor, "sequence pos"]:
        """The windows tokens[s : s + n_ctx] for each start s (int64)."""
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        if starts.size and (starts.min() < 0 or starts.max() + self.n_ctx > len(self.tokens)):
            raise DataError(f"window starts must be in [0, {len(self.tokens) - self.n_ctx}], got {starts.min()}..{starts.max()}")
        out = np.stack(self._read(starts.tolist())) if starts.size else np.zeros((0, self.n_ctx), dtype=np.int64)
        if self.lookup is not None:
            out = self.lookup[out]
        return torch.from_numpy(out.reshape(len(starts), self.n_ctx))

    def _read(self, starts: list[int]) -> list[np.ndarray]:
        if self.file is None:
            return [np.asarray(self.tokens[s : s + self.n_ctx], dtype=np.int64) for s in starts]
        dtype = self.tokens.dtype
        size = self.n_ctx * dtype.itemsize
        with open(self.file, "rb") as handle:
            return [
                np.frombuffer(os.pread(handle.fileno(), size, s * dtype.itemsize), dtype=dtype).astype(np.int64) for s in starts
            ]

    def train_rows(self, count: int, generator: torch.Generator) -> Int[Tensor, "sequence pos"]:
        """`count` training windows at starts drawn uniformly with `generator` (the same draws give the same rows)."""
        return self.rows(torch.randint(self.n_train_starts, (count,), generator=generator).numpy())

    def val_rows(self, indices: Tensor) -> Int[Tensor, "sequence pos"]:
        """Validation rows by index (0 .. n_val_rows - 1): consecutive windows of the held-out tail."""
        return self.rows(self.val_start + np.asarray(indices, dtype=np.int64) * self.n_ctx)

    def sample(self, max_tokens: int) -> tuple[Int[Tensor, "sequence pos"], Int[Tensor, "sequence pos"]]:
        """(train, val) rows from the start of each part, at most `max_tokens` tokens each: a bounded sample for
        baselines and probes (a bigram table, frequent tokens) that never loads a large corpus."""
        per_part = max(1, max_tokens // self.n_ctx)
        train = self.rows(np.arange(min(per_part, self.val_start // self.n_ctx)) * self.n_ctx)
        val = self.val_rows(torch.arange(min(per_part, self.n_val_rows)))
        return train, val
