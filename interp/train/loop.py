"""One plain training loop (nanoGPT style) with log-spaced checkpoints and exact resume, on any device.

The model is built on the CPU (one seed, one initialisation on every device) and moved to the device; batches
are drawn on the CPU (interp.train.data, a pure function of the step) and moved. Checkpoints hold CPU float32
tensors whatever the device and precision (interp.train.precision), so a run started on one device resumes on
another; run.json's "devices" records where it ran: the first step on each device (and number of processes).

>>> import tempfile
>>> run = RunConfig.from_dict({"model": dict(n_layers=2, d_model=16, n_heads=2, d_head=8, n_ctx=16, attn_only=True),
...     "data": dict(corpus="none", tokenizer="char", repeated_fraction=1.0, span_min=2, span_max=4),
...     "train": dict(steps=20, batch_size=4, eval_every=10, n_checkpoints=4)})
>>> result = train(run, Path(tempfile.mkdtemp()) / "demo", progress=False)
>>> [c.step for c in result.checkpoints], sorted(path.name for path in result.run_dir.iterdir())
([0, 1, 4, 20], ['checkpoints', 'metrics.jsonl', 'run.json'])
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from interp.core.device import DeviceLike, describe_device
from interp.core.errors import CheckpointError, ConfigError, TrainingDiverged
from interp.core.io import append_json_line, remove_leftover_temporaries, write_json, write_text
from interp.model.build import build_model, move_model
from interp.model.engine.fast_forward import fast_forward
from interp.train.baseline import bigram_loss
from interp.train.checkpoints import (
    CHECKPOINTS_DIR,
    Checkpoint,
    list_checkpoints,
    load_grad_scaler_state,
    load_into,
    load_optimizer_state,
    load_training_state,
    remove_partial_checkpoints,
    save_checkpoint,
)
from interp.train.compiled import CompiledForward, check_compile
from interp.train.config import RunConfig
from interp.train.data import TrainingData
from interp.train.distributed import World, current_world
from interp.train.extend import check_continuation, continues
from interp.train.noise import TrainingNoise
from interp.train.precision import MixedPrecision, check_precision, tf32_matmuls
from interp.train.schedule import checkpoint_steps, learning_rate
from interp.train.throughput import training_flops_per_token

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"


@dataclass(frozen=True)
class TrainResult:
    """What a run produced; `device` names where it trained (interp.core.device.describe_device) and
    `flops_per_token` its model FLOPs per training token (interp.train.throughput), for utilisation figures."""

    run_dir: Path
    checkpoints: list[Checkpoint]
    final_metrics: dict[str, float]
    tokens_per_second: float
    device: str = "cpu"
    flops_per_token: float = 0.0


def next_token_loss(logits: Float[Tensor, "batch pos vocab"], tokens: Int[Tensor, "batch pos"]) -> Tensor:
    """Mean cross-entropy of predicting tokens[:, 1:] from logits[:, :-1]."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))


@torch.no_grad()
def evaluate(forward: Callable[[Tensor], Tensor], batches: dict[str, list[Tensor]]) -> dict[str, float]:
    """Mean next-token loss on each named set of validation batches (no dropout anywhere, so no eval mode)."""
    return {name: sum(float(next_token_loss(forward(b), b)) for b in bs) / len(bs) for name, bs in batches.items()}


def _write_run_file(run_dir: Path, content: dict) -> None:
    write_json(run_dir / RUN_FILE, content)


def _record_resume(run_dir: Path, run: RunConfig, stretch: dict) -> None:
    """Write the config of a resumed run (changed, for an extended run) to run.json, and add `stretch` to its
    "devices" when the run now trains on another device or number of processes; an unchanged file is left alone,
    so a run resumed where it ran is byte for byte the uninterrupted run."""
    content = read_run_file(run_dir)
    devices = content.get("devices", [])
    where = {k: v for k, v in stretch.items() if k != "step"}
    moved = not devices or {k: v for k, v in devices[-1].items() if k != "step"} != where
    updated = {**content, "run": run.to_dict(), "devices": [*devices, stretch] if moved else devices}
    if json.loads(json.dumps(updated)) != content:  # (compared as JSON: a config's tuples read back as lists)
        _write_run_file(run_dir, updated)


