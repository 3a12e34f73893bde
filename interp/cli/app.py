"""The `interp` command line. Every command has `--help`; heavy libraries load only when a command runs."""

import sys
from pathlib import Path

import typer

import interp.tasks  # noqa: F401  registers the tasks' data sources (data.corpus = "ioi")
from interp.cli.common import DEVICE_HELP

app = typer.Typer(
    help="Train small transformers from scratch on a CPU and study how their circuits form.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_RUNS = Path("models/runs")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


@app.command()
def presets() -> None:
    """List the model presets in models/presets/ with their shape and data."""
    from interp.train.presets import list_presets, run_config

    for name in list_presets():
        run = run_config(name)
        m, d = run.model, run.data
        kind = "attn-only" if m.attn_only else f"d_mlp={m.d_mlp}"
        typer.echo(
            f"{name:16s} {m.n_layers}L d_model={m.d_model} heads={m.n_heads}x{m.d_head} n_ctx={m.n_ctx} {kind:10s} "
            f"data={d.corpus}/{d.tokenizer} repeated={d.repeated_fraction:.0%} steps={run.train.steps}"
        )


@app.command()
def train(
    preset: str = typer.Option("attn-only-2l", "--preset", "-p", help="Preset name (see `interp presets`)."),
    config: Path | None = typer.Option(
        None, "--config", "-c", help="TOML file whose [model]/[data]/[train] fields override the preset."
    ),
    set_: list[str] = typer.Option(
        [], "--set", "-s", help="Override one field, e.g. --set train.lr=3e-4 --set model.n_layers=3."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default models/runs/PRESET)."),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue the run in --out from its last checkpoint, exactly, with the config in its run.json; --set train.steps=N trains it for longer (also train.schedule=wsd with train.decay_steps, to end with a decay).",
    ),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Train a model, writing log-spaced checkpoints (safetensors + JSON) and metrics.jsonl to the run directory.

    Example: interp train --preset attn-only-1l --set train.steps=2000 --out models/runs/a1

    Train it for longer, identical to a 4000-step run from the start (allowed while the steps already taken keep
    their learning rate, e.g. a constant one, optionally ending with a linear decay: --set train.schedule=wsd):
    interp train --out models/runs/a1 --resume --set train.steps=4000

    On a GPU: --device cuda (the default, auto, picks one when there is one), with --set train.precision=bf16 for
    mixed precision and --set train.compile=true for torch.compile; a run resumes on any device.

    On several processes or machines: torchrun --nproc_per_node 2 -m interp.train --preset attn-only-1l ...
    (same options; each process trains on a slice of every batch, rank 0 writes the run directory; NCCL on GPUs,
    one per process, gloo on CPUs).
    """
    from interp.core.config import apply_overrides
    from interp.train.config import RunConfig
    from interp.train.distributed import process_group
    from interp.train.presets import parse_override, run_config

    run_dir = out or DEFAULT_RUNS / preset
    overrides = dict(parse_override(s) for s in set_)
    from_run_file = resume and not config  # the run's own config, with any --set on top
    run = None if from_run_file else run_config(preset, config_file=config, overrides=overrides)
    with process_group(run, device) as world:  # under torchrun: joins the job (NCCL or gloo); alone: a world of one
        # heavy (TransformerLens): only once the config is valid
        from interp.train.loop import read_run_config
        from interp.train.loop import train as run_training

        if run is None:  # only rank 0 reads the run directory; the other ranks receive its config
            run = RunConfig.from_dict(
                world.broadcast_json(apply_overrides(read_run_config(run_dir).to_dict(), overrides) if world.is_main else None)
            )
        result = run_training(
            run, run_dir, device=device, resume=resume, cache_dir=DEFAULT_RUNS.parent / "cache", progress=progress
        )
    if world.is_main:
        _report_training(result)


def _report_training(result) -> None:
    from interp.train.loop import read_run_file

    info = read_run_file(result.run_dir)
    typer.echo(f"checkpoints: {len(result.checkpoints)} in {result.run_dir / 'checkpoints'}")
    typer.echo(f"throughput: {result.tokens_per_second:,.0f} tokens/s on {result.device}")
    utilisation = _utilisation(result, info)
    if utilisation:
        typer.echo(utilisation)
    for key, value in result.final_metrics.items():
        typer.echo(f"{key}: {value:.4f}")
    if "bigram_val_loss" in info:
        typer.echo(f"bigram baseline val loss: {info['bigram_val_loss']:.4f}")


def _utilisation(result, info: dict) -> str | None:
    """On a CUDA device the peak table knows: the run's model-FLOPs utilisation, in one line."""
    from interp.train.throughput import mfu, peak_flops, peak_key

    if not result.device.startswith("cuda") or not result.flops_per_token:
        return None
    train_cfg = info["run"]["train"]
    precision, tf32 = train_cfg.get("precision", "fp32"), train_cfg.get("tf32", True)
    peak = peak_flops(result.device, precision, tf32=tf32)
    if peak is None:
        return None
    achieved = result.tokens_per_second * result.flops_per_token
    return (
        f"model FLOPs: {achieved / 1e12:.1f} TFLOP/s = {mfu(result.tokens_per_second, result.flops_per_token, peak):.1%} "
        f"of the {peak / 1e12:.0f} TFLOP/s {peak_key(precision, tf32)} peak (MFU)"
    )


@app.command()
def generate(
    run: Path = typer.Argument(..., help="Run directory or checkpoint directory."),
    prompt: str = typer.Option("", "--prompt", help="Text to continue (empty: start from a newline or BOS)."),
    tokens: int = typer.Option(200, "--tokens", "-n", help="How many tokens to sample."),
    temperature: float = typer.Option(1.0, help="Softmax temperature; 0 is greedy."),
    top_k: int | None = typer.Option(None, "--top-k", help="Sample only from the k most likely tokens."),
    checkpoint: int | None = typer.Option(None, "--checkpoint", help="Step to load (default: the last)."),
    seed: int = typer.Option(0, help="Sampling seed."),
) -> None:
    """Sample text from a trained model.

    Example: interp generate models/runs/char-gpt --prompt "ROMEO:" --tokens 300 --top-k 20
    """
    import torch

    from interp.model.sampling import sample
    from interp.text.tokenizers import tokenizer_from_dict
    from interp.train.checkpoints import load_model, resolve_checkpoint

    for option, value, low in (("--tokens", tokens, 0), ("--temperature", temperature, 0), ("--top-k", top_k, 1)):
        if value is not None and not value >= low:  # `not >=` also catches nan
            _fail(f"{option} must be >= {low}, got {value}")
    ckpt = resolve_checkpoint(run, checkpoint)
    if ckpt.tokenizer is None:
        _fail(f"{ckpt.path} does not record its tokenizer, so text cannot be encoded")
    tokenizer = tokenizer_from_dict(ckpt.tokenizer)
    if tokenizer.vocab_size != ckpt.config.d_vocab:
        _fail(
            f"{ckpt.path}: its tokenizer has {tokenizer.vocab_size} tokens but the model reads {ckpt.config.d_vocab}; "
            "the tokenizer in training.json does not belong to this model"
        )
    ids = (tokenizer.encode(prompt) if prompt else []) or [_start_token(tokenizer)]
    model = load_model(ckpt)
    out = sample(
        model,
        torch.tensor([ids]),
        max_new_tokens=tokens,
        temperature=temperature,
        top_k=top_k,
        generator=torch.Generator().manual_seed(seed),
    )
    typer.echo(tokenizer.decode(out[0].tolist()))


def _start_token(tokenizer) -> int:
    """BOS, else a newline, else token 0: what an empty prompt starts from."""
    if tokenizer.bos_token_id is not None:
        return tokenizer.bos_token_id
    try:
        return tokenizer.encode("\n")[0]
    except (ValueError, IndexError):  # a char alphabet without "\n"
        return 0


def _register_commands() -> None:
    from interp.cli.commands import (
        ablate,
        average,
        bench,
        birthplace,
        circuit,
        circuits,
        compare,
        dla,
        induction,
        lens,
        patch,
        report,
        sae,
        sweep,
    )

    for module in (
        report,
        ablate,
        compare,
        induction,
        circuits,
        circuit,
        patch,
        dla,
        lens,
        average,
        birthplace,
        sweep,
        sae,
        bench,
    ):
        module.register(app)


_register_commands()


def main() -> None:
    """Entry point: runs the app and turns expected errors into one line on stderr and exit code 2."""
    from interp.core.errors import InterpError

    try:
        app(standalone_mode=True)
    except (
        InterpError,
        OSError,
    ) as error:  # OSError: a path that is missing, exists, is not a directory, no permission, disk full
        message = " ".join(str(error).split())  # always one line, whatever a wrapped library error held
        typer.echo(f"error: {message}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
