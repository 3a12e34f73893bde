"""The offline page of a run's dictionary features across training, and the same section inside the run report.

`add_sae_section(page, entries, timelines, phase)` adds a table of the run's dictionaries with their evaluation
figures and, for each feature timeline, the presence, appearance, sharpening and token-feature figures;
`write_timeline_page` writes a page holding one timeline.

>>> import tempfile
>>> from pathlib import Path
>>> from interp.analysis.sae.dictionary import SparseDictionary
>>> from interp.analysis.sae.feature_timeline import feature_timeline
>>> timeline = feature_timeline([(0, SparseDictionary(d_in=8, n_features=4, kind="relu")), (10, SparseDictionary(d_in=8, n_features=4, kind="relu"))])
>>> write_timeline_page(Path(tempfile.mkdtemp()) / "t.html", timeline).name
't.html'
"""

from collections.abc import Sequence
from pathlib import Path

from interp.analysis.induction.phase import PhaseChange
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.feature_timeline import FeatureTimeline
from interp.analysis.sae.run_dictionaries import DictionaryEntry
from interp.report import sae_timeline_figures as stf
from interp.report.html import Page


def explanation(timeline: FeatureTimeline) -> str:
    return (
        f"A dictionary was trained at each of {len(timeline.steps)} checkpoints; neighbouring dictionaries' features are "
        "matched one to one by decoder cosine similarity (an optimal assignment). A feature of the last dictionary is "
        f"followed back while each link's cosine stays at least {timeline.threshold}; it appears at the first checkpoint "
        "of that unbroken chain. Sharpening: the cosine between a feature's direction at each step and its final one."
    )


def add_timeline(page: Page, timeline: FeatureTimeline, *, phase: PhaseChange | None = None, title: str = "") -> None:
    """The figures of one feature timeline."""
    if title:
        page.heading(title)
    page.text(explanation(timeline))
    page.figure(
        stf.presence_figure(timeline, phase=phase),
        caption="Share of the last dictionary's features already present at each step, and the mean matched cosine between neighbours.",
    )
    page.figure(stf.appearance_histogram(timeline, phase=phase), caption="When the last dictionary's features appear.")
    page.figure(
        stf.sharpening_figure(timeline, phase=phase),
        caption="Decoder cosine to the final direction for the features with the most history.",
    )
    if timeline.has_token_scores:
        page.figure(
            stf.token_feature_counts(timeline, phase=phase),
            caption="Features whose activation is explained by the previous token (what a K-composing induction head reads) or by the current token.",
        )


def add_sae_section(
    page: Page,
    entries: Sequence[DictionaryEntry],
    timelines: Sequence[tuple[str, FeatureTimeline]],
    *,
    phase: PhaseChange | None = None,
) -> None:
    """The run report's section on sparse dictionaries: their figures, and their features across training."""
    page.heading("Sparse dictionaries")
    page.text(
        "Dictionaries trained on this run's activations (interp sae train). Explained variance and L0 on held-out text; "
        "CE loss recovered: (CE with the site zero-ablated − CE with the dictionary spliced in) / (CE zero-ablated − CE clean)."
    )
    page.table([entry.row() for entry in entries])
    for name, timeline in timelines:
        add_timeline(page, timeline, phase=phase, title=f"Features of {name} across training")


def write_timeline_page(
    path: Path,
    timeline: FeatureTimeline,
    *,
    config: SAEConfig | None = None,
    phase: PhaseChange | None = None,
    run: Path | None = None,
) -> Path:
    what = f"{config.site} ({config.kind}, {config.n_features} features)" if config else "a dictionary"
    page = Page(f"Features of {what} across training", subtitle=f"{run or ''}")
    add_timeline(page, timeline, phase=phase)
    return page.write(Path(path))


__all__ = ["add_sae_section", "add_timeline", "write_timeline_page"]
