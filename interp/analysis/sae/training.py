"""Train one sparse dictionary on a checkpoint's activations, with training checkpoints and exact resume.

`train_dictionary` streams batches (`ActivationStream`), scales them to mean norm sqrt(width) (the constant
estimated on the first buffer), and runs `DictionaryTrainer`: Adam (betas 0.9, 0.999), learning rate warmed up
linearly over `warmup_steps`, constant, then decayed linearly to zero over the last `decay_fraction` of steps.
The trainer is a plain loop over (inputs, targets) tensors, so it also trains on any tensor iterator
(`train_on_batches`) without a model. The final dictionary has the scaling folded back into its weights and is
saved with `save_dictionary` in the run's `saes/` folder. A fresh dictionary starts with b_dec at the mean
(scaled) target of the first buffer.

An existing `out` is never overwritten: without `resume` it is refused; with `resume` training continues from
the newest training checkpoint in `out/training/` (bit-identical to an uninterrupted run), or, when `out`
already holds the finished dictionary of the same config, that dictionary is returned.

>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> ckpt = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).checkpoints[-1]
>>> config = SAEConfig(site="resid_post0", kind="topk", n_features=32, k=4, tokens=2048, batch_tokens=256, buffer_tokens=1024)
>>> saved = train_dictionary(ckpt, config, progress=False)
>>> saved.path.relative_to(ckpt.path.parent.parent).as_posix(), sorted(saved.figures)[:3]
('saes/resid_post0-topk-32/step_000010', ['activations_per_second', 'curve', 'dead_fraction'])
"""

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import Tensor
from tqdm.auto import tqdm

from interp.analysis.sae.activations import ActivationStream
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.files import SavedDictionary, dictionary_directory, load_dictionary, save_dictionary, source_of
from interp.analysis.sae.losses import LossParts, dictionary_loss
from interp.analysis.sae.training_state import (
    TrainingState,
    fold_scaling,
    latest_training_checkpoint,
    load_training_checkpoint,
    read_training_record,
    save_training_checkpoint,
    unfold_scaling,
)
from interp.core.errors import ConfigError
from interp.train.checkpoints import CHECKPOINTS_DIR, Checkpoint, resolve_checkpoint

ADAM_BETAS = (0.9, 0.999)
THRESHOLD_MOMENTUM = 0.99  # batchtopk: the running threshold is an exponential moving average of the smallest kept value
CURVE_POINTS = 50


def learning_rate(config: SAEConfig, step: int) -> float:
    """Linear warmup over warmup_steps, constant, then linear decay to zero over the last decay_fraction.

    >>> config = SAEConfig(site="resid_post0", k=4, tokens=1000, batch_tokens=10, warmup_steps=10, decay_fraction=0.5)
    >>> [round(learning_rate(config, s) / config.lr, 2) for s in (0, 9, 20, 50, 75, 99)]
    [0.1, 1.0, 1.0, 1.0, 0.5, 0.02]
    """
    steps = config.steps
    lr = config.lr * min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else config.lr
    decay_start = steps - int(steps * config.decay_fraction)
    if step >= decay_start and steps > decay_start:
        lr *= (steps - step) / (steps - decay_start)
    return lr


