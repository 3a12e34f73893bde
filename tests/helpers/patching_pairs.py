"""Clean/corrupted token pairs with a logit-difference metric, for the patching tests."""

import torch

from interp.analysis.core.metrics import LogitDiff


def pair(n_rows=5, pos=9, vocab=11, seed=0, changed=(2, 5)):
    """Clean tokens, corrupted tokens (some positions resampled) and a logit-diff metric with mixed read
    positions, one of them before the first corrupted position."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(vocab, (n_rows, pos), generator=g)
    corrupted = clean.clone()
    for p in changed:
        corrupted[:, p] = (clean[:, p] + 1 + torch.randint(vocab - 1, (n_rows,), generator=g)) % vocab
    read = torch.tensor([pos - 1, pos - 2, pos - 3, pos - 1, 1])[:n_rows]
    metric = LogitDiff(
        correct=torch.randint(vocab, (n_rows,), generator=g), wrong=torch.randint(vocab, (n_rows,), generator=g), positions=read
    )
    return clean, corrupted, metric
