"""`interp report RUN` and `interp demo`: the self-contained HTML report, and the whole story in one command."""

from pathlib import Path

import typer

DEMO_RUN = Path("models/runs/demo")


def register(app: typer.Typer) -> None:
    """Add the `report` and `demo` commands to `app`."""

    @app.command()
    def report(
        run: Path = typer.Argument(..., help="Run directory (holds checkpoints/)."),
        checkpoint: int | None = typer.Option(None, "--checkpoint", help="Step analysed in depth (default: the last)."),
        out: Path | None = typer.Option(None, "--out", "-o", help="HTML file to write (default reports/<run-name>.html)."),
        progress: bool = typer.Option(True, help="Show progress bars."),
    ) -> None:
        """Write one HTML report that opens offline: training curves, induction heads forming across checkpoints with the
        phase change, head scores, circuitsvis attention patterns, QK/OV composition, and a head-ablation study.

        Example: interp report models/runs/demo --checkpoint 4000
        """
        from interp.report.build import build_report

        path = build_report(run, step=checkpoint, out=out, progress=progress, log=typer.echo)
        typer.echo(f"report: {path}")

    @app.command()
    def demo(
        out: Path = typer.Option(DEMO_RUN, "--out", "-o", help="Run directory for the demo model."),
        steps: int | None = typer.Option(None, help="Training steps (default: the preset's 6000)."),
        fresh: bool = typer.Option(False, "--fresh", help="Delete an earlier demo run in --out and train again."),
    ) -> None:
        """The whole story on the default model, in about 3 minutes on 2 CPU cores (longer on a busy machine): train attn-only-2l with log-spaced
        checkpoints, track induction heads across them, analyse circuits and ablate heads at the last one, and write
        the report. An earlier complete demo run in --out is reused (pass --fresh to retrain).
        """
        import shutil
        import time

        from interp.core.errors import CheckpointError
        from interp.report.build import build_report
        from interp.train.checkpoints import list_checkpoints
        from interp.train.loop import train as run_training
        from interp.train.presets import run_config

        started = time.perf_counter()
        run = run_config("attn-only-2l", overrides={"train.steps": steps} if steps else {})
        if fresh and out.exists():
            shutil.rmtree(out)
        try:
            done = list_checkpoints(out)[-1].step >= run.train.steps
        except CheckpointError:
            done = False
        if done:
            typer.echo(f"[1/2] reusing the trained demo run in {out} (pass --fresh to train again)")
        else:
            resume = out.exists() and (out / "run.json").exists()
            typer.echo(f"[1/2] training attn-only-2l for {run.train.steps} steps into {out}" + (" (resuming)" if resume else ""))
            typer.echo("      data: 25% character-level Shakespeare, 75% random sequences with one repeated span")
            result = run_training(run, out, resume=resume, cache_dir=Path("models/cache"))
            typer.echo(f"      {len(result.checkpoints)} checkpoints, {result.tokens_per_second:,.0f} tokens/s")
        typer.echo("[2/2] analysing the checkpoints and writing the report")
        path = build_report(out, log=lambda line: typer.echo(f"      {line}"))
        typer.echo(f"done in {time.perf_counter() - started:.0f} s")
        typer.echo(f"report: {path.resolve()}")
