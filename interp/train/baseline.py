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
    """Mean cross-entropy (nats per token) on `val` of the bigram model fitted on `train`."""
    log_probs = bigram_log_probs(train, vocab_size, smoothing)
    return float(-log_probs[val[:, :-1], val[:, 1:]].mean())
