"""Frozen, validated configuration for models, data and training.

`ModelConfig` uses HookedTransformerConfig field names, so a checkpoint's `config.json` loads directly as
`HookedTransformerConfig(**json)` in transformer-lens 3.x and as a `TransformerBridgeConfig` in 4.x.

>>> cfg = ModelConfig(n_layers=2, d_model=64, n_ctx=64, d_head=16, n_heads=4, d_vocab=65, attn_only=True)
>>> cfg.n_params_attention
33280
"""

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any

from interp.analysis.sites import Site, SiteError
from interp.errors import ConfigError

NORMALIZATION_TYPES = ("LN", "LNPre", "RMS", "RMSPre", None)
ACT_FNS = ("gelu", "gelu_new", "relu", "silu", "solu")
POSITIONAL_EMBEDDINGS = ("standard", "rotary")
TOKENIZERS = ("char", "gpt2", "bert")
SCHEDULES = ("constant", "cosine", "wsd")
NOISE_PLACES = ("none", "activation", "weights", "attn_scores", "tokens", "labels")
NOISE_KINDS = ("gaussian", "uniform", "multiplicative")
# Activation sites the training forward (interp.train.fast_forward) can perturb. The attention pattern is left out
# on purpose: additive noise after the softmax would put weight on future positions; perturb the scores instead.
NOISE_ACTIVATION_KINDS = (
    "embed", "pos_embed", "resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "mlp_pre", "mlp_post",
    "q", "k", "v", "z",
)
_MLP_SITE_KINDS = ("resid_mid", "mlp_out", "mlp_pre", "mlp_post")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _positive_int(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        _require(
            _int(value) and value > 0,
            f"{type(obj).__name__}.{name} must be a positive integer, got {value!r}",
        )


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    """A real number that is not a bool (TOML gives ints, floats, strings, booleans and tables)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _one_of(obj: Any, name: str, allowed: tuple) -> None:
    value = getattr(obj, name)
    _require(value in allowed, f"{type(obj).__name__}.{name} must be one of {allowed}, got {value!r}")


def _fraction(obj: Any, name: str, *, low_open: bool = False, high_open: bool = False) -> None:
    value = getattr(obj, name)
    ok = _number(value) and (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    _require(ok, f"{type(obj).__name__}.{name} must be a number in [0, 1], got {value!r}")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Architecture of a decoder-only transformer, in HookedTransformerConfig terms.

    `d_vocab = -1` means "take it from the tokenizer" and is resolved by `with_vocab` before a model is built.
    `d_mlp = None` with `attn_only = False` becomes 4 * d_model.
    """

    n_layers: int
    d_model: int
    n_ctx: int
    d_head: int
    n_heads: int
    d_vocab: int = -1
    d_mlp: int | None = None
    attn_only: bool = False
    act_fn: str = "gelu"
    normalization_type: str | None = "LN"
    positional_embedding_type: str = "standard"
    seed: int = 0
    model_name: str = "interp"

    def __post_init__(self) -> None:
        _positive_int(self, "n_layers", "d_model", "n_ctx", "d_head", "n_heads")
        _require(
            self.d_model == self.n_heads * self.d_head,
            f"d_model ({self.d_model}) must equal n_heads * d_head ({self.n_heads} * {self.d_head} = "
            f"{self.n_heads * self.d_head}); change one of the three",
        )
        _require(
            _int(self.d_vocab) and (self.d_vocab == -1 or self.d_vocab > 1),
            f"ModelConfig.d_vocab must be > 1, or -1 to take it from the tokenizer; got {self.d_vocab!r}",
        )
        if self.attn_only:
            _require(self.d_mlp is None, "an attention-only model has no MLP: leave d_mlp unset or set attn_only=false")
        else:
            if self.d_mlp is None:  # frozen: resolve the HookedTransformer default once, here
                object.__setattr__(self, "d_mlp", 4 * self.d_model)
            _positive_int(self, "d_mlp")
        _one_of(self, "act_fn", ACT_FNS)
        _one_of(self, "normalization_type", NORMALIZATION_TYPES)
        _one_of(self, "positional_embedding_type", POSITIONAL_EMBEDDINGS)
        _require(
            self.positional_embedding_type != "rotary" or self.d_head % 2 == 0,
            f"rotary embeddings need an even d_head, got {self.d_head}",
        )
        _require(
            _int(self.seed) and 0 <= self.seed < 2**63,
            f"ModelConfig.seed must be an integer in [0, 2**63), got {self.seed!r}",
        )
        _require(isinstance(self.attn_only, bool), f"ModelConfig.attn_only must be true or false, got {self.attn_only!r}")
        _require(isinstance(self.model_name, str), f"ModelConfig.model_name must be a string, got {self.model_name!r}")

    @property
    def n_params_attention(self) -> int:
        """Parameters in the attention layers (Q, K, V, O weights and biases)."""
        per_layer = 4 * self.d_model * self.n_heads * self.d_head + 3 * self.n_heads * self.d_head + self.d_model
        return self.n_layers * per_layer

    def with_vocab(self, d_vocab: int) -> "ModelConfig":
        """This config with d_vocab set; an explicit d_vocab that disagrees with the tokenizer is an error."""
        if self.d_vocab not in (-1, d_vocab):
            raise ConfigError(
                f"model d_vocab={self.d_vocab} does not match the tokenizer's vocabulary size {d_vocab}; "
                "set model.d_vocab = -1 to take it from the tokenizer"
            )
        return dataclasses.replace(self, d_vocab=d_vocab)

    def to_hooked_transformer_dict(self) -> dict[str, Any]:
        """The fields of a HookedTransformerConfig describing this model (the content of config.json)."""
        _require(self.d_vocab > 0, "resolve d_vocab (ModelConfig.with_vocab) before saving or building a model")
        d_mlp = self.d_mlp
        return {
            "model_name": self.model_name,
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "n_ctx": self.n_ctx,
            "d_head": self.d_head,
            "n_heads": self.n_heads,
            "d_mlp": d_mlp,
            "d_vocab": self.d_vocab,
            "d_vocab_out": self.d_vocab,
            "act_fn": None if self.attn_only else self.act_fn,
            "attn_only": self.attn_only,
            "normalization_type": self.normalization_type,
            "positional_embedding_type": self.positional_embedding_type,
            "original_architecture": "interp",
            "seed": self.seed,
            "tokenizer_name": None,
            "default_prepend_bos": False,
        }

    @classmethod
    def from_hooked_transformer_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Inverse of `to_hooked_transformer_dict` (extra HookedTransformerConfig fields are ignored)."""
        attn_only = bool(data.get("attn_only", False))
        return cls(
            n_layers=data["n_layers"],
            d_model=data["d_model"],
            n_ctx=data["n_ctx"],
            d_head=data["d_head"],
            n_heads=data["n_heads"],
            d_vocab=data["d_vocab"],
            d_mlp=None if attn_only else data.get("d_mlp"),
            attn_only=attn_only,
            act_fn=data.get("act_fn") or "gelu",
            normalization_type=data.get("normalization_type"),
            positional_embedding_type=data.get("positional_embedding_type", "standard"),
            seed=data.get("seed") or 0,
            model_name=data.get("model_name", "interp"),
        )


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """What the model is trained on.

    Each batch holds `repeated_fraction` synthetic sequences (random tokens from the tokenizer's vocabulary with
    one span repeated at a random offset — the data that makes induction heads form quickly) and the rest are
    rows of the packed `corpus`. `corpus = "none"` trains on synthetic sequences alone.
    `compact_vocab = true` (GPT-2/BERT only) keeps just the token ids the corpus uses, renumbered and saved
    with the run (`interp.compact_tokenizer`): a far smaller embedding and unembedding on a CPU.
    `ioi_extra_names` (corpus "ioi" only) adds that many census names to the IOI training names; the held-out
    names and templates stay the same (`interp.data.ioi.IOISetup`).
    """

    corpus: str = "shakespeare"
    tokenizer: str = "char"
    repeated_fraction: float = 0.0
    span_min: int = 8
    span_max: int = 32
    val_fraction: float = 0.05
    max_documents: int | None = None
    compact_vocab: bool = False
    ioi_extra_names: int = 0

    def __post_init__(self) -> None:
        _require(
            isinstance(self.corpus, str) and bool(self.corpus),
            f"data.corpus must be a corpus name such as 'shakespeare', or 'none'; got {self.corpus!r}",
        )
        _one_of(self, "tokenizer", TOKENIZERS)
        _fraction(self, "repeated_fraction")
        _fraction(self, "val_fraction", low_open=True, high_open=True)
        _positive_int(self, "span_min", "span_max")
        _require(self.span_min <= self.span_max, f"data.span_min ({self.span_min}) must be <= data.span_max ({self.span_max})")
        _require(
            self.corpus != "none" or self.repeated_fraction == 1.0,
            "data.corpus = 'none' needs data.repeated_fraction = 1.0 (nothing else to train on)",
        )
        if self.max_documents is not None:
            _positive_int(self, "max_documents")
        _require(isinstance(self.compact_vocab, bool), f"data.compact_vocab must be true or false, got {self.compact_vocab!r}")
        _require(
            _int(self.ioi_extra_names) and self.ioi_extra_names >= 0 and (self.ioi_extra_names == 0 or self.corpus == "ioi"),
            f"data.ioi_extra_names (more training names for data.corpus = 'ioi') must be an integer >= 0, and 0 for other corpora; got {self.ioi_extra_names!r} with corpus {self.corpus!r}",
        )
        _require(
            not self.compact_vocab or (self.tokenizer in ("gpt2", "bert") and self.corpus not in ("none", "ioi")),
            "data.compact_vocab = true keeps the GPT-2/BERT ids a text corpus uses: it needs data.tokenizer = 'gpt2' "
            f"or 'bert' and a text corpus (got tokenizer {self.tokenizer!r}, corpus {self.corpus!r})",
        )


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """One plain AdamW loop: warmup then a constant, cosine or "wsd" learning rate, gradient clipping, periodic eval.

    "wsd" (warmup, stable, decay) holds the learning rate constant, then decays it linearly to `min_lr_ratio * lr`
    over the last `decay_steps` steps; a constant run can later be given such a decay (`--resume`) exactly.

    Checkpoints are written at `n_checkpoints` log-spaced steps, plus every `checkpoint_every` steps when that is
    set (evenly spaced checkpoints resolve a phase change that happens late in training).
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

    def __post_init__(self) -> None:
        _positive_int(self, "steps", "batch_size", "eval_every", "eval_batches")
        _require(
            _int(self.n_checkpoints) and self.n_checkpoints >= 2,
            f"train.n_checkpoints must be an integer >= 2 (the first and last step), got {self.n_checkpoints!r}",
        )
        _require(
            _int(self.checkpoint_every) and self.checkpoint_every >= 0,
            f"train.checkpoint_every must be an integer >= 0 (0: log-spaced checkpoints only), got {self.checkpoint_every!r}",
        )
        _require(_number(self.lr) and 0 < self.lr < 1, f"train.lr must be in (0, 1), got {self.lr!r}")
        _require(
            _number(self.weight_decay) and 0 <= self.weight_decay < math.inf,
            f"train.weight_decay must be a finite number >= 0, got {self.weight_decay!r}",
        )
        for name in ("beta1", "beta2"):
            _fraction(self, name, high_open=True)
        _require(
            _int(self.warmup_steps) and 0 <= self.warmup_steps <= self.steps,
            f"train.warmup_steps must be between 0 and train.steps ({self.steps}), got {self.warmup_steps!r}",
        )
        _one_of(self, "schedule", SCHEDULES)
        _fraction(self, "min_lr_ratio")
        if self.schedule == "wsd":
            _require(
                _int(self.decay_steps) and 0 < self.decay_steps <= self.steps - self.warmup_steps,
                f"train.decay_steps must be in (0, train.steps - train.warmup_steps = {self.steps - self.warmup_steps}] for schedule 'wsd', got {self.decay_steps!r}",
            )
        else:
            _require(self.decay_steps == 0, f"train.decay_steps is for schedule 'wsd' (got schedule {self.schedule!r}); set train.schedule = 'wsd' or drop decay_steps")
        _require(
            _number(self.grad_clip) and 0 <= self.grad_clip < math.inf,
            f"train.grad_clip must be >= 0 (0 turns clipping off), got {self.grad_clip!r}",
        )
        _require(_int(self.seed) and self.seed >= 0, f"train.seed must be an integer >= 0, got {self.seed!r}")
        _require(_int(self.threads) and self.threads >= 0, f"train.threads must be >= 0 (0 = torch default), got {self.threads!r}")


@dataclass(frozen=True, kw_only=True)
class NoiseConfig:
    """Noise injected while training (never at evaluation, never into checkpoints); the default is no noise.

    `where` picks the place: "activation" (the hook site `site`, e.g. "resid_pre1", "blocks.0.hook_attn_out",
    "z1h2" for one head; resid_mid means the residual stream itself, as in HookedTransformer), "weights" (every weight matrix and embedding, for the forward and backward of a step),
    "attn_scores" (before the causal mask and softmax; `site` "attn_scores1" or "attn_scores1h0" for one layer or
    head, empty for every layer), "tokens" (input tokens; the targets stay clean) or "labels" (targets only).
    `kind`: "gaussian" adds scale * N(0, 1), "uniform" adds scale * U(-1, 1), "multiplicative" multiplies by
    1 + scale * N(0, 1); for tokens and labels `scale` is the probability of replacing a token with one drawn
    uniformly from the training vocabulary (kind "uniform", the default there). Draws come from a generator seeded
    by (seed, step), so a resumed run draws what an uninterrupted one would.

    >>> NoiseConfig(where="activation", site="blocks.1.hook_resid_pre", scale=0.5)
    NoiseConfig(where='activation', site='resid_pre1', kind='gaussian', scale=0.5, seed=0)
    """

    where: str = "none"
    site: str = ""
    kind: str | None = None
    scale: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        _one_of(self, "where", NOISE_PLACES)
        _require(isinstance(self.site, str), f"noise.site must be a string such as 'resid_pre1', got {self.site!r}")
        _require(_int(self.seed) and 0 <= self.seed < 2**63, f"noise.seed must be an integer in [0, 2**63), got {self.seed!r}")
        if self.where == "none":
            _require(
                not self.site and self.kind is None and self.scale == 0,
                "noise.site/kind/scale are set but noise.where is 'none'; set noise.where to one of "
                f"{NOISE_PLACES[1:]} or drop them",
            )
            return
        _require(
            _number(self.scale) and 0 <= self.scale < math.inf,
            f"noise.scale must be a finite number >= 0, got {self.scale!r}",
        )
        if self.where in ("tokens", "labels"):
            _require(
                self.kind in (None, "uniform"),
                f"noise.kind for {self.where} noise must be 'uniform' (a token is replaced by a uniformly random one), "
                f"got {self.kind!r}",
            )
            _require(self.scale <= 1, f"noise.scale for {self.where} noise is a replacement probability in [0, 1], got {self.scale!r}")
            _require(not self.site, f"{self.where} noise takes no noise.site (got {self.site!r}); leave it empty")
            object.__setattr__(self, "kind", "uniform")
            return
        if self.kind is None:  # frozen: resolve the default once, here
            object.__setattr__(self, "kind", "gaussian")
        _one_of(self, "kind", NOISE_KINDS)
        if self.where == "weights":
            _require(not self.site, f"weight noise perturbs every weight matrix and takes no noise.site (got {self.site!r})")
        else:
            _require(
                bool(self.site) or self.where == "attn_scores",
                "activation noise needs noise.site, a hook site such as 'resid_pre1' or 'blocks.0.hook_attn_out'",
            )
            if self.site:  # one spelling per site, so equal configs compare equal
                object.__setattr__(self, "site", str(self.parsed_site))

    @property
    def enabled(self) -> bool:
        return self.where != "none"

    @property
    def parsed_site(self) -> Site | None:
        """The hook site as a `Site` (None when the place takes no site)."""
        if not self.site:
            return None
        try:
            site = Site.parse(self.site)
        except SiteError as error:
            raise ConfigError(f"noise.site: {error}") from None
        if self.where == "attn_scores":
            _require(
                site.kind == "attn_scores",
                f"noise.site for attn_scores noise must be an attention-score site such as 'attn_scores1' or "
                f"'blocks.1.attn.hook_attn_scores' (or empty for every layer), got {self.site!r}",
            )
        elif site.kind == "pattern":
            raise ConfigError(
                "noise on the attention pattern would put weight on future positions; use noise.where = 'attn_scores' "
                "(noise before the softmax keeps the pattern causal and normalised)"
            )
        elif site.kind == "attn_scores":
            raise ConfigError("for noise on attention scores set noise.where = 'attn_scores' (not 'activation')")
        else:
            _require(
                site.kind in NOISE_ACTIVATION_KINDS,
                f"noise.site {self.site!r}: the training forward cannot perturb {site.kind}; use one of "
                f"{', '.join(NOISE_ACTIVATION_KINDS)}",
            )
        return site

    def check_model(self, model: ModelConfig) -> None:
        """Raise ConfigError unless `model` has the noise site and the training forward can perturb it."""
        if self.where in ("activation", "attn_scores"):
            _require(
                model.positional_embedding_type == "standard",
                f"{self.where} noise needs the hook-free training forward, which does not cover "
                f"{model.positional_embedding_type} positions; use noise.where = 'weights', 'tokens' or 'labels'",
            )
        site = self.parsed_site
        if site is None:
            return
        _require(
            site.layer is None or site.layer < model.n_layers,
            f"noise.site {self.site!r}: layer {site.layer} is out of range; the model has layers 0..{model.n_layers - 1}",
        )
        _require(
            site.head is None or site.head < model.n_heads,
            f"noise.site {self.site!r}: head {site.head} is out of range; the model has heads 0..{model.n_heads - 1}",
        )
        _require(
            not (model.attn_only and site.kind in _MLP_SITE_KINDS),
            f"noise.site {self.site!r}: an attention-only model has no MLP (no {site.kind}); choose another site",
        )


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Everything needed to reproduce a run: the model, its data, the training loop and any training noise."""

    model: ModelConfig
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    def __post_init__(self) -> None:
        self.noise.check_model(self.model)
        if self.data.repeated_fraction > 0:
            _require(
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
        _require(not unknown, f"unknown config section(s) {sorted(unknown)}; the sections are model, data, train, noise")
        _require("model" in data, "the config has no [model] section")
        return cls(
            model=_build(ModelConfig, data["model"], "model"),
            data=_build(DataConfig, data.get("data", {}), "data"),
            train=_build(TrainConfig, data.get("train", {}), "train"),
            noise=_build(NoiseConfig, data.get("noise", {}), "noise"),  # runs from before noise existed: no noise
        )


def _build(cls: type, values: dict[str, Any], section: str) -> Any:
    _require(isinstance(values, dict), f"[{section}] must be a table of fields, got {type(values).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    _require(not unknown, f"unknown field(s) {', '.join(section + '.' + u for u in unknown)}; valid: {', '.join(sorted(names))}")
    try:
        return cls(**values)
    except TypeError as error:  # a missing required field
        raise ConfigError(f"[{section}]: {error}") from None


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of nested config `data` with dotted keys set: {"train.lr": 3e-4}."""
    result = {section: dict(values) for section, values in data.items()}
    for key, value in overrides.items():
        section, dot, name = key.partition(".")
        _require(bool(dot) and bool(name), f"override {key!r} must look like section.field, e.g. train.lr=3e-4")
        result.setdefault(section, {})[name] = value
    return result

