"""Induction probes and losses: repeated random tokens, loss per position, the in-context-learning score.

A probe is a fixed set of evaluation rows, drawn once and reused for every checkpoint:

- `repeated`: [bos] + r + r, with r `half` distinct tokens drawn without replacement from `vocab` (a pool of
  tokens the model saw often in training). An induction head predicts the second copy; nothing can predict
  the first.
- `shuffled`: [bos] + r + shuffle(r). Each token of the second part occurred exactly once before, at a
  random place, after a different token. Attending to "the token after my previous occurrence" here needs a
  one-token prefix match; a fixed positional offset cannot do it (the layer-0 shortcut in DESIGN.md).
- `text`: optional held-out text rows for the in-context-learning score.

>>> probe = make_probe(vocab=torch.arange(65), n_ctx=64, batch=8, generator=torch.Generator().manual_seed(0))
>>> probe.repeated.shape, probe.half
(torch.Size([8, 64]), 32)
>>> loss = induction_loss(model, probe)                     # doctest: +SKIP
>>> loss.repeated_half < loss.first_half                    # doctest: +SKIP
True
"""

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from interp.data.synthetic import repeated_random_tokens
from interp.errors import DataError


@dataclass(frozen=True)
class InductionProbe:
    """Fixed evaluation rows for induction scores and losses (see the module docstring)."""

    repeated: Int[Tensor, "batch pos"]
    shuffled: Int[Tensor, "batch pos"]
    half: int
    offset: int  # 1 when rows start with BOS, else 0: where r begins
    vocab: Int[Tensor, "pool"]
    text: Int[Tensor, "row text_pos"] | None = None

    @functools.cached_property
    def previous_in_repeated(self) -> Int[Tensor, "batch pos"]:
        """`previous_occurrence(self.repeated)`, computed once per probe."""
        return previous_occurrence(self.repeated)

    @functools.cached_property
    def previous_in_shuffled(self) -> Int[Tensor, "batch pos"]:
        """`previous_occurrence(self.shuffled)`, computed once per probe."""
        return previous_occurrence(self.shuffled)

    @property
    def second_copy(self) -> slice:
        """Positions of the second copy of r in `repeated` (and of shuffle(r) in `shuffled`)."""
        return slice(self.offset + self.half, self.offset + 2 * self.half)


def previous_occurrence(tokens: Int[Tensor, "batch pos"]) -> Int[Tensor, "batch pos"]:
    """For each position, the latest earlier position holding the same token, or -1 if there is none.

    >>> previous_occurrence(torch.tensor([[5, 6, 5, 5]])).tolist()
    [[-1, -1, 0, 2]]
    """
    n = tokens.shape[1]
    same = tokens[:, :, None] == tokens[:, None, :]
    earlier = torch.ones(n, n, dtype=torch.bool).tril(-1)
    index = torch.arange(n).expand(n, n)
    return torch.where(same & earlier, index, -1).max(-1).values


