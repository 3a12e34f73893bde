"""`interp circuit RUN --task induction|ioi|FILE --method exact|eap|eap-ig|acdc`: the circuit at every checkpoint.

Scores every edge of the model's graph (input, each head's q/k/v, MLPs, logits) at each chosen checkpoint, takes
the smallest circuit of the last checkpoint whose faithfulness reaches --target, and follows it back through
training. Writes timeline.safetensors + timeline.json and circuit.html (opens offline) to
`reports/circuit/<run-name>-<task>-<method>/` unless --out says otherwise.
"""

from enum import Enum
from pathlib import Path

import typer

from interp.cli.common import CACHE_DIR, run_label

DEFAULT_OUT = Path("reports/circuit")


class CircuitMethod(str, Enum):
    exact = "exact"
    eap = "eap"
    eap_ig = "eap-ig"
    acdc = "acdc"


class IgOn(str, Enum):
    inputs = "inputs"
    edges = "edges"


def register(app: typer.Typer) -> None:
    """Add the `circuit` command to `app`."""

    @app.command()
    def circuit(
        run: Path = typer.Argument(..., help="Run directory (holds checkpoints/)."),
        task: str = typer.Option(
            "induction",
            "--task",
            help="induction, ioi, a .safetensors task file (interp.tasks.save_task) or a .py file defining task(checkpoint).",
        ),
        method: CircuitMethod = typer.Option(
            CircuitMethod.eap_ig,
            "--method",
            help="exact: patch every edge (exact, batched); eap: one gradient; eap-ig: integrated gradients (--steps); acdc: greedy pruning with exact patching (slow; small models).",
        ),
        checkpoints: str = typer.Option(
            "all", "--checkpoints", help="all, log (about 12, log-spaced) or steps: 0,100,1000 (each must exist)."
        ),
        n: int = typer.Option(64, "--n", "-n", help="Prompts of the task (built-in tasks)."),
        steps: int = typer.Option(5, "--steps", help="EAP-IG: integration points."),
        ig_on: IgOn = typer.Option(
            IgOn.inputs, "--ig-on", help="EAP-IG: interpolate the input embedding (inputs) or every edge at once (edges)."
        ),
        threshold: float = typer.Option(
            0.01, "--threshold", help="ACDC: keep an edge whose removal moves the metric by this share of the gap."
        ),
        target: float = typer.Option(0.8, "--target", help="Faithfulness the last checkpoint's circuit must reach."),
        seed: int = typer.Option(0, help="Seed of the prompts."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Output directory (default reports/circuit/<run-name>-<task>-<method>/)."
        ),
        top: int = typer.Option(10, "--top", help="How many edges to print."),
        threads: int = typer.Option(1, "--threads", help="Torch threads (0: torch's default; one is fastest for small models)."),
    ) -> None:
        """Discover the circuit of a task at every checkpoint of a run, check its faithfulness, and plot it.

        Example: interp circuit models/runs/demo --task induction --method eap-ig
        """
        import torch
        from tqdm import tqdm

        from interp.analysis.edges.files import save_timeline
        from interp.analysis.edges.timeline import circuit_timeline, select_checkpoints
        from interp.analysis.induction.series import evaluate_series, probe_for_run
        from interp.report.circuit_timeline_page import circuit_timeline_page
        from interp.tasks.for_run import task_for_run
        from interp.train.checkpoints import list_checkpoints

        if threads > 0:
            torch.set_num_threads(threads)
        every = list_checkpoints(run)
        chosen = select_checkpoints(every, checkpoints)
        the_task = task_for_run(task, chosen[-1], n=n, seed=seed)
        options = {"steps": steps, "ig_on": ig_on.value, "threshold": threshold}
        bar = tqdm(total=len(chosen), desc=f"circuit ({method.value})", unit="ckpt")
        timeline = circuit_timeline(
            chosen, the_task, method=method.value, target=target, progress=lambda ckpt: bar.update(1), **options
        )
        bar.close()
        phase = evaluate_series(every, probe_for_run(every[-1], cache_dir=CACHE_DIR)).phase_change()

        task_name = Path(task).stem if task not in ("induction", "ioi") else task
        label = run_label(run)
        out_dir = out or DEFAULT_OUT / f"{label}-{task_name}-{method.value}"
        extra = {
            "run": str(run),
            "task": task,
            "n": the_task.batch,
            "seed": seed,
            "options": options,
            "phase": phase.to_json_dict(),
        }
        save_timeline(timeline, out_dir, extra=extra)
        page = circuit_timeline_page(
            timeline,
            title=f"Circuit of {task_name} across training: {label}",
            subtitle=f"{method.value}, {the_task.batch} prompts, {len(chosen)} checkpoints",
            phase=phase,
        )
        page_path = page.write(out_dir / "circuit.html")

        last = timeline.scores[-1]
        curve = timeline.curve
        typer.echo(
            f"{timeline.graph.n_edges} edges, {len(chosen)} checkpoints, {the_task.batch} prompts, {timeline.seconds:.1f} s; {phase.message}"
        )
        typer.echo(f"top edges at step {timeline.steps[-1]} (share of the clean-corrupted gap):")
        for index in timeline.top_edges(top):
            typer.echo(f"  {timeline.graph.edges[index]:<22} {float(last[index]):+.3f}")
        typer.echo(
            f"circuit: {timeline.circuit.n_edges} edges ({timeline.circuit.fraction:.1%}), faithfulness "
            f"{float(timeline.circuit_faithfulness[-1]):.3f} (target {target}); curve CPR {curve.cpr:.3f}, CMD {curve.cmd:.3f}"
        )
        typer.echo(f"wrote {out_dir}/timeline.safetensors, timeline.json and {page_path}")