def read_run_file(run_dir: Path) -> dict:
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{run_dir} is not a run directory: {RUN_FILE} is missing; check the path, or train without --resume"
        )
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}); restore it from a checkpoint's training.json") from None
    if not isinstance(content, dict) or not isinstance(content.get("run"), dict):
        raise CheckpointError(f"{path} holds no run config; restore it from a checkpoint's training.json")
    return content


def read_run_config(run_dir: Path) -> RunConfig:
    """The config a run directory was trained with (its run.json)."""
    try:
        return RunConfig.from_dict(read_run_file(run_dir)["run"])
    except ConfigError as error:
        raise CheckpointError(f"{Path(run_dir) / RUN_FILE} holds an invalid config: {error}") from None


def _published_checkpoints(run_dir: Path) -> list[Checkpoint]:
    """The run's complete checkpoints; none (not an error) when it has not written one yet."""
    folder = run_dir / CHECKPOINTS_DIR
    if not folder.is_dir() or all(p.name.startswith(".") for p in folder.iterdir()):
        return []
    return list_checkpoints(run_dir)


def read_metrics(run_dir: Path) -> list[dict]:
    """The records of a run's metrics.jsonl ([] before there is one). A torn last line (a process killed while
    appending) is dropped; a corrupted earlier line is a CheckpointError."""
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines) - 1:
                raise CheckpointError(f"{path} line {number + 1} is corrupted; delete that line") from None
    return records


def _truncate_metrics(path: Path, last_step: int) -> None:
    """Drop records written after `last_step`, so a resumed run's log matches an uninterrupted one.

    A process killed while appending leaves a torn last line: it is dropped like any later record.
    """
    if not path.exists():
        return
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    kept = []
    for number, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) - 1:
                break
            raise CheckpointError(f"{path} line {number + 1} is corrupted; delete that line and resume again") from None
        if record["step"] <= last_step:
            kept.append(line)
    write_text(path, "".join(line + "\n" for line in kept))


def train(
    run: RunConfig,
    run_dir: Path,
    *,
    device: DeviceLike = "auto",
    resume: bool = False,
    cache_dir: Path | None = None,
    progress: bool = True,
    on_checkpoint: Callable[[Checkpoint], None] | None = None,
    on_log: Callable[[dict], None] | None = None,
    on_eval: Callable[[int, dict[str, float]], bool] | None = None,
) -> TrainResult:
    """Train `run` into `run_dir` on `device` ("auto": a CUDA GPU if there is one, else MPS, else the CPU),
    writing log-spaced checkpoints; with `resume`, continue from the last one (on any device).

    `on_log` is called with each metrics record right after it is appended to metrics.jsonl. `on_eval(step, metrics)`
    is called after each evaluation during training (after that step's checkpoint, if any; on every rank, which must
    all answer the same); returning True stops training there, keeping every checkpoint written so far (a pruned
    sweep trial).

    A device this machine lacks, a precision the device cannot train in (fp16 on the CPU) or train.compile without
    a compiler is a one-line error before anything is written. TF32 (train.tf32) is set for the run and restored."""
    cfg = run.train
    world = current_world()  # under torchrun (interp.train.distributed): only rank 0 reads or writes run_dir
    world.check_run(run)
    target = world.training_device(device)
    check_precision(cfg.precision, target)
    precision = MixedPrecision(cfg.precision, target)
    if cfg.compile:
        check_compile(target)
    with tf32_matmuls(target, cfg.tf32):
        return _train(
            run,
            Path(run_dir),
            world,
            target,
            precision,
            resume=resume,
            cache_dir=cache_dir,
            progress=progress,
            on_checkpoint=on_checkpoint,
            on_log=on_log,
            on_eval=on_eval,
        )


