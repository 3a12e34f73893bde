"""`interp compare A B`: heads of two checkpoints side by side — ablation effects and attention-pattern distance.

A and B are run directories or checkpoint directories (the same run twice with --step-a/--step-b compares two
points of training). Writes comparison.csv, comparison.json and comparison.html to
`reports/compare/<a>-step<S>-vs-<b>-step<T>/` unless --out says otherwise.
"""

from pathlib import Path

import typer

from interp.cli.common import MethodChoice, run_label

DEFAULT_OUT = Path("reports/compare")


def register(app: typer.Typer) -> None:
    """Add the `compare` command to `app`."""

    @app.command()
    def compare(
        run_a: Path = typer.Argument(..., help="First run directory or checkpoint directory."),
        run_b: Path = typer.Argument(..., help="Second run directory or checkpoint directory."),
        step_a: int | None = typer.Option(None, "--step-a", help="Checkpoint step of A (default: the last)."),
        step_b: int | None = typer.Option(None, "--step-b", help="Checkpoint step of B (default: the last)."),
        method: MethodChoice = typer.Option(MethodChoice.mean, "--method", help="Ablation method for the per-head effects."),
        metric: str = typer.Option("loss", "--metric", help="Metric (loss: mean next-token loss)."),
        distance: str = typer.Option(
            "js", "--distance", help="Pattern distance: js (Jensen-Shannon, bits) or tv (total variation)."
        ),
        out: Path | None = typer.Option(None, "--out", "-o", help="Output directory."),
        tokens: int = typer.Option(64, "--tokens", "-n", help="Number of evaluation rows (from A's run)."),
        tokens_file: Path | None = typer.Option(None, "--tokens-file", help="Token rows (.npy or .safetensors)."),
        seed: int = typer.Option(0, help="Seed for resampling (and for synthetic rows)."),
    ) -> None:
        """Compare every head of two checkpoints on the same inputs.

        Example: interp compare models/runs/demo models/runs/demo --step-a 500 --step-b 6000
        """
        from interp.analysis.ablation.compare import compare_heads, comparison_to_dict
        from interp.analysis.core.eval_tokens import evaluation_tokens
        from interp.core.io import write_csv, write_json, write_text
        from interp.report.ablation_figures import comparison_heatmap
        from interp.train.checkpoints import load_model, resolve_checkpoint

        ckpt_a, ckpt_b = resolve_checkpoint(run_a, step_a), resolve_checkpoint(run_b, step_b)
        label_a, label_b = f"{run_label(run_a)}-step{ckpt_a.step}", f"{run_label(run_b)}-step{ckpt_b.step}"
        rows, source = evaluation_tokens(ckpt_a, n_rows=tokens, tokens_file=tokens_file, seed=seed)
        comparison = compare_heads(
            load_model(ckpt_a),
            load_model(ckpt_b),
            rows,
            method=method.value,
            metric=metric,
            distance=distance,
            labels=(label_a, label_b),
            seed=seed,
        )
        out_dir = out or DEFAULT_OUT / f"{label_a}-vs-{label_b}"
        extra = {"a": str(ckpt_a.path), "b": str(ckpt_b.path), "tokens": source, "rows": list(rows.shape)}
        write_csv(out_dir / "comparison.csv", comparison.rows)
        write_json(out_dir / "comparison.json", comparison_to_dict(comparison, extra))
        write_text(out_dir / "comparison.html", comparison_heatmap(comparison).to_html(include_plotlyjs=True), encoding="utf-8")

        typer.echo(f"{label_a} vs {label_b} on {rows.shape[0]} rows of {source}")
        typer.echo(f"clean {comparison.metric}: {comparison.baseline_a:.4f} vs {comparison.baseline_b:.4f}")
        typer.echo(f"heads whose patterns moved most ({distance}):")
        for row in sorted(comparison.rows, key=lambda r: -r["pattern_distance"])[:5]:
            typer.echo(
                f"  {row['name']:<6s} distance {row['pattern_distance']:.3f}  effect {row['effect_a']:+.4f} -> {row['effect_b']:+.4f}"
            )
        typer.echo(f"wrote {out_dir / 'comparison.csv'}, {out_dir / 'comparison.json'} and {out_dir / 'comparison.html'}")
