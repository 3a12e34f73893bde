"""Induction probes and losses: repeated random tokens, loss per position, the in-context-learning score.

A probe is a fixed set of evaluation rows, drawn once and reused for every checkpoint:

- `repeated`: [bos] + r + r, with r `half` distinct tokens drawn without replacement from `vocab` (a pool of
  tokens the model saw often in training). An induction head predicts the second copy; nothing can predict
  the first.
- `spans`: [bos] + random filler (with replacement) holding one span and a later copy of it, with span
  length and both offsets random per row (`interp.text.synthetic.repeated_span_batch`). The copy sits at a
  different distance in every row, so a head that attends a fixed distance back (the layer-0 shortcut in
  DESIGN.md) cannot find it; a head that matches prefixes can, however long the prefix it uses.
- `text`: optional held-out text rows for the in-context-learning score.

>>> probe = make_probe(vocab=torch.arange(65), n_ctx=64, batch=8, generator=torch.Generator().manual_seed(0))
>>> probe.repeated.shape, probe.half
(torch.Size([8, 64]), 32)
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=1, d_model=16, n_ctx=64, d_head=8, n_heads=2, d_vocab=65, attn_only=True))
>>> loss = induction_loss(model, probe)
>>> loss.per_position.shape, abs(loss.repeated_half - loss.first_half) < 0.5   # untrained: the copy is no easier
(torch.Size([63]), True)
"""

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Bool, Float, Int
from torch import Tensor

from interp.core.errors import DataError, InterpError
from interp.text.synthetic import repeated_random_tokens, repeated_span_batch


class InductionError(InterpError, ValueError):
    """An induction analysis was asked of a model it does not apply to."""


def check_every_position(model: torch.nn.Module, analysis: str) -> None:
    """Refuse a model that does not predict and attend from every position: the probes score each query
    position of a sequence, and a PerceiverAR keeps only its last n_latents positions after block 0."""
    from interp.variants.perceiver_ar import PerceiverAR  # the model exists, so its libraries are loaded already

    if isinstance(model, PerceiverAR):
        raise InductionError(
            f"{analysis} needs a model that predicts every position; this PerceiverAR keeps only its last "
            f"n_latents={model.cfg.n_latents} after block 0. Read its attention with "
            "interp.analysis.cache_activations(model, tokens, [Site.pattern(layer)]), or study a standard model"
        )


@dataclass(frozen=True)
class InductionProbe:
    """Fixed evaluation rows for induction scores and losses (see the module docstring)."""

    repeated: Int[Tensor, "batch pos"]
    spans: Int[Tensor, "batch pos"]
    span_first: Int[Tensor, " batch"]  # where the span starts in each `spans` row (BOS counted)
    span_second: Int[Tensor, " batch"]  # where its copy starts
    span_length: Int[Tensor, " batch"]
    half: int
    offset: int  # 1 when rows start with BOS, else 0: where r begins
    vocab: Int[Tensor, " pool"]
    text: Int[Tensor, "row text_pos"] | None = None

    @property
    def second_copy(self) -> slice:
        """Positions of the second copy of r in `repeated`."""
        return slice(self.offset + self.half, self.offset + 2 * self.half)

    @functools.cached_property
    def previous_in_repeated(self) -> Int[Tensor, "batch pos"]:
        """`previous_occurrence(self.repeated)`, computed once per probe."""
        return previous_occurrence(self.repeated)

    @functools.cached_property
    def span_queries(self) -> Bool[Tensor, "batch pos"]:
        """The positions of the copy in each `spans` row."""
        pos = torch.arange(self.spans.shape[1])
        start = self.span_second[:, None]
        return (pos >= start) & (pos < start + self.span_length[:, None])

    @functools.cached_property
    def span_prefix_keys(self) -> Bool[Tensor, "batch query key"]:
        """Keys before the query whose previous token is the query's token (the induction targets)."""
        return prefix_match_keys(self.spans)

    @functools.cached_property
    def span_duplicate_keys(self) -> Bool[Tensor, "batch query key"]:
        """Keys before the query holding the query's token."""
        return duplicate_keys(self.spans)


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


def duplicate_keys(tokens: Int[Tensor, "batch pos"]) -> Bool[Tensor, "batch query key"]:
    """keys[b, q, k]: k < q and tokens[b, k] == tokens[b, q]."""
    n = tokens.shape[1]
    earlier = torch.ones(n, n, dtype=torch.bool).tril(-1)
    return (tokens[:, :, None] == tokens[:, None, :]) & earlier


