"""The offline page of the logit and tuned lenses, and the same section inside the run report.

`add_lens_section(page, metrics, series, meta)` adds an explanation, a table of KL per layer for both lenses,
the per-layer and per-position figures, each head's output through the logit lens, and both lenses across
checkpoints; `lens_page` is a page holding just that section.

>>> import tempfile
>>> from pathlib import Path
>>> import torch
>>> from interp.analysis.lens.metrics import lens_metrics
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11)).eval()
>>> metrics = lens_metrics(model, torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0)))
>>> lens_page([(0, metrics, None, {})], None, {}).write(Path(tempfile.mkdtemp()) / "lens.html").name
'lens.html'
"""

import math
from collections.abc import Sequence
from typing import Any

from interp.analysis.lens.metrics import LensMetrics
from interp.analysis.lens.series import LensSeries
from interp.report import lens_figures as lf
from interp.report.html import Page

EXPLANATION = (
    "Logit lens: the residual stream entering each block read through the model's final normalisation (statistics "
    "recomputed) and unembedding, as if the model stopped there. Tuned lens: the same after one affine translator per "
    "layer (identity-initialised, trained to minimise KL(final ‖ lens) on the run's validation text). Measured on "
    "held-out validation rows: KL divergence to the model's final prediction (0 at the final layer), and the target's "
    "probability and rank (the next token; a task's answer at its read position). Each head's output is read alone "
    "through the logit lens."
)


def kl_rows(logit: LensMetrics, tuned: LensMetrics | None) -> list[dict]:
    """One row per layer: KL to final under each lens (mean ± standard error) and the target's probability."""
    rows = []
    logit_kl, logit_sem = logit.per_layer("kl")
    logit_prob = logit.per_layer("prob")[0]
    tuned_kl, tuned_sem, tuned_prob = (
        (None, None, None) if tuned is None else (*tuned.per_layer("kl"), tuned.per_layer("prob")[0])
    )
    for index, label in enumerate(logit.labels):
        row = {"layer": label, "KL logit lens": f"{float(logit_kl[index]):.3f} ± {float(logit_sem[index]):.3f}"}
        if tuned is not None:
            row["KL tuned lens"] = f"{float(tuned_kl[index]):.3f} ± {float(tuned_sem[index]):.3f}"
        row["p(target) logit lens"] = round(float(logit_prob[index]), 4)
        if tuned is not None:
            row["p(target) tuned lens"] = round(float(tuned_prob[index]), 4)
        rows.append(row)
    return rows


def add_lens_section(
    page: Page,
    metrics: Sequence[tuple[int, LensMetrics, LensMetrics | None, dict[str, Any]]],
    series: LensSeries | None,
    meta: dict[str, Any],
) -> None:
    """The lens figures: the last checkpoint's metrics in depth, and the series (either may be missing)."""
    page.heading("Logit lens and tuned lens")
    page.text(EXPLANATION)
    if metrics:
        step, logit, tuned, info = metrics[-1]
        training = info.get("training") or {}
        seconds = training.get("seconds")
        trained = f"; the tuned lens trained in {seconds:.1f} s on {training.get('rows')} rows" if seconds else ""
        page.text(f"Step {step}, {logit.kl.shape[0]} held-out rows of {info.get('source', 'validation data')}{trained}.")
        page.table(kl_rows(logit, tuned))
        page.figure(
            lf.kl_by_layer(logit, tuned), caption="KL to the final prediction per layer (error bars: standard error over rows)."
        )
        page.figure(lf.by_layer(logit, tuned, name="prob"), caption="The target token's probability per layer.")
        if logit.read_positions is not None:
            page.figure(
                lf.by_layer(logit, tuned, name="prob", at_read=True),
                caption="The task's answer probability at its read position.",
            )
        page.figure(lf.kl_heatmap(logit), caption="Logit lens: KL per layer and position.")
        if tuned is not None:
            page.figure(lf.kl_heatmap(tuned), caption="Tuned lens: KL per layer and position.")
        if logit.head_kl is not None:
            page.figure(lf.head_heatmap(logit, name="prob"), caption="Each head's output alone: the target's probability.")
    if series is not None:
        seconds = [s for s in series.train_seconds.tolist() if not math.isnan(s)]
        note = f"; tuned lenses trained in {min(seconds):.1f}-{max(seconds):.1f} s each" if seconds else ""
        page.figure(lf.kl_series(series), caption=f"Both lenses at {len(series.steps)} checkpoints{note}.")


def lens_page(
    metrics: Sequence[tuple[int, LensMetrics, LensMetrics | None, dict[str, Any]]],
    series: LensSeries | None,
    meta: dict[str, Any],
) -> Page:
    page = Page("Logit lens and tuned lens", subtitle=str(meta.get("run", "")))
    add_lens_section(page, metrics, series, meta)
    return page
