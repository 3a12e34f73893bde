"""The offline page of a direct logit attribution, and the same section inside the run report.

`add_dla_section(page, name, attribution, series, meta)` adds an explanation, the decomposition check, the
per-component bars, the per-head heatmap, the by-source split and each head across checkpoints;
`dla_page` is a page holding just that section.

>>> import tempfile
>>> import torch
>>> from pathlib import Path
>>> from interp.analysis.logit_attribution.decompose import direct_logit_attribution
>>> from interp.analysis.logit_attribution.directions import token_direction
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11)).eval()
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> result = direct_logit_attribution(model, tokens, token_direction(3, torch.full((4,), 7)))
>>> dla_page("token 3", result, None, {"step": 0}).write(Path(tempfile.mkdtemp()) / "dla.html").name
'dla.html'
"""

from typing import Any

from interp.analysis.logit_attribution.result import LogitAttribution
from interp.analysis.logit_attribution.series import AttributionSeries
from interp.report import dla_figures as df
from interp.report.html import Page

EXPLANATION = (
    "Direct logit attribution: the logit direction (answer minus distractor, or one token) pulled back through the "
    "unembedding and the final normalisation, whose per-token scale is frozen at the value of the cached run, and dotted "
    "with each component's output. A head's output is z @ W_O; its split by source position is attention weight times "
    "the value's z @ W_O. The parts (embeddings, attention and MLP outputs) plus the final norm's bias and the "
    "unembedding bias add up to the model's own logit difference. Means over the task's rows; error bars and ± are "
    "standard errors of the mean."
)


def add_dla_section(
    page: Page, name: str, attribution: LogitAttribution | None, series: AttributionSeries | None, meta: dict[str, Any]
) -> None:
    """The figures of one saved attribution (either part may be missing)."""
    page.heading(f"Direct logit attribution: {name}")
    page.text(EXPLANATION)
    if attribution is not None:
        value, value_sem = attribution.mean_sem("logit_value")
        page.text(
            f"Step {meta.get('step', '?')}, {attribution.n_rows} rows, direction {attribution.direction}: model value "
            f"{float(value):.3f} ± {float(value_sem):.3f}; the parts sum to it within {attribution.error:.2e} (largest "
            "error over rows)."
        )
        page.figure(df.component_bars(attribution), caption="Each component's mean attribution; grey: biases.")
        page.figure(df.head_heatmap(attribution), caption="Each head's mean attribution (hover: standard error).")
        page.figure(
            df.source_heatmap(attribution),
            caption="The strongest heads' attribution at the read position, split by the position each attends to.",
        )
        page.table(
            [{"head": h, "mean": round(m, 4), "sem": round(s, 4)} for h, m, s in attribution.top_heads(8)],
            columns=["head", "mean", "sem"],
        )
    if series is not None:
        worst = float(series.max_error.max()) if len(series.steps) else float("nan")
        page.figure(
            df.head_curves(series),
            caption=f"Each head across {len(series.steps)} checkpoints (error bars: standard error over rows); "
            f"largest decomposition error over every checkpoint and row {worst:.2e}.",
        )
        page.figure(df.component_curves(series), caption="Each layer component across checkpoints.")


def dla_page(name: str, attribution: LogitAttribution | None, series: AttributionSeries | None, meta: dict[str, Any]) -> Page:
    page = Page(f"Direct logit attribution: {name}", subtitle=str(meta.get("run", "")))
    add_dla_section(page, name, attribution, series, meta)
    return page


__all__ = ["add_dla_section", "dla_page"]
