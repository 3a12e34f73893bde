"""`interp sweep SPEC.toml`: grid or random search over config fields, one ordinary run directory per trial.

The spec (TOML) names a base preset, fixed overrides, the swept fields and the metric to rank by; see
analyses/sweeps/lr_width.toml. Writes results.csv, results.json and sweep.html to the spec's `out` directory.
"""

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `sweep` command to `app`."""

    @app.command()
    def sweep(
        spec_file: Path = typer.Argument(
            ...,
            help="Sweep spec (TOML): preset, method, metric, out, the fixed and sweep tables; see analyses/sweeps/lr_width.toml.",
        ),
        parallel: int | None = typer.Option(
            None,
            "--parallel",
            "-j",
            help="Trials trained at once, each in its own process with cores // N threads (default: the spec's, else 1).",
        ),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the trials (name, overrides, state) and train nothing."),
        wandb: bool = typer.Option(
            False, "--wandb", help="Log every trial to Weights & Biases in offline mode (needs wandb installed)."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Sweep directory (default: the spec's out, else models/runs/sweeps/NAME)."
        ),
        progress: bool = typer.Option(True, help="Show each trial's progress bar (sequential sweeps)."),
    ) -> None:
        """Train every trial of a sweep and rank them: results.csv, results.json and sweep.html in the sweep directory.

        Each trial is a run directory OUT/trials/NAME, named from its swept values (e.g. lr=0.003,d_model=64).

        Running the same spec again skips finished trials and resumes interrupted or failed ones. A trial that fails is recorded with its error and the others go on (exit code 1 if any failed).

        Example: interp sweep analyses/sweeps/lr_width.toml --parallel 2
        """
        from interp.sweep.spec import SweepSpec
        from interp.sweep.trials import expand_trials

        spec = SweepSpec.from_toml(spec_file).with_options(parallel=parallel, wandb=wandb, out=out)
        if dry_run:
            from interp.sweep.runner import plan_trials

            trials = expand_trials(spec)
            planned = plan_trials(spec, trials)
            typer.echo(
                f"{spec.name}: {spec.method} search, {len(trials)} trials into {spec.out / 'trials'}, ranked by final {spec.metric} ({spec.goal})"
            )
            for number, item in enumerate(planned, start=1):
                overrides = " ".join(f"{k}={v!r}" for k, v in item.trial.overrides)
                typer.echo(f"{number:3d}. {item.trial.name:40s} {item.state:8s} {overrides}  (threads {item.run.train.threads})")
            return
        from interp.report.sweep_figures import write_sweep_page
        from interp.sweep.results import format_table
        from interp.sweep.runner import run_sweep

        outcome = run_sweep(spec, progress=progress, log=typer.echo)
        outcome.paths["html"] = write_sweep_page(outcome.results)
        typer.echo(format_table(outcome.results))
        paths = outcome.paths
        typer.echo(f"wrote {paths['csv']}, {paths['json']} and {paths['html']}")
        if outcome.failed:
            typer.echo(
                f"{len(outcome.failed)} of {len(outcome.results.trials)} trials did not finish: {', '.join(outcome.failed)}",
                err=True,
            )
            raise typer.Exit(code=1)
