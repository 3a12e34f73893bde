"""The index page of `reports/`: every run report with its headline numbers, and every other page found there.

>>> import tempfile
>>> reports = Path(tempfile.mkdtemp())
>>> (reports / "ioi").mkdir()
>>> _ = (reports / "ioi" / "patching.html").write_text("<html><title>IOI patching</title></html>")
>>> write_index(reports) == reports / "index.html", "ioi/patching.html" in (reports / "index.html").read_text()
(True, True)
"""

from pathlib import Path

from interp.core.io import read_json, write_json
from interp.report.html import Page

SUMMARY_SUFFIX = ".summary.json"


def write_summary(report_path: Path, summary: dict) -> None:
    """The facts the index shows for one run report, next to it."""
    write_json(report_path.with_name(report_path.stem + SUMMARY_SUFFIX), summary, indent=1)


def write_index(reports_dir: Path) -> Path:
    reports_dir = Path(reports_dir)
    page = Page("interp reports", subtitle=str(reports_dir.resolve()))
    runs = []
    for summary_file in sorted(reports_dir.glob(f"*{SUMMARY_SUFFIX}")):
        summary = read_json(summary_file)
        runs.append({"report": summary_file.name.removesuffix(SUMMARY_SUFFIX) + ".html", **summary})
    page.heading("Runs")
    if runs:
        page.table(
            runs,
            columns=["report", "run", "step", "tokens_seen", "phase_change", "best_induction_head", "created"],
            links=["report"],
        )
    else:
        page.text("No run reports yet: run `interp report RUN` or `interp demo`.")
    others = sorted(
        str(p.relative_to(reports_dir)) for p in reports_dir.rglob("*.html") if p.name != "index.html" and p.parent != reports_dir
    )
    page.heading("Other pages")
    page.table([{"page": o} for o in others] or [{"page": "(none)"}], links=["page"] if others else [])
    return page.write(reports_dir / "index.html")
