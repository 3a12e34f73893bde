"""`interp patch RUN --task ioi --kind heads|resid|attn|qkv|pattern|path|attribution`: patching on a checkpoint.

Writes `<result>.safetensors` + `<result>.json` per sweep and `<kind>.html` (plotly inlined: opens offline) to
`reports/patching/<run-name>-step<STEP>/` unless --out says otherwise, and prints the strongest cells.
"""

from enum import Enum
from pathlib import Path

import typer

from interp.cli.common import run_label

DEFAULT_OUT = Path("reports/patching")


class KindChoice(str, Enum):
    heads = "heads"
    resid = "resid"
    attn = "attn"
    qkv = "qkv"
    pattern = "pattern"
    path = "path"
    attribution = "attribution"


class DirectionChoice(str, Enum):
    denoising = "denoising"
    noising = "noising"


class TaskChoice(str, Enum):
    ioi = "ioi"


def register(app: typer.Typer) -> None:
    """Add the `patch` command to `app`."""

    @app.command()
    def patch(
        run: Path = typer.Argument(..., help="Run directory (holds checkpoints/) or a checkpoint directory."),
        task: TaskChoice = typer.Option(TaskChoice.ioi, "--task", help="The task whose clean/corrupted prompts are patched."),
        kind: KindChoice = typer.Option(
            KindChoice.heads,
            "--kind",
            help="heads: z per head (all positions and by position); resid: residual stream by layer x position; attn: attention (and MLP) outputs; qkv; pattern; path: path patching; attribution: gradient estimate vs exact.",
        ),
        checkpoint: int | None = typer.Option(None, "--checkpoint", help="Step to load (default: the last)."),
        split: str = typer.Option("train", "--split", help="Prompt split: train, names, templates or both (held out)."),
        corruption: str = typer.Option(
            "abc", "--corruption", help="abc (all three names replaced), swap (IO and S exchanged) or s2_io."
        ),
        n: int = typer.Option(64, "--n", "-n", help="Number of prompts (one template layout, ABBA and BABA alternating)."),
        receivers: str = typer.Option(
            "logits", "--receivers", help="Path patching: 'logits' or receiver heads as layer.head,layer.head."
        ),
        component: str = typer.Option("q", "--component", help="Path patching into heads: their q, k or v input."),
        direction: DirectionChoice = typer.Option(
            DirectionChoice.denoising,
            "--direction",
            help="denoising: clean cells into the corrupted run (what suffices to restore the answer); noising: corrupted cells into the clean run (what the answer cannot do without).",
        ),
        seed: int = typer.Option(0, help="Seed of the prompts."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Output directory (default reports/patching/<run-name>-step<STEP>/)."
        ),
        top: int = typer.Option(5, "--top", help="How many cells to print per result."),
        threads: int = typer.Option(
            1,
            "--threads",
            help="Torch threads (0: torch's default). Partial forwards are many small operations: one thread is fastest on a shared CPU.",
        ),
    ) -> None:
        """Activation, path or attribution patching on a checkpoint, with heatmaps.

        Example: interp patch models/runs/ioi-attn-only-4l-seed4 --task ioi --kind heads
        """
        import torch

        from interp.report.html import Page
        from interp.report.patching_figures import patching_heatmap
        from interp.tasks.ioi.patching import (
            direction_suffix,
            ioi_model,
            parse_receivers,
            patching_prompts,
            run_kind,
            save_kind,
            top_cells,
        )
        from interp.train.checkpoints import resolve_checkpoint

        if threads > 0:
            torch.set_num_threads(threads)
        ckpt = resolve_checkpoint(run, checkpoint)
        model, corpus = ioi_model(ckpt)
        prompts = patching_prompts(corpus, n=n, split=split, corruption=corruption, seed=seed)
        result = run_kind(
            model, prompts, kind.value, receivers=parse_receivers(receivers), component=component, direction=direction.value
        )

        label = f"{run_label(run)}-step{ckpt.step}"
        out_dir = out or DEFAULT_OUT / label
        noising = direction == DirectionChoice.noising
        extra = {
            "checkpoint": str(ckpt.path),
            "step": ckpt.step,
            "task": task.value,
            "split": split,
            "corruption": corruption,
            "n": n,
            "seed": seed,
        }
        json_paths = save_kind(result, out_dir, extra)
        labels = prompts.position_labels(corpus.tokenizer)
        page = Page(
            f"IOI patching: {kind.value}{' (noising)' if noising else ''}",
            subtitle=f"{label}, {n} {split} prompts, corruption {corruption}",
        )
        first = next(iter(result.results.values()))
        page.text(
            f"Logit difference IO - S: clean {first.clean:.3f}, corrupted {first.corrupted:.3f}. "
            "Normalised: 1 = the clean value, 0 = the corrupted value. "
            + (
                "Noising: each cell's corrupted value patched into the clean run (near 0: the answer needs it)."
                if noising
                else "Denoising: each cell's clean value patched into the corrupted run (near 1: it restores the answer)."
            )
        )
        page.text("Example prompt: " + corpus.tokenizer.decode(prompts.clean[0, 1 : int(prompts.end_pos[0]) + 1].tolist()))
        for key, value in result.notes.items():
            page.text(f"{key}: {value:.4g}")
        for name, res in result.results.items():
            page.figure(patching_heatmap(res, title=name, position_labels=labels), caption=f"{name}: {res.seconds:.3f} s")

        page_path = page.write(out_dir / f"{kind.value}{direction_suffix(direction.value)}.html")
        typer.echo(f"checkpoint {ckpt.path} (step {ckpt.step}); {n} {split} prompts, corruption {corruption}")
        typer.echo(f"logit diff clean {first.clean:.3f}, corrupted {first.corrupted:.3f}")
        for key, value in result.notes.items():
            typer.echo(f"{key}: {value:.4g}")
        for name, res in result.results.items():
            cells = ", ".join(f"{cell} {value:+.2f}" for cell, value in top_cells(res, top))
            typer.echo(f"{name} ({res.seconds:.2f} s): {cells}")
        typer.echo(f"wrote {len(json_paths)} results (.safetensors + .json) and {page_path}")
