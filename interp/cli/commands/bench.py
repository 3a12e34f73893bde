"""`interp bench`: run the benchmark scripts in benchmarks/ and collect their JSON results into one table."""

from pathlib import Path

import typer

from interp.core.errors import ConfigError

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


def register(app: typer.Typer) -> None:
    """Add the `bench` command to `app`."""

    @app.command()
    def bench(
        only: list[str] | None = typer.Option(
            None, "--only", help="Run only these benchmarks (e.g. --only training --only report)."
        ),
        list_: bool = typer.Option(False, "--list", help="List the benchmarks and exit."),
        summary_only: bool = typer.Option(False, "--summary", help="Do not run anything; print the table of the last results."),
    ) -> None:
        """Run the performance benchmarks (each measures a ratio side by side in one process) and print one table.

        Each script also runs alone: python benchmarks/bench_NAME.py --help. Results land in benchmarks/results/*.json.
        """
        import json
        import subprocess
        import sys

        scripts = {p.stem.removeprefix("bench_"): p for p in sorted(BENCHMARKS.glob("bench_*.py"))}
        if not scripts:  # an installed interp has no benchmarks/: the scripts live in the source repository only
            raise ConfigError(
                f"no benchmarks found in {BENCHMARKS}; `interp bench` runs the scripts of a source checkout of interp: run it there"
            )
        if list_:
            for name, path in scripts.items():
                doc = path.read_text().split('"""')[1].strip().splitlines()[0]
                typer.echo(f"{name:18s} {doc}")
            return
        unknown = set(only or []) - set(scripts)
        if unknown:
            raise typer.BadParameter(f"unknown benchmark(s) {sorted(unknown)}; known: {', '.join(scripts)}")
        if not summary_only:
            for name in only or scripts:
                typer.echo(f"== {name}")
                done = subprocess.run([sys.executable, str(scripts[name])], check=False)
                if done.returncode != 0:
                    typer.echo(f"   {name} failed with exit code {done.returncode}", err=True)
        typer.echo("\nlatest results (benchmarks/results/):")
        for path in sorted((BENCHMARKS / "results").glob("*.json")):
            data = json.loads(path.read_text())
            met = data.get("met")
            status = "met" if met is True else "NOT met" if met is False else "-"
            typer.echo(f"  {path.stem:18s} target {status:8s} {data.get('headline', '')}")
