"""Analyse a run and write its report page, its summary and the reports index.

>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> run_dir = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).run_dir   # 10 steps, 1 s
>>> reports = Path(tempfile.mkdtemp())
>>> build_report(run_dir, reports_dir=reports, progress=False, log=lambda line: None).name
'run.html'
>>> sorted(path.name for path in reports.iterdir())
['index.html', 'run.html', 'run.summary.json']
"""

import datetime
import time
from collections.abc import Callable
from pathlib import Path

from interp.report.index import write_index, write_summary

REPORTS_DIR = Path("reports")


def build_report(
    run_dir: Path,
    *,
    step: int | None = None,
    reports_dir: Path = REPORTS_DIR,
    out: Path | None = None,
    circuit: bool = True,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> Path:
    """Write `reports_dir/<run-name>.html` (or `out`) for `run_dir` at `step` (default: its last checkpoint); with
    `circuit`, the report includes the induction circuit across training."""
    from interp.analysis.run_analysis import analyse_run
    from interp.report.run_report import render_run_report
    from interp.tasks.for_run import task_for_run
    from interp.train.checkpoints import resolve_checkpoint

    run_dir = Path(run_dir)
    task = task_for_run("induction", resolve_checkpoint(run_dir, step), n=32) if circuit else None
    analysis = analyse_run(run_dir, step=step, circuit_task=task, progress=progress, log=log)
    started = time.perf_counter()
    page = render_run_report(analysis)
    path = page.write(out or Path(reports_dir) / f"{run_dir.name}.html")
    layer, head = analysis.circuits.selected
    scores = analysis.circuits.selected_scores()
    write_summary(
        path,
        {
            "run": str(run_dir),
            "step": analysis.checkpoint.step,
            "tokens_seen": analysis.checkpoint.tokens_seen,
            "phase_change": analysis.phase.message,
            "best_induction_head": f"L{layer}H{head}: induction {scores['induction']:.2f}, OV copying {scores['ov_copying']:.2f}",
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
        },
    )
    write_index(path.parent)
    log(f"report built in {time.perf_counter() - started:.1f} s ({path.stat().st_size / 1e6:.1f} MB)")
    return path