def make_probe(
    *,
    vocab: Int[Tensor, "pool"],
    n_ctx: int,
    batch: int,
    generator: torch.Generator,
    bos: int | None = None,
    half: int | None = None,
    text: Int[Tensor, "row text_pos"] | None = None,
) -> InductionProbe:
    """Draw a probe: `batch` repeated rows and `batch` shuffled rows over the same random tokens.

    `half` defaults to the longest copy that fits in n_ctx and in the pool (tokens are drawn without
    replacement, so the pool must hold at least `half` ids).
    """
    vocab = torch.as_tensor(vocab).long().unique()
    if vocab.ndim != 1 or len(vocab) < 2:
        raise DataError("the token pool must be a 1-D tensor of at least 2 distinct token ids (e.g. torch.arange(d_vocab))")
    offset = 0 if bos is None else 1
    if half is None:
        half = min((n_ctx - offset) // 2, len(vocab))
    if half < 2 or 2 * half + offset > n_ctx:
        raise DataError(f"half={half} does not fit: need 2 <= half and 2*half{' + 1 (BOS)' if offset else ''} <= n_ctx={n_ctx}")
    if half > len(vocab):
        raise DataError(f"half={half} distinct tokens cannot be drawn from a pool of {len(vocab)}; use half <= {len(vocab)}")
    if text is not None and (text.ndim != 2 or text.shape[1] > n_ctx or text.shape[1] < 2):
        raise DataError(f"text rows must be a [row pos] tensor with 2 <= pos <= n_ctx={n_ctx}, got shape {tuple(text.shape)}")
    repeated = repeated_random_tokens(batch=batch, half=half, vocab=vocab, generator=generator, bos=bos)
    order = torch.rand(batch, half, generator=generator).argsort(dim=1)
    second = slice(offset + half, offset + 2 * half)
    shuffled = repeated.clone()
    shuffled[:, second] = repeated[:, second].gather(1, order)
    return InductionProbe(repeated=repeated, shuffled=shuffled, half=half, offset=offset, vocab=vocab, text=text)


def token_losses(logits: Float[Tensor, "batch pos vocab"], tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch prediction"]:
    """Cross-entropy of each next token: entry k is -log p(tokens[k+1] | tokens[:k+1]) ("the loss at token k+1")."""
    log_probs = F.log_softmax(logits[:, :-1].float(), dim=-1)
    return -log_probs.gather(-1, tokens[:, 1:, None])[..., 0]


@dataclass(frozen=True)
class InductionLoss:
    """Loss on repeated random tokens.

    `first_half`: mean loss on the tokens r[1:] of the first copy (unpredictable: about log(pool) once the
    model knows the pool). `repeated_half`: mean loss on r[1:] of the second copy, which an induction head
    predicts (r[0] of the second copy is left out of both: its predecessor never preceded it before).
    `per_position`: mean over rows of `token_losses`, entry k = loss at token k+1.
    """

    per_position: Float[Tensor, "prediction"]
    first_half: float
    repeated_half: float


def induction_loss_from_logits(logits: Float[Tensor, "batch pos vocab"], probe: InductionProbe) -> InductionLoss:
    """`InductionLoss` from the model's logits on `probe.repeated` (rows beyond the probe's batch are ignored)."""
    losses = token_losses(logits[: len(probe.repeated)], probe.repeated).mean(0)
    o, h = probe.offset, probe.half
    # entry k is the loss at token k+1: tokens o+1..o+h-1 are r[1:], tokens o+h+1..o+2h-1 are the copy's r[1:]
    first = losses[o : o + h - 1].mean()
    repeated = losses[o + h : o + 2 * h - 1].mean()
    return InductionLoss(per_position=losses, first_half=float(first), repeated_half=float(repeated))


@torch.no_grad()
def induction_loss(model: torch.nn.Module, probe: InductionProbe) -> InductionLoss:
    """Loss of `model` on the first and the repeated half of `probe.repeated`, and per position."""
    return induction_loss_from_logits(model(probe.repeated), probe)


def icl_positions(n_ctx: int) -> tuple[int, int]:
    """Default (early, late) tokens for the ICL score: Olsson et al. compare token 50 with token 500 of 512;
    scaled to n_ctx that is about n_ctx/8 (at least token 1) and the last token, n_ctx - 1."""
    return max(1, n_ctx // 8), n_ctx - 1


def icl_score_from_losses(losses: Float[Tensor, "batch prediction"], *, early: int, late: int) -> float:
    """Mean loss at token `late` minus mean loss at token `early` (token k's loss is `losses[:, k-1]`).

    Negative means the model predicts later tokens better thanks to the context: more negative, more
    in-context learning.
    """
    n_tokens = losses.shape[1] + 1
    if not 1 <= early < late < n_tokens:
        raise DataError(f"ICL positions need 1 <= early < late < {n_tokens} (the row length); got early={early}, late={late}")
    return float(losses[:, late - 1].mean() - losses[:, early - 1].mean())


@torch.no_grad()
def icl_score(
    model: torch.nn.Module, rows: Int[Tensor, "row pos"], *, early: int | None = None, late: int | None = None
) -> float:
    """In-context-learning score of `model` on held-out text `rows` (defaults from `icl_positions`).

    >>> icl_score(model, val_rows)          # doctest: +SKIP
    -0.41
    """
    default_early, default_late = icl_positions(rows.shape[1])
    losses = token_losses(model(rows), rows)
    return icl_score_from_losses(losses, early=default_early if early is None else early, late=default_late if late is None else late)
