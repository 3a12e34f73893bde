"""`interp lens RUN`: the logit lens and a tuned lens (trained on the run's validation text) at one checkpoint and
across the run: per layer, head and position, KL to the final prediction and the target's rank and probability.

Writes RUN/lenses/step_N/ (lens.{safetensors,json}: the translators and how they were trained; metrics-logit and
metrics-tuned) for each checkpoint a lens was trained at, RUN/lenses/series.{safetensors,json} and
RUN/lenses/lens.html (opens offline), unless --out says otherwise; the run report shows what is there. Every option
is checked before anything is computed or written.
"""

from pathlib import Path

import typer

from interp.cli.common import CACHE_DIR, DEVICE_HELP, run_label


def parse_layers(text: str | None) -> list[int] | None:
    """'0,2,4' -> [0, 2, 4]; None or 'all' -> None (every layer)."""
    if text is None or text.strip() == "all":
        return None
    from interp.core.errors import DataError

    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise DataError(f"--layers must be all or layer numbers like 0,1,2; got {text!r}") from None


def register(app: typer.Typer) -> None:
    """Add the `lens` command to `app`."""

    @app.command()
    def lens(
        run: Path = typer.Argument(..., help="Run directory (holds checkpoints/)."),
        checkpoint: int | None = typer.Option(None, "--checkpoint", help="Step read in depth (default: the last)."),
        checkpoints: str = typer.Option(
            "log", "--checkpoints", help="The series: all, log (about 12, log-spaced), none, or steps 0,100,1000."
        ),
        tuned: bool = typer.Option(
            True, "--tuned/--no-tuned", help="Train a tuned lens at each checkpoint (else the logit lens only)."
        ),
        task: str | None = typer.Option(
            None,
            "--task",
            help="Also read a task's answer at its read position: induction, ioi, or a task file (default: text only).",
        ),
        layers: str | None = typer.Option(
            None, "--layers", help="Layers to report: all, or e.g. 0,2 (n_layers is the final stream)."
        ),
        rows: int = typer.Option(
            1024, "--rows", help="Validation rows: the first half trains the tuned lens, the rest measures both."
        ),
        steps: int = typer.Option(250, "--steps", help="Tuned-lens training steps per checkpoint."),
        lr: float = typer.Option(1e-2, "--lr", help="Tuned-lens learning rate (Adam)."),
        batch_size: int = typer.Option(16, "--batch-size", help="Tuned-lens rows per training step."),
        n: int = typer.Option(64, "--n", "-n", help="Prompts of the task (with --task)."),
        seed: int = typer.Option(0, help="Seed of the training batches and the task's prompts."),
        device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
        out: Path | None = typer.Option(None, "--out", "-o", help="Output directory (default RUN/lenses/)."),
        threads: int = typer.Option(1, "--threads", help="Torch threads (0: torch's default; one is fastest for small models)."),
    ) -> None:
        """Logit lens and tuned lens of a checkpoint and across training, with KL to the final logits per layer.

        Example: interp lens models/runs/demo
        """
        from interp.core.device import resolve_device

        where = resolve_device(device)

        import torch
        from tqdm import tqdm

        from interp.analysis.core.eval_tokens import evaluation_tokens
        from interp.analysis.edges.timeline import select_checkpoints
        from interp.analysis.lens.files import run_lens_dir, save_lens, save_lens_series, save_metrics
        from interp.analysis.lens.metrics import lens_metrics, lens_targets
        from interp.analysis.lens.series import lens_series
        from interp.analysis.lens.training import split_rows, train_tuned_lens
        from interp.analysis.lens.translators import check_layers
        from interp.core.errors import DataError
        from interp.report.lens_page import lens_page
        from interp.tasks.for_run import task_for_run
        from interp.train.checkpoints import list_checkpoints, load_model, resolve_checkpoint

        if threads > 0:
            torch.set_num_threads(threads)
        for option, value in (("--rows", rows), ("--steps", steps), ("--batch-size", batch_size)):
            if value < (2 if option == "--rows" else 1):
                raise DataError(f"{option} must be at least {2 if option == '--rows' else 1}, got {value}")
        if not lr > 0:
            raise DataError(f"--lr must be positive, got {lr}")
        every = list_checkpoints(run)
        target = resolve_checkpoint(run, checkpoint)
        chosen = [] if checkpoints == "none" else select_checkpoints(every, checkpoints)
        chosen_layers = check_layers(parse_layers(layers), target.config.n_layers)
        tokens, source = evaluation_tokens(target, n_rows=rows, cache_dir=CACHE_DIR)
        train_rows, test_rows = split_rows(tokens)
        the_task = None if task is None else task_for_run(task, target, n=n, seed=seed)

        lenses = {}
        series = None
        if chosen:
            bar = tqdm(total=len(chosen), desc="lens", unit="ckpt")
            series, lenses = lens_series(
                chosen, train_rows, test_rows, tuned=tuned, steps=steps, lr=lr, batch_size=batch_size, seed=seed,
                device=where, progress=lambda c: bar.update(1),
            )  # fmt: skip
            bar.close()
        model = load_model(target, device=where)
        if tuned and target.step not in lenses:
            lenses[target.step] = train_tuned_lens(model, train_rows, steps=steps, lr=lr, batch_size=batch_size, seed=seed)
        trained = lenses.get(target.step)
        read_rows = test_rows if the_task is None else the_task.clean
        targets = lens_targets(read_rows, the_task)
        positions = None if the_task is None else the_task.metric.positions
        measured = {
            name: lens_metrics(
                model, read_rows, lens=chosen_lens, targets=targets, layers=chosen_layers, read_positions=positions
            )
            for name, chosen_lens in (("logit", None), ("tuned", None if trained is None else trained[0]))
            if name == "logit" or trained is not None
        }

        out_dir = out or run_lens_dir(run)
        extra = {"run": str(run), "source": source, "rows": tokens.shape[0], "task": task, "device": str(where)}
        for step, (translator, record) in lenses.items():
            save_lens(translator, out_dir / f"step_{step:06d}", training=record, extra={**extra, "step": step})
        step_dir = out_dir / f"step_{target.step:06d}"
        for metrics in measured.values():
            save_metrics(metrics, step_dir, extra={**extra, "step": target.step})
        if series is not None:
            save_lens_series(series, out_dir, extra=extra)
        info = {**extra, "training": None if trained is None else trained[1].to_json_dict()}
        page = lens_page([(target.step, measured["logit"], measured.get("tuned"), info)], series, extra)
        page_path = page.write(out_dir / "lens.html")

        logit_kl = measured["logit"].per_layer("kl")[0]
        tuned_kl = measured["tuned"].per_layer("kl")[0] if "tuned" in measured else None
        typer.echo(f"{run_label(run)} step {target.step}: {read_rows.shape[0]} rows ({source if the_task is None else task})")
        if trained is not None:
            typer.echo(f"tuned lens: {trained[1].steps} steps on {trained[1].rows} rows in {trained[1].seconds:.1f} s")
        typer.echo("KL(final || lens) per layer, nats:  layer  logit lens" + ("  tuned lens" if tuned_kl is not None else ""))
        for index, label in enumerate(measured["logit"].labels):
            tail = "" if tuned_kl is None else f"  {float(tuned_kl[index]):10.3f}"
            typer.echo(f"  {label:>12}  {float(logit_kl[index]):10.3f}{tail}")
        if series is not None:
            typer.echo(f"series: {len(series.steps)} checkpoints")
        typer.echo(f"wrote {out_dir} ({len(lenses)} tuned lenses, metrics at step {target.step}) and {page_path}")
