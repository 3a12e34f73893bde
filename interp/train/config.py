"""The training config (`TrainConfig`) and the whole run's config (`RunConfig`: model, data, train, noise).

A run directory's run.json is `RunConfig.to_dict()`; `RunConfig.from_dict` reads it (and preset TOML files) back,
with unknown sections or fields as one-line errors.
"""

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from interp.core.config import build_section, fraction, is_int, is_number, one_of, positive_int, require
from interp.model.config import ModelConfig
from interp.text.config import DataConfig
from interp.train.data_sources import check_data
from interp.train.noise_config import NoiseConfig

SCHEDULES = ("constant", "cosine", "wsd")
PRECISIONS = ("fp32", "bf16", "fp16")  # interp.train.precision


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """One plain AdamW loop: warmup then a constant, cosine or "wsd" learning rate, gradient clipping, periodic eval.

    "wsd" (warmup, stable, decay) holds the learning rate constant, then decays it linearly to `min_lr_ratio * lr`
    over the last `decay_steps` steps; a constant run can later be given such a decay (`--resume`) exactly.

    Checkpoints are written at `n_checkpoints` log-spaced steps, plus every `checkpoint_every` steps when that is
    set (evenly spaced checkpoints resolve a phase change that happens late in training).

    How the steps are computed (interp.train.precision): `precision` "fp32", "bf16" or "fp16" (mixed precision on
    float32 master weights; fp16 needs a CUDA GPU), `tf32` (TF32 tensor cores for float32 CUDA matmuls; nothing
    on the CPU) and `compile` (torch.compile the training forward; interp.train.compiled). The device is not part
    of the config: a run started on the CPU resumes on a GPU (`train(..., device=)`, `interp train --device`).
    """

    steps: int = 5000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.99
    warmup_steps: int = 0
    schedule: str = "constant"
    min_lr_ratio: float = 0.1
    decay_steps: int = 0
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_batches: int = 4
    n_checkpoints: int = 20
    checkpoint_every: int = 0
    seed: int = 0
    threads: int = 0
    precision: str = "fp32"
    tf32: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        positive_int(self, "steps", "batch_size", "eval_every", "eval_batches")
        require(
            is_int(self.n_checkpoints) and self.n_checkpoints >= 2,
            f"train.n_checkpoints must be an integer >= 2 (the first and last step), got {self.n_checkpoints!r}",
        )
        require(
            is_int(self.checkpoint_every) and self.checkpoint_every >= 0,
            f"train.checkpoint_every must be an integer >= 0 (0: log-spaced checkpoints only), got {self.checkpoint_every!r}",
        )
        require(is_number(self.lr) and 0 < self.lr < 1, f"train.lr must be in (0, 1), got {self.lr!r}")
        require(
            is_number(self.weight_decay) and 0 <= self.weight_decay < math.inf,
            f"train.weight_decay must be a finite number >= 0, got {self.weight_decay!r}",
        )
        for name in ("beta1", "beta2"):
            fraction(self, name, high_open=True)
        require(
            is_int(self.warmup_steps) and 0 <= self.warmup_steps <= self.steps,
            f"train.warmup_steps must be between 0 and train.steps ({self.steps}), got {self.warmup_steps!r}",
        )
        one_of(self, "schedule", SCHEDULES)
        fraction(self, "min_lr_ratio")
        if self.schedule == "wsd":
            require(
                is_int(self.decay_steps) and 0 < self.decay_steps <= self.steps - self.warmup_steps,
                f"train.decay_steps must be in (0, train.steps - train.warmup_steps = {self.steps - self.warmup_steps}] for schedule 'wsd', got {self.decay_steps!r}",
            )
        else:
            require(
                self.decay_steps == 0,
                f"train.decay_steps is for schedule 'wsd' (got schedule {self.schedule!r}); set train.schedule = 'wsd' or drop decay_steps",
            )
        require(
            is_number(self.grad_clip) and 0 <= self.grad_clip < math.inf,
            f"train.grad_clip must be >= 0 (0 turns clipping off), got {self.grad_clip!r}",
        )
        require(is_int(self.seed) and self.seed >= 0, f"train.seed must be an integer >= 0, got {self.seed!r}")
        require(
            is_int(self.threads) and self.threads >= 0, f"train.threads must be >= 0 (0 = torch default), got {self.threads!r}"
        )
        require(
            self.precision in PRECISIONS,
            f"train.precision must be one of {', '.join(map(repr, PRECISIONS))} (fp16 needs a CUDA GPU), got {self.precision!r}",
        )
        for name in ("tf32", "compile"):
            value = getattr(self, name)
            require(isinstance(value, bool), f"train.{name} must be true or false, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything needed to reproduce a run: the model, its data, the training loop and any training noise."""

    model: ModelConfig
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    def __post_init__(self) -> None:
        self.noise.check_model(self.model)
        require(
            not (self.train.compile and self.noise.where in ("activation", "attn_scores")),
            f"train.compile does not cover noise.where = {self.noise.where!r} (fresh noise inside the forward every step); "
            "set train.compile = false for this run",
        )
        check_data(self.data)  # options owned by a data source (e.g. data.ioi_extra_names) are checked by it
        if self.data.repeated_fraction > 0:
            require(
                2 * self.data.span_max <= self.model.n_ctx,
                f"data.span_max ({self.data.span_max}) must be at most half of model.n_ctx ({self.model.n_ctx}) "
                "so that a span and its copy fit in one sequence",
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RunConfig":
        """Build from nested dicts (as in a preset TOML); unknown sections or fields are errors."""
        unknown = set(data) - {"model", "data", "train", "noise"}
        require(not unknown, f"unknown config section(s) {sorted(unknown)}; the sections are model, data, train, noise")
        require("model" in data, "the config has no [model] section")
        return cls(
            model=build_section(ModelConfig, data["model"], "model"),
            data=build_section(DataConfig, data.get("data", {}), "data"),
            train=build_section(TrainConfig, data.get("train", {}), "train"),
            noise=build_section(NoiseConfig, data.get("noise", {}), "noise"),  # runs from before noise existed: no noise
        )
