"""`interp induction RUN`: induction scores, losses and the phase change over every checkpoint of a run.

Writes induction.json (per-step tables, the phase change, the head table) and induction.html (plotly,
opens offline) to `reports/induction/<run-name>/` unless --out says otherwise.
"""

from pathlib import Path

import typer

from interp.cli.common import CACHE_DIR, head_row_dict, run_label

DEFAULT_OUT = Path("reports/induction")


def register(app: typer.Typer) -> None:
    """Add the `induction` command to `app`."""

    @app.command()
    def induction(
        run: Path = typer.Argument(..., help="Run directory (holds checkpoints/)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="Output directory (default reports/induction/<run-name>/)."),
        batch: int = typer.Option(32, help="Rows of r+r (and of repeated-span) random tokens in the probe."),
        seed: int = typer.Option(0, help="Seed for drawing the probe tokens."),
        min_rise: float = typer.Option(
            0.25, help="Smallest rise of the best layer>=1 induction score that counts as a phase change."
        ),
    ) -> None:
        """Induction scores per head, induction loss and ICL score for every checkpoint, and the phase change.

        Example: interp induction models/runs/demo
        """
        import math
        import time

        from interp.analysis.induction.head_classes import classify_heads
        from interp.analysis.induction.series import evaluate_series, probe_for_run
        from interp.core.io import json_ready, write_json
        from interp.report import induction_figures as figures
        from interp.report.figures_page import write_figures_page
        from interp.train.checkpoints import list_checkpoints

        checkpoints = list_checkpoints(run)
        out_dir = out or DEFAULT_OUT / run_label(run)
        probe = probe_for_run(checkpoints[-1], batch=batch, seed=seed, cache_dir=CACHE_DIR)
        started = time.perf_counter()
        series = evaluate_series(checkpoints, probe)
        seconds = (time.perf_counter() - started) / len(checkpoints)
        phase = series.phase_change(min_rise=min_rise)
        rows = classify_heads(series.heads, steps=series.steps, ov_copying=series.ov_copying)
        last = [r for r in rows if r.step == series.steps[-1]]
        later = [r for r in last if r.layer >= 1] or last
        top = sorted(later, key=lambda r: -r.scores["induction"])[:3]

        out_dir.mkdir(parents=True, exist_ok=True)
        probe_info = {
            "pool_size": len(probe.vocab),
            "half": probe.half,
            "bos": probe.offset == 1,
            "rows": len(probe.repeated),
            "text_rows": 0 if probe.text is None else len(probe.text),
            "seed": seed,
        }
        report = {
            "run": str(run),
            "probe": probe_info,
            "seconds_per_checkpoint": seconds,
            "phase_change": phase.to_json_dict(),
            "series": series.to_json_dict(),
            "heads": [
                {"step": r.step, "layer": r.layer, "head": r.head, "scores": r.scores, "labels": list(r.labels)} for r in rows
            ],
        }
        write_json(out_dir / "induction.json", json_ready(report), indent=1, allow_nan=False)
        lines = [
            f"Run {run}: {len(checkpoints)} checkpoints, steps {series.steps[0]}-{series.steps[-1]}.",
            f"Probe: {probe_info['rows']} rows of r+r and of random repeated spans, half={probe.half}, pool of {probe_info['pool_size']} tokens; "
            f"{probe_info['text_rows']} held-out text rows for the ICL score.",
            phase.message,
        ]
        write_figures_page(
            out_dir / "induction.html",
            f"Induction: {run_label(run)}",
            lines,
            [
                figures.head_score_curves(series, "induction", phase=phase),
                figures.score_panels(series, phase=phase),
                figures.loss_curves(series, phase=phase),
                figures.per_position_loss(series),
                figures.head_score_heatmaps(series.heads.at(-1), title=f"head scores at step {series.steps[-1]}"),
            ],
            tables=[(f"heads at step {series.steps[-1]}", [head_row_dict(r) for r in last])],
        )
        typer.echo(phase.message)
        if phase.detected:
            icl = "" if math.isnan(phase.icl_before) else f"; ICL score {phase.icl_before:.3f} -> {phase.icl_after:.3f}"
            typer.echo(f"  repeated-half loss {phase.induction_loss_before:.3f} -> {phase.induction_loss_after:.3f}{icl}")
        typer.echo(f"top induction heads at step {series.steps[-1]}:")
        for r in top:
            s = r.scores
            typer.echo(
                f"  {r.name}: induction {s['induction']:.3f}  prefix-matching {s['prefix_matching']:.3f}  "
                f"copying {s['copying']:.3f}  OV copying {s['ov_copying']:.3f}  [{', '.join(r.labels)}]"
            )
        typer.echo(f"{seconds:.2f} s per checkpoint; wrote {out_dir / 'induction.json'} and {out_dir / 'induction.html'}")
