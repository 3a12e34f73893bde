"""`interp dla RUN --task induction|ioi|FILE --direction answer-distractor|answer|token:TEXT|id:N`: direct logit
attribution per head, layer component and position, at one checkpoint and across the run.

Writes attribution.{safetensors,json} (the checkpoint, every row), series.{safetensors,json} (means and standard
errors at every chosen checkpoint) and dla.html (opens offline) to RUN/dla/<task>-<direction>/ unless --out says
otherwise; the run report shows what is there. Every option is checked before anything is computed or written.
"""

import re
from pathlib import Path

import typer

from interp.cli.common import DEVICE_HELP, run_label


def slug(text: str) -> str:
    """A folder-name form of a task or direction ("token:' the'" -> "token-_the_")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text.replace(":", "-")).strip("_") or "direction"


def register(app: typer.Typer) -> None:
    """Add the `dla` command to `app`."""

    @app.command()
    def dla(
        run: Path = typer.Argument(..., help="Run directory (holds checkpoints/)."),
        task: str = typer.Option(
            "induction",
            "--task",
            help="induction, ioi, a .safetensors task file (interp.tasks.save_task) or a .py file defining task(checkpoint).",
        ),
        direction: str = typer.Option(
            "answer-distractor",
            "--direction",
            help="answer-distractor (the task's answer minus its distractor), answer (its logit alone), token:TEXT (one token of the run's tokenizer) or id:N.",
        ),
        checkpoint: int | None = typer.Option(None, "--checkpoint", help="Step attributed in depth (default: the last)."),
        checkpoints: str = typer.Option(
            "log", "--checkpoints", help="The series: all, log (about 12, log-spaced), none, or steps 0,100,1000."
        ),
        n: int = typer.Option(64, "--n", "-n", help="Prompts of the task (built-in tasks)."),
        seed: int = typer.Option(0, help="Seed of the prompts."),
        device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
        out: Path | None = typer.Option(None, "--out", "-o", help="Output directory (default RUN/dla/<task>-<direction>/)."),
        top: int = typer.Option(8, "--top", help="How many heads to print."),
        threads: int = typer.Option(1, "--threads", help="Torch threads (0: torch's default; one is fastest for small models)."),
    ) -> None:
        """Direct logit attribution of a task's logit direction to every head, component and position, with the
        decomposition checked against the model's own logits, at one checkpoint and across training.

        Example: interp dla models/runs/ioi-attn-only-4l --task ioi
        """
        from interp.core.device import resolve_device

        where = resolve_device(device)

        import torch
        from tqdm import tqdm

        from interp.analysis.edges.timeline import select_checkpoints
        from interp.analysis.logit_attribution.decompose import direct_logit_attribution
        from interp.analysis.logit_attribution.directions import parse_direction
        from interp.analysis.logit_attribution.files import run_dla_dir, save_attribution, save_series
        from interp.analysis.logit_attribution.series import attribution_series
        from interp.report.dla_page import dla_page
        from interp.tasks.for_run import task_for_run
        from interp.text.tokenizers import tokenizer_from_dict
        from interp.train.checkpoints import list_checkpoints, load_model, resolve_checkpoint

        if threads > 0:
            torch.set_num_threads(threads)
        every = list_checkpoints(run)
        target = resolve_checkpoint(run, checkpoint)
        chosen = [] if checkpoints == "none" else select_checkpoints(every, checkpoints)
        the_task = task_for_run(task, target, n=n, seed=seed)
        tokenizer = tokenizer_from_dict(target.tokenizer) if target.tokenizer else None
        chosen_direction = parse_direction(direction, the_task, d_vocab=target.config.d_vocab, tokenizer=tokenizer)

        model = load_model(target, device=where)
        attribution = direct_logit_attribution(model, the_task.clean, chosen_direction, position_labels=the_task.position_labels)
        series = None
        if chosen:
            bar = tqdm(total=len(chosen), desc="dla", unit="ckpt")
            series = attribution_series(
                chosen, the_task, direction=chosen_direction, device=where, progress=lambda c: bar.update(1)
            )
            bar.close()

        task_name = Path(task).stem if task not in ("induction", "ioi") else task
        name = f"{slug(task_name)}-{slug(direction)}"
        out_dir = out or run_dla_dir(run, name)
        extra = {"run": str(run), "step": target.step, "task": task, "n": the_task.batch, "seed": seed, "device": str(where)}
        save_attribution(attribution, out_dir, extra=extra)
        if series is not None:
            save_series(series, out_dir, extra=extra)
        page_path = dla_page(f"{run_label(run)}, {task_name}", attribution, series, extra).write(out_dir / "dla.html")

        value, value_sem = attribution.mean_sem("logit_value")
        typer.echo(
            f"step {target.step}, {attribution.n_rows} rows of {task_name}, direction {attribution.direction}: "
            f"model value {float(value):.3f} ± {float(value_sem):.3f}; parts sum to it within {attribution.error:.2e}"
        )
        for part in attribution.component_rows():
            typer.echo(f"  {part['part']:<22} {part['mean']:+.3f} ± {part['sem']:.3f}")
        typer.echo("top heads: " + ", ".join(f"{h} {m:+.3f} ± {s:.3f}" for h, m, s in attribution.top_heads(top)))
        if series is not None:
            typer.echo(
                f"series: {len(series.steps)} checkpoints, largest decomposition error {float(series.max_error.max()):.2e}"
            )
        typer.echo(f"wrote {out_dir}/attribution.safetensors, .json{', series.*' if series is not None else ''} and {page_path}")
