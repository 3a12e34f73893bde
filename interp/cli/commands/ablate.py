"""`interp ablate RUN`: ablate every head (or pair of heads, or layer) of a checkpoint and rank them.

Writes results.csv, results.json and heatmap.html (plotly inlined: opens offline) to
`reports/ablation/<run-name>-step<STEP>/` unless --out says otherwise, and prints the top ablations.
"""

from enum import Enum
from pathlib import Path

import typer

from interp.cli.common import MethodChoice, run_label

DEFAULT_OUT = Path("reports/ablation")


class OverChoice(str, Enum):
    heads = "heads"
    layers = "layers"
    pairs = "pairs"


def format_top(rows: list[dict], metric: str) -> list[str]:
    """Lines like '  L1H2   loss 3.1234  effect +0.8123' for the terminal."""
    return [f"  {row['name']:<12s} {metric} {row['value']:.4f}  effect {row['effect']:+.4f}" for row in rows]


def register(app: typer.Typer) -> None:
    """Add the `ablate` command to `app`."""

    @app.command()
    def ablate(
        run: Path = typer.Argument(..., help="Run directory (holds checkpoints/) or a checkpoint directory."),
        checkpoint: int | None = typer.Option(None, "--checkpoint", help="Step to load (default: the last)."),
        method: MethodChoice = typer.Option(MethodChoice.mean, "--method", help="What an ablated activation becomes."),
        over: OverChoice = typer.Option(
            OverChoice.heads, "--over", help="Ablate every head, every pair of heads, or every layer's attention/MLP."
        ),
        metric: str = typer.Option("loss", "--metric", help="Metric to compare with the clean run (loss: mean next-token loss)."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Output directory (default reports/ablation/<run-name>-step<STEP>/)."
        ),
        tokens: int = typer.Option(64, "--tokens", "-n", help="Number of evaluation rows."),
        tokens_file: Path | None = typer.Option(
            None, "--tokens-file", help="Token rows (.npy or .safetensors) instead of the run's validation data."
        ),
        split: str = typer.Option("all", "--split", help="Validation set of the run to use (e.g. val, val_repeated) or all."),
        batch_size: int = typer.Option(32, "--batch-size", help="Rows per forward pass (ablations are stacked on top)."),
        seed: int = typer.Option(0, help="Seed for resampling (and for synthetic rows)."),
        top: int = typer.Option(5, "--top", help="How many ablations to print."),
    ) -> None:
        """Ablate every head (or pair, or layer) of a checkpoint and report the change in the metric.

        Example: interp ablate models/runs/demo --checkpoint 6000 --method mean --over heads
        """
        import time

        from interp.analysis.ablation.files import save_ablation
        from interp.analysis.ablation.study import ablation_study
        from interp.analysis.core.eval_tokens import evaluation_tokens
        from interp.core.io import write_text
        from interp.report.ablation_figures import ablation_heatmap
        from interp.train.checkpoints import load_model, resolve_checkpoint

        ckpt = resolve_checkpoint(run, checkpoint)
        rows, source = evaluation_tokens(ckpt, n_rows=tokens, tokens_file=tokens_file, split=split, seed=seed)
        model = load_model(ckpt)
        started = time.perf_counter()
        result = ablation_study(
            model, rows, method=method.value, over=over.value, metric=metric, seed=seed, batch_size=batch_size
        )
        seconds = time.perf_counter() - started

        out_dir = out or DEFAULT_OUT / f"{run_label(run)}-step{ckpt.step}"
        extra = {"checkpoint": str(ckpt.path), "step": ckpt.step, "tokens": source, "rows": list(rows.shape), "seconds": seconds}
        paths = save_ablation(result, out_dir, extra=extra)
        figure = ablation_heatmap(
            result, title=f"{run_label(run)} step {ckpt.step}: {method.value}-ablation of {over.value}, Δ {result.metric}"
        )
        write_text(out_dir / "heatmap.html", figure.to_html(include_plotlyjs=True), encoding="utf-8")

        typer.echo(f"checkpoint {ckpt.path} (step {ckpt.step}); {rows.shape[0]} rows x {rows.shape[1]} tokens of {source}")
        typer.echo(f"clean {result.metric}: {result.baseline:.4f}; {len(result.rows)} ablations in {seconds:.2f} s")
        typer.echo(f"top {min(top, len(result.rows))} by |effect|:")
        for line in format_top(result.top(top), result.metric):
            typer.echo(line)
        typer.echo(f"wrote {paths['csv']}, {paths['json']} and {out_dir / 'heatmap.html'}")
