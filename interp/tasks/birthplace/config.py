"""Configuration of the birthplace experiment: corpus, model (standard or PerceiverAR), pretraining, finetuning.

Defaults are sized for one CPU thread: pretraining + finetuning takes about 10 minutes. Memorising the facts is
what costs: a 3-layer d_model=128 model knew ~85% of 200 people's birthplaces (ranking the cities by likelihood)
after 3000 steps of 32 rows (~480 rows per person), and ~10% (chance) of 500 people's after 1500 steps (~100 rows
per person). So the default corpus has 300 people; the generator makes thousands if the budget allows.

>>> cfg = BirthplaceConfig.from_dict({"corpus": {"n_people": 100}, "pretrain": {"steps": 10}})
>>> cfg.corpus.n_people, cfg.pretrain.steps, cfg.model.n_ctx == cfg.corpus.block_size
(100, 10, True)
"""

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from interp.core.errors import ConfigError
from interp.model.config import ModelConfig
from interp.tasks.birthplace.span_corruption import PAD_SIDES
from interp.train.config import TrainConfig

ARCHITECTURES = ("standard", "perceiver_ar")


@dataclass(frozen=True, kw_only=True)
class CorpusConfig:
    """The synthetic biography corpus and how rows are laid out."""

    n_people: int = 300
    dev_fraction: float = 0.3
    docs_per_person: int = 4
    seed: int = 0
    block_size: int = 64
    pad_side: str = "left"

    def __post_init__(self) -> None:
        for name in ("n_people", "docs_per_person", "block_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"corpus.{name} must be a positive integer, got {value!r}")
        if self.block_size < 16:
            raise ConfigError(f"corpus.block_size must be at least 16 (a question must fit), got {self.block_size}")
        if not 0 < self.dev_fraction < 1:
            raise ConfigError(f"corpus.dev_fraction must be in (0, 1), got {self.dev_fraction!r}")
        if self.pad_side not in PAD_SIDES:
            raise ConfigError(f"corpus.pad_side must be one of {PAD_SIDES}, got {self.pad_side!r}")


def _default_model() -> ModelConfig:
    return ModelConfig(model_name="birthplace", n_layers=3, d_model=128, n_heads=4, d_head=32, d_mlp=512, n_ctx=64, seed=0)


def _default_pretrain() -> TrainConfig:
    return TrainConfig(
        steps=3000,
        batch_size=32,
        lr=3e-3,
        weight_decay=0.1,
        warmup_steps=100,
        schedule="cosine",
        eval_every=250,
        seed=0,
        threads=1,
    )


def _default_finetune() -> TrainConfig:
    # Short and gentle: longer or faster finetuning memorises the train people and overwrites what pretraining
    # stored (dev accuracy after the same pretraining: lr 1e-3 x 300 steps 0.22, 3e-4 0.38, 1e-4 0.43,
    # 5e-5 0.43, 1e-4 x 100 steps 0.48 -- chosen on dev; there is no separate test split).
    return TrainConfig(
        steps=100, batch_size=32, lr=1e-4, weight_decay=0.1, warmup_steps=10, schedule="cosine", eval_every=25, seed=0, threads=1
    )


def _default_scratch_finetune() -> TrainConfig:
    # A fresh model needs more and faster steps to fit the train people at all (the assignment, too, finetunes
    # longer without pretraining); this reaches 100% train accuracy.
    return TrainConfig(
        steps=300, batch_size=32, lr=1e-3, weight_decay=0.1, warmup_steps=20, schedule="cosine", eval_every=50, seed=0, threads=1
    )


@dataclass(frozen=True, kw_only=True)
class BirthplaceConfig:
    """Everything one run of the experiment depends on; `model.n_ctx` must equal `corpus.block_size`.

    `finetune` trains a pretrained model, `scratch_finetune` a freshly initialised one ("finetune_only")."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    model: ModelConfig = field(default_factory=_default_model)
    architecture: str = "standard"
    n_latents: int = 32
    pretrain: TrainConfig = field(default_factory=_default_pretrain)
    finetune: TrainConfig = field(default_factory=_default_finetune)
    scratch_finetune: TrainConfig = field(default_factory=_default_scratch_finetune)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.model.n_ctx != self.corpus.block_size:
            raise ConfigError(f"model.n_ctx ({self.model.n_ctx}) must equal corpus.block_size ({self.corpus.block_size})")
        if self.architecture == "perceiver_ar":
            if not 0 < self.n_latents <= self.model.n_ctx:
                raise ConfigError(f"n_latents must be in [1, n_ctx={self.model.n_ctx}], got {self.n_latents}")
            if self.corpus.pad_side != "left":
                raise ConfigError("the PerceiverAR variant predicts only the last positions: set corpus.pad_side='left'")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base: "BirthplaceConfig | None" = None) -> "BirthplaceConfig":
        """Nested dicts (sections corpus, model, pretrain, finetune, scratch_finetune; scalars architecture, n_latents) over `base`
        (default: the defaults); a section replaces only the fields it names. A shorter run also gets a shorter
        warmup (at most a tenth of its steps) unless warmup_steps is given; a new corpus.block_size sets
        model.n_ctx unless that is given. Unknown names are errors."""
        base = base or cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown birthplace config field(s) {unknown}; valid: {sorted(known)}")
        values: dict[str, Any] = {}
        for name in known:
            current, given = getattr(base, name), data.get(name)
            if not dataclasses.is_dataclass(current):
                values[name] = current if given is None else given
                continue
            given = dict(given or {})
            if not isinstance(given, dict):
                raise ConfigError(f"[{name}] must be a table of fields")
            allowed = {f.name for f in fields(current)}
            bad = sorted(set(given) - allowed)
            if bad:
                raise ConfigError(f"unknown field(s) {', '.join(name + '.' + b for b in bad)}; valid: {sorted(allowed)}")
            if isinstance(current, TrainConfig) and "steps" in given and "warmup_steps" not in given:
                given["warmup_steps"] = min(current.warmup_steps, given["steps"] // 10)
            if name == "model" and "n_ctx" not in given and "block_size" in (data.get("corpus") or {}):
                given["n_ctx"] = data["corpus"]["block_size"]
            try:
                values[name] = dataclasses.replace(current, **given)
            except TypeError as error:
                raise ConfigError(f"[{name}]: {error}") from None
        return cls(**values)

    def with_overrides(self, overrides: dict[str, Any]) -> "BirthplaceConfig":
        """This config with dotted fields set: {"pretrain.steps": 100, "architecture": "perceiver_ar"}."""
        data: dict[str, Any] = {}
        for key, value in overrides.items():
            section, dot, name = key.partition(".")
            if dot:
                data.setdefault(section, {})[name] = value
            else:
                data[section] = value
        return BirthplaceConfig.from_dict(data, base=self)
