"""Random-token sequences with repeats: the data on which induction heads form and are measured.

Every row gets its own span length and offsets. A repeat at one fixed period lets a layer-0 head copy by
position alone, which looks like induction but is not (DESIGN.md, "Measured on this machine").

>>> g = torch.Generator().manual_seed(0)
>>> spans = repeated_span_batch(batch=4, n_ctx=32, vocab=torch.arange(10), span_min=4, span_max=8, generator=g)
>>> spans.tokens.shape
torch.Size([4, 32])
>>> i, a, b, n = 0, spans.first_start[0], spans.second_start[0], spans.length[0]
>>> torch.equal(spans.tokens[i, a:a + n], spans.tokens[i, b:b + n])
True
"""

from dataclasses import dataclass

import datasets
import torch
from jaxtyping import Int
from torch import Tensor

from interp.core.errors import DataError


@dataclass(frozen=True)
class RepeatedSpans:
    """A batch of random rows, each holding one span and, later in the row, an exact copy of it."""

    tokens: Int[Tensor, "batch pos"]
    first_start: Int[Tensor, " batch"]  # position where the span first appears
    second_start: Int[Tensor, " batch"]  # position where its copy starts
    length: Int[Tensor, " batch"]


def repeated_span_batch(
    *, batch: int, n_ctx: int, vocab: Tensor, span_min: int, span_max: int, generator: torch.Generator
) -> RepeatedSpans:
    """Uniform random filler from `vocab` with one span of length U[span_min, span_max] copied later in the row.

    Both copies lie inside n_ctx and do not overlap; lengths and both offsets vary per row.
    Deterministic given the generator's state.
    """
    vocab = _check_vocab(vocab)
    _check_positive(batch=batch, n_ctx=n_ctx, span_min=span_min)
    if span_max < span_min:
        raise DataError(f"span_max ({span_max}) must be >= span_min ({span_min})")
    if 2 * span_max > n_ctx:
        raise DataError(
            f"two copies of a span of up to {span_max} tokens do not fit in n_ctx={n_ctx}; use span_max <= {n_ctx // 2}"
        )

    length = torch.randint(span_min, span_max + 1, (batch,), generator=generator)
    # The 2*length copied positions leave `slack` filler positions. Two sorted uniform cut points in
    # [0, slack] split the filler into before / between / after, so every valid placement is possible.
    slack = n_ctx - 2 * length
    cuts = (torch.rand(batch, 2, generator=generator) * (slack + 1).unsqueeze(1)).long().clamp(max=slack.unsqueeze(1))
    cuts = cuts.sort(dim=1).values
    first_start = cuts[:, 0]
    second_start = cuts[:, 1] + length

    filler = vocab[torch.randint(len(vocab), (batch, n_ctx), generator=generator)]
    # One gather copies every span at once: positions inside the second copy read from the first copy,
    # which never overlaps it, so the sources are still untouched filler.
    pos = torch.arange(n_ctx).unsqueeze(0)
    in_copy = (pos >= second_start.unsqueeze(1)) & (pos < (second_start + length).unsqueeze(1))
    source = torch.where(in_copy, pos - (second_start - first_start).unsqueeze(1), pos)
    tokens = filler.gather(1, source)
    return RepeatedSpans(tokens=tokens, first_start=first_start, second_start=second_start, length=length)


def repeated_random_tokens(
    *, batch: int, half: int, vocab: Tensor, generator: torch.Generator, bos: int | None = None
) -> Int[Tensor, "batch pos"]:
    """The classic induction test: [bos] + r + r, with r `half` distinct tokens drawn from `vocab` per row.

    >>> g = torch.Generator().manual_seed(0)
    >>> repeated_random_tokens(batch=2, half=3, vocab=torch.arange(5, 10), generator=g, bos=0).shape
    torch.Size([2, 7])
    """
    vocab = _check_vocab(vocab)
    _check_positive(batch=batch, half=half)
    if half > len(vocab):
        raise DataError(f"half={half} distinct tokens cannot be drawn from a vocab of {len(vocab)}; use half <= {len(vocab)}")
    # argsort of uniform noise is a random permutation per row: sampling without replacement, vectorised.
    picks = torch.rand(batch, len(vocab), generator=generator).argsort(dim=1)[:, :half]
    half_tokens = vocab[picks]
    parts = [half_tokens, half_tokens]
    if bos is not None:
        parts.insert(0, torch.full((batch, 1), bos, dtype=half_tokens.dtype))
    return torch.cat(parts, dim=1)


def repeated_tokens_dataset(*, n: int, n_ctx: int, vocab_size: int, span_min: int, span_max: int, seed: int) -> datasets.Dataset:
    """`n` repeated-span rows over tokens 0..vocab_size-1 as a Dataset: column "tokens" plus the span positions.

    >>> ds = repeated_tokens_dataset(n=3, n_ctx=16, vocab_size=8, span_min=2, span_max=4, seed=0)
    >>> ds.column_names, len(ds[0]["tokens"])
    (['tokens', 'first_start', 'second_start', 'length'], 16)
    """
    _check_positive(n=n, vocab_size=vocab_size)
    spans = repeated_span_batch(
        batch=n,
        n_ctx=n_ctx,
        vocab=torch.arange(vocab_size),
        span_min=span_min,
        span_max=span_max,
        generator=torch.Generator().manual_seed(seed),
    )
    return datasets.Dataset.from_dict(
        {
            "tokens": spans.tokens.tolist(),
            "first_start": spans.first_start.tolist(),
            "second_start": spans.second_start.tolist(),
            "length": spans.length.tolist(),
        }
    )


def _check_vocab(vocab: Tensor) -> Tensor:
    if not isinstance(vocab, Tensor) or vocab.ndim != 1 or len(vocab) == 0:
        raise DataError("vocab must be a non-empty 1-D tensor of allowed token ids, e.g. torch.arange(vocab_size)")
    if vocab.dtype.is_floating_point or vocab.dtype == torch.bool:
        raise DataError(f"vocab must hold integer token ids, got dtype {vocab.dtype}")
    return vocab.long()


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise DataError(f"{name} must be a positive integer, got {value}")