class DictionaryTrainer:
    """The optimiser loop of one dictionary on batches already in training's scaled units."""

    def __init__(self, sae: SparseDictionary, config: SAEConfig, state: TrainingState | None = None) -> None:
        self.sae, self.config = sae, config
        trained = [sae.W_enc, sae.b_enc, sae.W_dec, sae.b_dec] + ([sae.log_threshold] if config.kind == "jumprelu" else [])
        self.optimizer = torch.optim.Adam(trained, lr=config.lr, betas=ADAM_BETAS)
        self.state = state or TrainingState(n_features=sae.n_features)

    def dead(self, window: int | None = None) -> Tensor:
        """Features that fired on none of the last `window` (default dead_tokens) training tokens."""
        return self.state.last_fired >= (self.config.dead_tokens if window is None else window)

    def step(self, inputs: Tensor, targets: Tensor) -> LossParts:
        config, sae, state = self.config, self.sae, self.state
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(config, state.step)
        parts = dictionary_loss(sae, inputs, targets, config, dead=self.dead())
        self.optimizer.zero_grad(set_to_none=True)
        parts.loss.backward()
        if config.kind == "relu":
            sae.remove_parallel_gradient()
        self.optimizer.step()
        if config.kind == "relu":
            sae.normalise_decoder()
        with torch.no_grad():
            fired = parts.fired
            state.last_fired += inputs.shape[0]
            state.last_fired[fired] = 0
            if parts.smallest_kept is not None:
                value = parts.smallest_kept.to(torch.float64)
                ema = value if state.threshold < 0 else THRESHOLD_MOMENTUM * state.threshold + (1 - THRESHOLD_MOMENTUM) * value
                state.threshold = ema.clone()
                sae.log_threshold.fill_(float(ema.clamp_min(1e-12).log()))
        state.step += 1
        every = max(1, config.steps // CURVE_POINTS)
        if state.step % every == 0 or state.step == config.steps:
            state.curve.append(self.point(parts))
        return parts

    def point(self, parts: LossParts) -> dict[str, float]:
        tokens_seen = self.state.step * self.config.batch_tokens
        return {
            "step": self.state.step,
            "loss": float(parts.loss.detach()),
            "mse": float(parts.mse.detach()),
            "explained_variance": float(parts.explained_variance),
            "l0": float(parts.l0),
            "dead_fraction": float(self.dead(min(self.config.dead_tokens, tokens_seen)).float().mean()),
        }


def train_on_batches(sae: SparseDictionary, batches: Iterable[tuple[Tensor, Tensor]], config: SAEConfig) -> DictionaryTrainer:
    """Train `sae` in place on (inputs, targets) batches (already scaled) for at most config.steps steps."""
    trainer = DictionaryTrainer(sae, config)
    for inputs, targets in batches:
        if trainer.state.step >= config.steps:
            break
        trainer.step(inputs, targets)
    return trainer


def _run_directory(checkpoint: Checkpoint) -> Path:
    if checkpoint.path.parent.name != CHECKPOINTS_DIR:
        raise ConfigError(f"{checkpoint.path} is not inside a run's {CHECKPOINTS_DIR}/ folder; pass out= to say where to save")
    return checkpoint.path.parent.parent


def _checkpoint_steps(config: SAEConfig) -> set[int]:
    steps = config.steps
    return {steps * i // (config.checkpoints + 1) for i in range(1, config.checkpoints + 1)} - {0, steps}


def _check_widths(config: SAEConfig, stream: ActivationStream, init: SparseDictionary | None) -> None:
    if not config.is_transcoder and config.n_features < stream.d_in:
        raise ConfigError(
            f"a dictionary smaller than its input width: n_features ({config.n_features}) < d_in ({stream.d_in}) at "
            f"{config.site}; a {config.kind} SAE needs n_features >= {stream.d_in}"
        )
    if init is not None:
        want = (stream.d_in, config.n_features, stream.d_out, config.kind)
        have = (init.d_in, init.n_features, init.d_out, init.kind)
        if want != have:
            raise ConfigError(
                f"init dictionary has (d_in, n_features, d_out, kind) {have}, not {want}; warm-start from a matching one"
            )


def _input_scales(stream: ActivationStream) -> tuple[float, float, Tensor]:
    """Scales to mean norm sqrt(width) on the first buffer, and the mean scaled target (b_dec's starting value)."""
    inputs, targets = stream.generation(0)
    width_in, width_out = stream.d_in**0.5, stream.d_out**0.5
    scale_in = width_in / float(inputs.norm(dim=-1).mean().clamp_min(1e-12))
    scale_out = scale_in if not stream.config.is_transcoder else width_out / float(targets.norm(dim=-1).mean().clamp_min(1e-12))
    return scale_in, scale_out, targets.mean(0) * scale_out


def train_dictionary(
    checkpoint: Checkpoint | Path | str,
    config: SAEConfig,
    *,
    out: Path | None = None,
    resume: bool = False,
    init: SparseDictionary | None = None,
    progress: bool = True,
    on_checkpoint: Callable[[Path], None] | None = None,
) -> SavedDictionary:
    """Train the dictionary `config` describes on `checkpoint` (a Checkpoint, a checkpoint or run directory)."""
    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else resolve_checkpoint(Path(checkpoint))
    out = Path(out) if out is not None else dictionary_directory(_run_directory(ckpt), config, ckpt.step)
    source = source_of(ckpt)
    record = {"config": config.to_dict(), "source": source}
    resume_from = latest_training_checkpoint(out) if out.exists() else None
    if out.exists() and not resume:
        raise ConfigError(f"{out} already exists; pass resume=True to continue or return it, or choose another out")
    if resume and (out / "interp.json").exists():
        saved = load_dictionary(out)
        if saved.config != config:
            raise ConfigError(f"{out} holds a dictionary of another config; choose another out to train this one")
        return saved
    if resume_from is not None:
        previous = read_training_record(resume_from)
        if previous.get("config") != record["config"] or previous.get("source", {}).get("step") != source["step"]:
            raise ConfigError(f"{out} was being trained with another config or checkpoint; choose another out or delete it")

    stream = ActivationStream.from_checkpoint(ckpt, config)  # checks the sites and the corpus size
    _check_widths(config, stream, init)
    sae = SparseDictionary(
        d_in=stream.d_in,
        n_features=config.n_features,
        kind=config.kind,
        k=config.k,
        d_out=stream.d_out,
        transcoder=config.is_transcoder,
        threshold=config.jumprelu_init_threshold,
        seed=config.seed,
    )
    trainer = DictionaryTrainer(sae, config)
    if resume_from is not None:
        trainer.state, _ = load_training_checkpoint(resume_from, sae, trainer.optimizer)
    else:
        trainer.state.input_scale, trainer.state.target_scale, mean_target = _input_scales(stream)
        with torch.no_grad():
            sae.b_dec.copy_(mean_target)  # start at the mean: the features then explain deviations from it
        if init is not None:
            sae.load_state_dict(unfold_scaling(init, trainer.state.input_scale, trainer.state.target_scale).state_dict())
    state = trainer.state
    saves = _checkpoint_steps(config)
    bar = tqdm(
        range(state.step, config.steps),
        initial=state.step,
        total=config.steps,
        disable=not progress,
        desc=f"sae {config.site}",
        unit="step",
    )
    started = time.perf_counter()
    for step in bar:
        inputs, targets = stream.batch(step)
        inputs = inputs * state.input_scale
        targets = inputs if not config.is_transcoder else targets * state.target_scale
        parts = trainer.step(inputs, targets)
        if state.curve and state.curve[-1]["step"] == state.step:
            bar.set_postfix(mse=f"{float(parts.mse.detach()):.3g}", l0=f"{float(parts.l0):.1f}", refresh=False)
        if state.step in saves:
            state.seconds += time.perf_counter() - started
            started = time.perf_counter()
            path = save_training_checkpoint(out, sae, trainer.optimizer, state, record=record)
            if on_checkpoint is not None:
                on_checkpoint(path)
    bar.close()
    state.seconds += time.perf_counter() - started
    final = state.curve[-1] if state.curve else {}
    tokens = config.steps * config.batch_tokens
    figures = {
        "seconds": state.seconds,
        "tokens": tokens,
        "activations_per_second": tokens / max(state.seconds, 1e-9),
        "mse": final.get("mse"),
        "explained_variance": final.get("explained_variance"),
        "l0": final.get("l0"),
        "dead_fraction": final.get("dead_fraction"),
        "input_scale": state.input_scale,
        "target_scale": state.target_scale,
        "curve": state.curve,
    }
    folded = fold_scaling(sae, state.input_scale, state.target_scale)
    save_dictionary(out, folded, config, source=source, figures=figures)
    return load_dictionary(out)


__all__ = ["ADAM_BETAS", "DictionaryTrainer", "learning_rate", "train_dictionary", "train_on_batches"]
