"""Report build: time to analyse a run and render its page, and the page's size.

Uses the demo run (models/runs/demo) when it exists, else trains a tiny stand-in run for the timing of the
rendering path. Targets (issue: reports): page <= 5 MB for the demo model, build <= 10 s.

    python benchmarks/bench_report.py [RUN_DIR]

Prints a table and writes benchmarks/results/report.json.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "report.json"
DEMO = Path("models/runs/demo")


def main() -> None:
    torch.set_num_threads(2)
    from interp.analysis.run_analysis import analyse_run
    from interp.report.run_report import render_run_report

    run = Path(sys.argv[1]) if len(sys.argv) > 1 else DEMO
    if not (run / "checkpoints").is_dir():
        sys.exit(f"no run at {run}: run `interp demo` first (or pass a run directory)")
    started = time.perf_counter()
    analysis = analyse_run(run, progress=False, log=lambda line: None)
    analysed = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        path = render_run_report(analysis).write(Path(folder) / "report.html")
        rendered = time.perf_counter()
        size = path.stat().st_size
    rows = {
        "run": str(run),
        "checkpoints": len(analysis.series.steps),
        "analysis_s": analysed - started,
        "render_s": rendered - analysed,
        "build_s": rendered - started,
        "size_mb": size / 1e6,
        "parts_s": analysis.seconds,
    }
    met = rows["build_s"] <= 10 and rows["size_mb"] <= 5
    print(f"report for {run} ({rows['checkpoints']} checkpoints)")
    print(f"  analysis {rows['analysis_s']:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in analysis.seconds.items())})")
    print(f"  rendering {rows['render_s']:.1f} s; total {rows['build_s']:.1f} s (target <= 10 s)")
    print(f"  page {rows['size_mb']:.2f} MB (target <= 5 MB): {'met' if met else 'NOT met'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    headline = f"report built in {rows['build_s']:.1f} s, {rows['size_mb']:.2f} MB (targets <= 10 s, <= 5 MB)"
    RESULTS.write_text(json.dumps({"benchmark": "report", **rows, "met": met, "headline": headline}, indent=1) + "\n")


if __name__ == "__main__":
    main()
