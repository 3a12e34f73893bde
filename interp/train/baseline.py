"""The bigram baseline: the loss of predicting each token from the one before it alone.

A transformer that does no better than this has learned nothing a lookup table could not (the reference point of
the char-level GPT write-up).

>>> train = torch.tensor([[0, 1, 0, 1, 0, 1]])
>>> round(bigram_loss(train, train, vocab_size=2, smoothing=0.0), 4)
0.0
"""

import torch
from jaxtyping import Int
from torch import Tensor


def bigram_log_probs(tokens: Int[Tensor, "sequence pos"], vocab_size: int, smoothing: float = 1.0) -> Tensor:
    """log P(next | current) estimated from counts of adjacent pairs, with add-`smoothing` (Laplace) smoothing."""
    current = tokens[:, :-1].reshape(-1)
    following = tokens[:, 1:].reshape(-1)
    counts = torch.bincount(current * vocab_size + following, minlength=vocab_size * vocab_size)
    counts = counts.reshape(vocab_size, vocab_size).double() + smoothing
    totals = counts.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return (counts / totals).log()


def bigram_loss(
    train: Int[Tensor, "sequence pos"],
    val: Int[Tensor, "sequence pos"],
    *,
    vocab_size: int,
    smoothing: float = 1.0,
) -> float:
    """Mean cross-entropy (nats per token) on `val` of the bigram model fitted on `train`.

    Counts only the pairs that occur (sorted pair codes), never a [vocab vocab] table: a GPT-2-sized vocabulary
    would need 2.5e9 entries. Equal to `bigram_log_probs` looked up at the val pairs.
    """
    pairs = (train[:, :-1] * vocab_size + train[:, 1:]).reshape(-1)
    seen, counts = torch.unique(pairs, return_counts=True)  # sorted
    totals = torch.bincount(train[:, :-1].reshape(-1), minlength=vocab_size).double()
    current = val[:, :-1].reshape(-1)
    wanted = current * vocab_size + val[:, 1:].reshape(-1)
    index = torch.searchsorted(seen, wanted).clamp(max=max(len(seen) - 1, 0))
    count = torch.where(seen[index] == wanted, counts[index], 0).double() if len(seen) else torch.zeros(len(wanted)).double()
    probs = (count + smoothing) / (totals[current] + smoothing * vocab_size).clamp_min(1e-12)
    return float(-probs.log().mean()) + 0.0  # + 0.0 turns -0.0 into 0.0


def unigram_loss(
    train: Int[Tensor, "sequence pos"],
    val: Int[Tensor, "sequence pos"],
    *,
    vocab_size: int,
    smoothing: float = 1.0,
) -> float:
    """Mean cross-entropy (nats per token) on `val[:, 1:]` of token frequencies in `train` (add-`smoothing`):
    what a model knows with no context at all. Scored on the same positions as `bigram_loss`.

    >>> round(unigram_loss(torch.tensor([[0, 0, 0, 1]]), torch.tensor([[0, 1]]), vocab_size=2, smoothing=0.0), 4)
    1.3863
    """
    counts = torch.bincount(train.reshape(-1), minlength=vocab_size).double() + smoothing
    log_probs = (counts / counts.sum()).log()
    return float(-log_probs[val[:, 1:]].mean()) + 0.0
