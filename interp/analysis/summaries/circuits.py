"""One checkpoint's circuits in a few numbers: OV copying, Q/K/V composition, and the best induction head's partners.

>>> import torch
>>> from interp.analysis.induction.probes import make_probe
>>> from interp.analysis.induction.series import evaluate_model
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> probe = make_probe(vocab=torch.arange(11), n_ctx=8, batch=4, generator=torch.Generator().manual_seed(0))
>>> summary = summarise_circuits(model, evaluate_model(model, probe), probe)
>>> summary.selected[0], len(summary.k_partners)     # a layer-1 head, ranked against both layer-0 heads
(1, 2)
"""

from dataclasses import dataclass

from jaxtyping import Float
from torch import Tensor

from interp.analysis.circuits import qk_ov as c
from interp.analysis.induction.head_classes import HeadRow, classify_heads
from interp.analysis.induction.probes import InductionProbe
from interp.analysis.induction.series import CheckpointEvaluation


@dataclass(frozen=True)
class CircuitSummary:
    """Weight-based scores of one model, and the head they are read for.

    `selected` is the (layer, head) with the highest induction score among layers >= 1 (layer 0 in a one-layer
    model), unless one was asked for. `k_partners` ranks earlier heads by K-composition into it:
    (source_layer, source_head, score).
    """

    weights: c.CircuitWeights
    ov_copying: Float[Tensor, "layer head"]
    composition: dict[str, Float[Tensor, "source_layer source_head layer head"]]
    random_baseline: float
    selected: tuple[int, int]
    k_partners: list[tuple[int, int, float]]
    rows: list[HeadRow]
    fold_layernorm: bool

    def selected_scores(self) -> dict[str, float]:
        layer, head = self.selected
        return next(r.scores for r in self.rows if (r.layer, r.head) == (layer, head))

    def row(self, layer: int, head: int) -> HeadRow:
        return next(r for r in self.rows if (r.layer, r.head) == (layer, head))


def best_induction_head(evaluation: CheckpointEvaluation) -> tuple[int, int]:
    """The highest induction score outside layer 0 (a layer-0 head cannot do induction; DESIGN pitfalls)."""
    induction = evaluation.heads.induction
    n_layers, n_heads = induction.shape
    first = 1 if n_layers > 1 else 0
    best = int(induction[first:].flatten().argmax())
    return first + best // n_heads, best % n_heads


def summarise_circuits(
    model,
    evaluation: CheckpointEvaluation,
    probe: InductionProbe,
    *,
    step: int = 0,
    head: tuple[int, int] | None = None,
    fold_layernorm: bool = True,
) -> CircuitSummary:
    """OV copying and composition scores of `model`, read for `head` (default: its best induction head)."""
    weights = c.circuit_weights(model, fold_layernorm=fold_layernorm)
    ov = c.ov_copying_scores(weights, vocab=probe.vocab)
    composition = {kind: c.composition_scores(weights, kind) for kind in c.COMPOSITION_KINDS}
    cfg = model.cfg
    baseline = c.random_composition_baseline(d_model=cfg.d_model, d_head=cfg.d_head)
    if head is not None:
        weights.check_head(*head)
    selected = head or best_induction_head(evaluation)
    partners = c.composition_partners(composition["K"], layer=selected[0], head=selected[1]) if selected[0] > 0 else []
    rows = classify_heads(evaluation.heads, steps=[step], ov_copying=ov)
    return CircuitSummary(
        weights=weights,
        ov_copying=ov,
        composition=composition,
        random_baseline=baseline,
        selected=selected,
        k_partners=partners,
        rows=rows,
        fold_layernorm=fold_layernorm,
    )
