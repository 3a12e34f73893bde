"""`interp sweep SPEC.toml`: a grid, random or TPE search over config fields on an Optuna study, one ordinary run
directory per trial.

The spec (TOML) names a base preset, fixed overrides, the swept fields, the metric to rank by, the sampler and the
pruner; see analyses/sweeps/lr_width.toml. The study lives in sqlite:///OUT/study.db unless the spec or --storage
names another (journal:PATH for a file on a shared disk): start the same command on several machines or terminals
and they share its trials. Writes results.csv, results.json and sweep.html to the spec's `out` directory.
"""

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add the `sweep` command to `app`."""

    @app.command()
    def sweep(
        spec_file: Path = typer.Argument(
            ...,
            help="Sweep spec (TOML): preset, method, metric, out, pruner, the fixed and sweep tables; see analyses/sweeps/lr_width.toml.",
        ),
        parallel: int | None = typer.Option(
            None,
            "--parallel",
            "-j",
            help="Local worker processes sharing the study, each training on cores // N threads (default: the spec's, else 1).",
        ),
        storage: str | None = typer.Option(
            None,
            "--storage",
            help="Optuna storage of the study: sqlite:///PATH, journal:PATH (a file on a shared disk) or an RDB URL "
            "(default: the spec's, else sqlite:///OUT/study.db).",
        ),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Print the trials (a grid's, or what the storage holds) and write nothing."
        ),
        wandb: bool = typer.Option(
            False, "--wandb", help="Log every trial to Weights & Biases in offline mode (needs wandb installed)."
        ),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Sweep directory (default: the spec's out, else models/runs/sweeps/NAME)."
        ),
        progress: bool = typer.Option(True, help="Show each trial's progress bar (with one worker)."),
    ) -> None:
        """Train the trials of a sweep on its Optuna study and rank them: results.csv, results.json and sweep.html.

        Each trial is a run directory OUT/trials/NAME, named from its swept values (e.g. lr=0.003,d_model=64; drawn trials after their number, 0003-lr=0.002246).

        Run the same command again, or on another machine with the same storage, and it takes the trials still queued; a trial whose worker was interrupted or killed resumes from its last checkpoint. Trials that fail are recorded with their error (exit code 1 if any did); pruned trials keep their run directory.

        Example: interp sweep analyses/sweeps/lr_width.toml --parallel 2
        """
        from interp.sweep.spec import SweepSpec
        from interp.sweep.trials import check_trials

        spec = SweepSpec.from_toml(spec_file).with_options(parallel=parallel, wandb=wandb, out=out, storage=storage)
        if dry_run:
            _dry_run(spec, check_trials(spec))
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
                f"{len(outcome.failed)} of {len(outcome.results.trials)} trials failed: {', '.join(outcome.failed)}",
                err=True,
            )
            raise typer.Exit(code=1)


def _dry_run(spec, planned) -> None:
    """The trials and their states in the storage (opened read-only: nothing is written)."""
    from interp.sweep.results import collect_results
    from interp.sweep.study import counts, open_study, storage_url

    study = open_study(spec, planned=planned, create=False)
    results = {t.name: t for t in collect_results(spec, study).trials}
    held = counts(study)
    summary = ", ".join(f"{n} {state}" for state, n in held.items() if n) or "nothing yet"
    pruner = spec.pruner.to_dict()
    size = f"{len(planned)} trials" if spec.method == "grid" else f"{spec.n_trials} trials (seed {spec.seed})"
    typer.echo(
        f"{spec.name}: {spec.method} search, {size} into {spec.out / 'trials'}, ranked by final {spec.metric} ({spec.goal}); "
        f"pruner {pruner.pop('type')}{' ' + str(pruner) if pruner else ''}; storage {storage_url(spec)} holds {summary}"
    )
    for number, trial in enumerate(planned, start=1):
        state = results[trial.name].status if trial.name in results else "new"
        overrides = " ".join(f"{k}={v!r}" for k, v in trial.overrides)
        typer.echo(f"{number:3d}. {trial.name:40s} {state:9s} {overrides}  (threads {trial.run.train.threads})")
    if spec.method != "grid":
        for trial in sorted(results.values(), key=lambda t: t.number):
            overrides = " ".join(f"{k}={v!r}" for k, v in trial.overrides.items())
            typer.echo(f"{trial.number:3d}. {trial.name:40s} {trial.status:9s} {overrides}")
        drawn = len(results)
        if drawn < spec.n_trials:
            typer.echo(f"     {spec.n_trials - drawn} trials still to be drawn by the {spec.method} sampler")
