"""The run report's sections on direct logit attribution and the lenses, from what `interp dla` and `interp lens`
saved beside the run (RUN/dla/, RUN/lenses/); a run without them gets one line saying how to add them.

>>> import tempfile
>>> from pathlib import Path
>>> from interp.report.html import Page
>>> page = Page("run")
>>> add_logit_sections(page, Path(tempfile.mkdtemp()))
>>> "interp dla" in page.render()
True
"""

from pathlib import Path

from interp.analysis.lens.files import run_lenses
from interp.analysis.logit_attribution.files import run_attributions
from interp.report.dla_page import add_dla_section
from interp.report.html import Page
from interp.report.lens_page import add_lens_section


def add_logit_sections(page: Page, run_dir: Path) -> None:
    """Every saved attribution of the run, then its lenses."""
    attributions = run_attributions(run_dir)
    for name, attribution, series, meta in attributions:
        add_dla_section(page, name, attribution, series, meta)
    lenses = run_lenses(run_dir)
    if lenses["metrics"] or lenses["series"] is not None:
        series, meta = lenses["series"] or (None, {})
        add_lens_section(page, lenses["metrics"], series, meta)
    missing = [f"`interp dla {run_dir} --task induction|ioi` (direct logit attribution)"] * (not attributions)
    missing += [f"`interp lens {run_dir}` (logit and tuned lenses)"] * (not (lenses["metrics"] or lenses["series"]))
    if missing:
        page.heading("Logit attribution and lenses")
        page.text(f"Not computed for this run yet: run {' and '.join(missing)}, then make the report again.")
