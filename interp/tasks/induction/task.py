"""Induction as a `Task`: a random sequence repeated, against the same rows with one copy replaced by fresh tokens.

    clean                  [bos] A B C D E  A B C D E     `half` distinct random tokens, then the same again
    corrupted, second_half [bos] A B C D E  F G H I J     the copy replaced by fresh tokens
    corrupted, first_half  [bos] F G H I J  A B C D E     the original replaced, the copy kept
    corrupted, both        [bos] F G H I J  K L M N O     both replaced by fresh tokens (no repeat at all)

The metric is a logit difference at a position of the second copy: the token that follows it in the clean row
(what an induction head predicts there) minus a token that occurs nowhere in the row. Each corruption leaves
the read token with no earlier occurrence to continue from, so only induction separates the two runs: a model
with an induction head scores high on the clean rows and near 0 on the corrupted ones. "second_half" changes
only what the queries read, "first_half" only what the keys (and values) read; "both" changes both sides, so
edge-level circuits see the query and the key path of induction at once. `read="last"` reads every
row at the last position whose next token is in the row (one layout, so position-wise patching compares like
with like); `read="random"` reads one random position of the copy per row. Rows differ in their tokens only;
all tokens of a row (fresh and wrong ones included) are distinct, drawn from `vocab` without `bos`.

>>> task = induction_task(16, n=4, half=5, seed=0)
>>> task.clean.shape, task.position_labels
(torch.Size([4, 10]), ('A0', 'A1', 'A2', 'A3', 'A4', 'B0', 'B1', 'B2', 'B3', 'B4'))
>>> bool((task.clean[:, :5] == task.clean[:, 5:]).all()), bool((task.corrupted[:, 5:] != task.clean[:, 5:]).all())
(True, True)
>>> task.metric.positions.tolist()
[8, 8, 8, 8]
"""

import torch
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task
from interp.core.errors import DataError

CORRUPTIONS = ("second_half", "first_half", "both")
READS = ("last", "random")


def induction_task(
    vocab: int | Tensor,
    *,
    n: int = 32,
    half: int = 8,
    bos: int | None = None,
    corruption: str = "second_half",
    read: str = "last",
    seed: int = 0,
) -> Task:
    """`n` rows of [bos] + r + r, r `half` distinct tokens of `vocab` (a size, or a 1-D tensor of allowed ids: the
    tokens the model saw often in training), against `corruption` of them; deterministic by `seed`."""
    pool = _pool(vocab, bos)
    if corruption not in CORRUPTIONS:
        raise DataError(f"unknown corruption {corruption!r}; choose one of {', '.join(CORRUPTIONS)}")
    if read not in READS:
        raise DataError(f"unknown read {read!r}; choose one of {', '.join(READS)}")
    if not isinstance(n, int) or n < 1 or not isinstance(half, int) or half < 2:
        raise DataError(f"an induction task needs n >= 1 rows and half >= 2 tokens per copy, got n={n!r}, half={half!r}")
    needed = (3 if corruption == "both" else 2) * half + 1
    if len(pool) < needed:
        raise DataError(
            f"half={half} needs {needed} distinct tokens (the sequence, fresh ones and a wrong answer) but the vocabulary has {len(pool)}"
        )
    generator = torch.Generator().manual_seed(seed)
    # argsort of uniform noise is a random permutation per row: distinct tokens, vectorised
    picks = pool[torch.rand(n, len(pool), generator=generator).argsort(dim=1)[:, :needed]]
    sequence, fresh, wrong = picks[:, :half], picks[:, half : 2 * half], picks[:, 2 * half]
    clean = torch.cat([sequence, sequence], dim=1)
    halves = {"second_half": [sequence, fresh], "first_half": [fresh, sequence], "both": [fresh, picks[:, 2 * half + 1 :]]}
    corrupted = torch.cat(halves[corruption], dim=1)
    labels = tuple(f"A{i}" for i in range(half)) + tuple(f"B{i}" for i in range(half))
    if bos is not None:
        start = torch.full((n, 1), bos, dtype=clean.dtype)
        clean, corrupted, labels = torch.cat([start, clean], dim=1), torch.cat([start, corrupted], dim=1), ("BOS", *labels)
    offset = 0 if bos is None else 1
    # copy position k (0..half-2) holds r[k] and is followed by r[k + 1]
    k = torch.full((n,), half - 2) if read == "last" else torch.randint(half - 1, (n,), generator=generator)
    metric = LogitDiff(correct=sequence[torch.arange(n), k + 1], wrong=wrong, positions=offset + half + k)
    return Task(clean=clean, corrupted=corrupted, metric=metric, position_labels=labels)


def _pool(vocab: int | Tensor, bos: int | None) -> Tensor:
    if isinstance(vocab, int) and not isinstance(vocab, bool):
        pool = torch.arange(vocab)
    elif isinstance(vocab, Tensor) and vocab.ndim == 1 and not (vocab.dtype.is_floating_point or vocab.dtype == torch.bool):
        pool = vocab.long().unique()
    else:
        raise DataError("vocab must be a vocabulary size or a 1-D tensor of allowed token ids")
    return pool if bos is None else pool[pool != bos]