def prefix_match_keys(tokens: Int[Tensor, "batch pos"]) -> Bool[Tensor, "batch query key"]:
    """keys[b, q, k]: 1 <= k < q and tokens[b, k - 1] == tokens[b, q] (k follows an earlier copy of q's token)."""
    n = tokens.shape[1]
    earlier = torch.ones(n, n, dtype=torch.bool).tril(-1)
    after_copy = torch.zeros(tokens.shape[0], n, n, dtype=torch.bool)
    after_copy[:, :, 1:] = tokens[:, :, None] == tokens[:, None, :-1]
    return after_copy & earlier


def make_probe(
    *,
    vocab: Int[Tensor, " pool"],
    n_ctx: int,
    batch: int,
    generator: torch.Generator,
    bos: int | None = None,
    half: int | None = None,
    span_min: int | None = None,
    span_max: int | None = None,
    text: Int[Tensor, "row text_pos"] | None = None,
) -> InductionProbe:
    """Draw a probe: `batch` rows [bos] r r and `batch` repeated-span rows of the same length.

    `half` defaults to the longest copy that fits in n_ctx and in the pool (tokens are drawn without
    replacement, so the pool must hold at least `half` ids). Span lengths are uniform in [span_min,
    span_max], by default [max(2, half // 4), half].
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
    span_max = half if span_max is None else span_max
    span_min = min(max(2, half // 4), span_max) if span_min is None else span_min
    if not 1 <= span_min <= span_max <= half:
        raise DataError(f"span lengths must satisfy 1 <= span_min <= span_max <= half={half}; got {span_min}..{span_max}")
    repeated = repeated_random_tokens(batch=batch, half=half, vocab=vocab, generator=generator, bos=bos)
    spans = repeated_span_batch(
        batch=batch, n_ctx=2 * half, vocab=vocab, span_min=span_min, span_max=span_max, generator=generator
    )
    rows = spans.tokens if bos is None else torch.cat([torch.full((batch, 1), bos, dtype=spans.tokens.dtype), spans.tokens], 1)
    return InductionProbe(
        repeated=repeated,
        spans=rows,
        span_first=spans.first_start + offset,
        span_second=spans.second_start + offset,
        span_length=spans.length,
        half=half,
        offset=offset,
        vocab=vocab,
        text=text,
    )


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

    per_position: Float[Tensor, " prediction"]
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
    check_every_position(model, "induction_loss")
    return induction_loss_from_logits(model(probe.repeated), probe)


@dataclass(frozen=True)
class ICLPositions:
    """Where the ICL score compares losses: the `window` tokens ending at token `early` and at token `late`."""

    early: int
    late: int
    window: int = 1

    @classmethod
    def default(cls, n_ctx: int) -> "ICLPositions":
        """Olsson et al. compare token 50 with token 500 of 512. Scaled to n_ctx: the last token and about
        n_ctx/8, each averaged over a window of n_ctx/16 tokens (at least 1), because a short context
        gives few tokens per row and single-token losses of a few hundred rows are noisy (~0.1 nat)."""
        window = max(1, n_ctx // 16)
        return cls(early=max(window, n_ctx // 8), late=n_ctx - 1, window=window)

    def check(self, n_tokens: int) -> None:
        if not (
            1 <= self.window
            and self.early - self.window + 1 >= 1
            and self.early < self.late - self.window + 1
            and self.late < n_tokens
        ):
            raise DataError(
                f"ICL positions need 1 <= early-window+1, early < late-window+1 and late < {n_tokens} (the row length); "
                f"got early={self.early}, late={self.late}, window={self.window}"
            )


def icl_score_from_losses(losses: Float[Tensor, "batch prediction"], positions: ICLPositions) -> float:
    """Mean loss at the window ending at token `late` minus the window ending at token `early` (token k's loss
    is `losses[:, k-1]`).

    Negative means the model predicts later tokens better thanks to the context: more negative, more
    in-context learning.
    """
    positions.check(losses.shape[1] + 1)
    w = positions.window
    late = losses[:, positions.late - w : positions.late].mean()
    early = losses[:, positions.early - w : positions.early].mean()
    return float(late - early)


@torch.no_grad()
def icl_score(model: torch.nn.Module, rows: Int[Tensor, "row pos"], positions: ICLPositions | None = None) -> float:
    """In-context-learning score of `model` on held-out text `rows` (default positions: `ICLPositions.default`).

    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=1, d_model=16, n_ctx=32, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> val_rows = torch.randint(11, (8, 32), generator=torch.Generator().manual_seed(0))
    >>> abs(icl_score(model, val_rows)) < 0.5     # an untrained model: later tokens are no easier than early ones
    True
    """
    check_every_position(model, "icl_score")
    positions = positions or ICLPositions.default(rows.shape[1])
    return icl_score_from_losses(token_losses(model(rows), rows), positions)
