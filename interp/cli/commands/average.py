"""`interp average RUN`: the mean of a run's last checkpoints, written as a checkpoint directory.

At a constant learning rate single checkpoints scatter around a minimum; their average (interp.train.averaging) is a
steadier model to analyse. The result, RUN/average-last-<pct>pct by default, is an ordinary checkpoint: pass it
to `interp patch`, `interp ablate`, `interp circuits` and the Python API like any other.
"""

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `average` command to `app`."""

    @app.command()
    def average(
        run: Path = typer.Argument(..., help="Run directory (holds checkpoints/)."),
        fraction: float = typer.Option(
            0.2, "--fraction", help="Average the checkpoints of this last fraction of training (0 < f <= 1)."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Checkpoint directory to write (default RUN/average-last-<pct>pct)."
        ),
    ) -> None:
        """Average the weights of a run's last checkpoints into one checkpoint.

        Example: interp average models/runs/ioi-4l-mlp-seed1 --fraction 0.2
        """
        from interp.train.averaging import save_average

        ckpt = save_average(run, fraction, out)
        typer.echo(
            f"averaged {int(ckpt.metrics['averaged_checkpoints'])} checkpoints (steps {int(ckpt.metrics['averaged_from_step'])}-{ckpt.step}) into {ckpt.path}"
        )
