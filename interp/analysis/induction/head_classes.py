"""Label attention heads from their scores: previous-token, induction, duplicate-token, copying, ...

Labels come from thresholds on the scores of `interp.analysis.induction.head_scores` (and optionally the OV copying
score of `interp.analysis.circuits.qk_ov`):

- previous-token:   previous_token >= thresholds.previous_token
- induction:        induction >= thresholds.induction and prefix_matching >= thresholds.prefix_matching
                    (the pattern holds in a copied context and with a one-token prefix at a random place)
- positional-offset: induction >= thresholds.induction but prefix_matching below its threshold: the head
                    attends a fixed distance back, which fakes induction on fixed-period repeats
- prefix-matching:  prefix_matching >= thresholds.prefix_matching without the induction pattern
- duplicate-token:  duplicate_token >= thresholds.duplicate_token
- copying:          copying >= thresholds.copying, or ov_copying >= thresholds.ov_copying when given
- other:            none of the above

>>> head_labels({"previous_token": 0.05, "induction": 0.9, "prefix_matching": 0.85, "duplicate_token": 0.02, "copying": 0.95})
('induction', 'copying')
>>> import torch
>>> from interp.analysis.induction.probes import make_probe
>>> from interp.analysis.induction.series import evaluate_model
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> probe = make_probe(vocab=torch.arange(11), n_ctx=8, batch=4, generator=torch.Generator().manual_seed(0))
>>> evaluation = evaluate_model(model, probe)
>>> rows = classify_heads(evaluation.heads, steps=[0], ov_copying=evaluation.ov_copying)
>>> [(row.layer, row.head) for row in rows]                       # one row per (checkpoint, layer, head)
[(0, 0), (0, 1), (1, 0), (1, 1)]
"""

from collections.abc import Sequence
from dataclasses import dataclass

from jaxtyping import Float
from torch import Tensor

from interp.analysis.induction.head_scores import SCORE_NAMES, HeadScores
from interp.core.errors import InterpError


@dataclass(frozen=True, kw_only=True)
class HeadThresholds:
    """Score thresholds for the labels; attention scores are fractions of attention, copying is in [-1, 1]."""

    previous_token: float = 0.4
    induction: float = 0.4
    prefix_matching: float = 0.3
    duplicate_token: float = 0.3
    copying: float = 0.5
    ov_copying: float = 0.7


@dataclass(frozen=True)
class HeadRow:
    """One head at one checkpoint: its scores and labels."""

    step: int
    layer: int
    head: int
    scores: dict[str, float]
    labels: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"L{self.layer}H{self.head}"


def head_labels(scores: dict[str, float], thresholds: HeadThresholds = HeadThresholds()) -> tuple[str, ...]:
    """The labels of one head from its scores (keys: SCORE_NAMES, optionally "ov_copying")."""
    t = thresholds
    labels = []
    if scores["previous_token"] >= t.previous_token:
        labels.append("previous-token")
    pattern = scores["induction"] >= t.induction
    prefix = scores["prefix_matching"] >= t.prefix_matching
    if pattern and prefix:
        labels.append("induction")
    elif pattern:
        labels.append("positional-offset")
    elif prefix:
        labels.append("prefix-matching")
    if scores["duplicate_token"] >= t.duplicate_token:
        labels.append("duplicate-token")
    ov = scores.get("ov_copying")
    if scores["copying"] >= t.copying or (ov is not None and ov >= t.ov_copying):
        labels.append("copying")
    return tuple(labels) or ("other",)


def classify_heads(
    heads: HeadScores,
    *,
    steps: Sequence[int] | None = None,
    ov_copying: Float[Tensor, "*checkpoint layer head"] | None = None,
    thresholds: HeadThresholds = HeadThresholds(),
) -> list[HeadRow]:
    """A table with one row per (checkpoint, layer, head), in that order.

    `heads` holds [layer head] scores of one model (then `steps` is one step or None, meaning step 0) or
    [checkpoint layer head] scores of a series with one step per checkpoint.
    """
    per_checkpoint = heads.induction.ndim == 3
    if not per_checkpoint:
        heads = HeadScores.stack([heads])
        ov_copying = None if ov_copying is None else ov_copying[None]
    n_checkpoints, n_layers, n_heads = heads.induction.shape
    steps = list(steps) if steps is not None else list(range(n_checkpoints)) if per_checkpoint else [0]
    if len(steps) != n_checkpoints:
        raise InterpError(f"{len(steps)} steps given for {n_checkpoints} checkpoints of scores; pass one step per checkpoint")
    if ov_copying is not None and tuple(ov_copying.shape) != (n_checkpoints, n_layers, n_heads):
        raise InterpError(f"ov_copying has shape {tuple(ov_copying.shape)}, the head scores {(n_checkpoints, n_layers, n_heads)}")
    values = {name: getattr(heads, name).tolist() for name in SCORE_NAMES}
    ov = ov_copying.tolist() if ov_copying is not None else None
    rows = []
    for c, step in enumerate(steps):
        for layer in range(n_layers):
            for head in range(n_heads):
                scores = {name: values[name][c][layer][head] for name in SCORE_NAMES}
                if ov is not None:
                    scores["ov_copying"] = ov[c][layer][head]
                rows.append(
                    HeadRow(step=int(step), layer=layer, head=head, scores=scores, labels=head_labels(scores, thresholds))
                )
    return rows