def _train(
    run: RunConfig,
    run_dir: Path,
    world: World,
    device: torch.device,
    precision: MixedPrecision,
    *,
    resume: bool,
    cache_dir: Path | None,
    progress: bool,
    on_checkpoint: Callable[[Checkpoint], None] | None,
    on_log: Callable[[dict], None] | None,
    on_eval: Callable[[int, dict[str, float]], bool] | None,
) -> TrainResult:
    cfg = run.train
    if world.is_main and run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is a file, not a run directory; choose another --out")
    existing = _published_checkpoints(run_dir) if world.is_main else []
    if resume and world.is_main:  # a longer budget or a later decay is allowed; run.json gets it once checks pass
        previous = read_run_config(run_dir)
        if previous != run:
            check_continuation(previous, run, existing[-1].step if existing else 0, run_dir)
    elif existing:
        raise FileExistsError(f"{run_dir} already holds checkpoints; pass --resume to continue it or choose a new --out")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    data = TrainingData.prepare(run, cache_dir=cache_dir)
    model_cfg = run.model.with_vocab(data.vocab_size)
    model = move_model(build_model(model_cfg), device).train()  # initialised on the CPU: the same weights anywhere
    forward = fast_forward(model, model_cfg)  # same parameters, no hook machinery: ~25% faster steps
    train_forward = CompiledForward(forward) if cfg.compile else forward  # evaluation stays eager
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    val_batches = {name: [b.to(device) for b in batches] for name, batches in data.val_batches().items()}
    save_at = set(checkpoint_steps(cfg))
    tokenizer_dict = data.tokenizer.to_dict()
    tokens_per_step = cfg.batch_size * run.model.n_ctx
    metrics_path = run_dir / METRICS_FILE

    start = 0
    if world.is_main:
        remove_partial_checkpoints(run_dir)  # a killed checkpoint write leaves a hidden temporary directory
        for name in (RUN_FILE, METRICS_FILE):  # and a killed rewrite of run.json or metrics.jsonl a hidden file
            remove_leftover_temporaries(run_dir / name)
    resumed = resume and bool(existing)  # with no checkpoint written yet, resuming is starting afresh
    stretch = {"step": 0, "device": describe_device(device), "processes": world.size}
    if resumed:
        last = existing[-1]
        if last.config != model_cfg or (last.run is not None and last.run != run and not continues(last.run, run, last.step)):
            raise CheckpointError(
                f"{last.path} was written by a different config than {run_dir / RUN_FILE}; move it out of the run"
            )
        load_into(model, last.path, model_cfg)
        tensors, meta, rng = load_training_state(last)
        try:
            load_optimizer_state(optimizer, tensors, meta)  # onto the parameters' device
            precision.load_state(load_grad_scaler_state(last))
            torch.set_rng_state(rng)
        except (ValueError, KeyError, TypeError, RuntimeError) as error:
            raise CheckpointError(
                f"{last.path}: optimizer or RNG state does not fit this model ({error}); resume from another checkpoint"
            ) from None
        start = last.step
        _truncate_metrics(metrics_path, start)
        _record_resume(run_dir, run, {**stretch, "step": start})
    elif world.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        extra = {}
        if data.packed is not None:
            extra["bigram_val_loss"] = bigram_loss(data.packed.train, data.packed.val, vocab_size=data.vocab_size)
        _write_run_file(run_dir, {"run": run.to_dict(), "tokenizer": data.tokenizer.to_dict(), **extra, "devices": [stretch]})
        write_text(metrics_path, "")
    # rank 0's step, optimizer, loss scale and RNG
    start, resumed = world.share_start(optimizer, precision, start=start, resumed=resumed)
    synced = world.data_parallel(model)  # runs the training forward in DDP: gradients averaged over ranks

    def log(record: dict) -> None:
        if not world.is_main:  # only rank 0 writes and reports metrics
            return
        append_json_line(metrics_path, record)
        if on_log is not None:  # e.g. live metrics for wandb, right after the record is on disk
            on_log(record)

    def checkpoint(step: int, metrics: dict[str, float]) -> Checkpoint | None:
        bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
        if bad:
            raise TrainingDiverged(
                f"metrics {bad} at step {step} are not finite; not saving. The last good checkpoint is kept in "
                f"{run_dir / CHECKPOINTS_DIR}. Lower train.lr or set train.grad_clip"
            )
        if not world.is_main:  # every rank checks the metrics, so all stop together; rank 0 alone saves
            return None
        ckpt = save_checkpoint(
            run_dir / CHECKPOINTS_DIR / f"step_{step:06d}",
            model,
            model_cfg,
            step=step,
            tokens_seen=step * tokens_per_step,
            run=run,
            tokenizer=tokenizer_dict,
            metrics=metrics,
            optimizer=optimizer,
            grad_scaler=precision.state(),
        )
        if on_checkpoint is not None:
            on_checkpoint(ckpt)
        return ckpt

    if not resumed:  # a resumed run has step 0's record and checkpoint already, even when it resumes from step 0
        metrics = evaluate(forward, val_batches)
        log({"step": 0, "tokens_seen": 0, **metrics})
        checkpoint(0, metrics)

    running, count, metrics = 0.0, 0, {}
    # training-only; evaluate() stays clean. Noise is drawn on the CPU and moved, batches are moved after it.
    noise = TrainingNoise(run.noise, model, train_forward, vocab=data.synthetic_vocab)
    started = time.perf_counter()
    bar = tqdm(
        range(start, cfg.steps),
        initial=start,
        total=cfg.steps,
        disable=not (progress and world.is_main),
        desc="train",
        unit="step",
    )
    stopped_at = cfg.steps
    for step in bar:
        lr = learning_rate(cfg, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        tokens = data.batch(step)
        inputs, targets, step_forward = noise.begin(step, tokens)  # without noise: tokens, tokens, forward
        # this rank's rows of the global batch, on the device
        inputs, targets = (world.shard(rows).to(device, non_blocking=True) for rows in (inputs, targets))
        with precision.autocast():  # bf16/fp16: the forward's matmuls; the weights stay float32
            logits = synced(step_forward, inputs)
        loss = next_token_loss(logits.float(), targets)
        loss_value = world.mean(loss.item())  # the global batch's loss (equal slices), the same on every rank
        if not math.isfinite(loss_value):
            raise TrainingDiverged(
                f"loss became {loss_value} at step {step}; the last good checkpoint is kept in {run_dir / CHECKPOINTS_DIR}. "
                "Lower train.lr or set train.grad_clip"
            )
        optimizer.zero_grad(set_to_none=True)
        precision.scale(loss).backward()  # fp16: the loss scaled up so small gradients survive; else as is
        noise.end()  # weights perturbed for this step are restored before clipping and the update
        if cfg.grad_clip > 0:
            precision.unscale(optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        precision.step(optimizer)  # fp16: skipped when the gradients overflowed (the scale backs off)
        running, count = running + loss_value, count + 1
        done = step + 1
        if done % cfg.eval_every == 0 or done in save_at:
            metrics = {"train_loss": running / count, "lr": lr, **evaluate(forward, val_batches)}
            running, count = 0.0, 0
            log({"step": done, "tokens_seen": done * tokens_per_step, **metrics})
            bar.set_postfix({k: f"{v:.3f}" for k, v in metrics.items() if k != "lr"})
        if done in save_at:
            checkpoint(done, metrics)
        if on_eval is not None and (done % cfg.eval_every == 0 or done in save_at) and on_eval(done, metrics):
            stopped_at = done  # stopped by the caller: the run resumes from its last checkpoint like an interrupted one
            break
    bar.close()
    elapsed = time.perf_counter() - started
    tokens_per_second = (stopped_at - start) * tokens_per_step / elapsed if elapsed > 0 and stopped_at > start else 0.0
    return TrainResult(
        run_dir=run_dir,
        checkpoints=list_checkpoints(run_dir) if world.is_main else [],
        final_metrics=metrics,
        tokens_per_second=tokens_per_second,
        device=stretch["device"],
        flops_per_token=float(training_flops_per_token(model_cfg)),
    )
