"""What one sparse dictionary is and how it is trained: a frozen, validated config.

A dictionary reads the activation of one `Site` (`site`); an SAE reconstructs that activation, a transcoder
(`output_site` set) predicts another site's activation from it (an MLP transcoder: `resid_mid{L}` -> `mlp_out{L}`,
the MLP's input -> its output). `kind` is the activation function:

- "relu": ReLU with an L1 penalty on the feature activations; decoder rows kept at unit norm.
- "topk": the k largest pre-activations per token (Gao et al. 2024).
- "batchtopk": the k * batch largest over a training batch; at inference a single learned threshold
  (Bussmann et al. 2024), so it saves as a JumpReLU dictionary.
- "jumprelu": ReLU gated by a learned per-feature threshold, trained with a straight-through L0 penalty
  (Rajamanoharan et al. 2024).

>>> cfg = SAEConfig(site="resid_post0", kind="topk", n_features=512, k=16)
>>> cfg.input_site, cfg.is_transcoder
(Site.resid_post(0), False)
>>> SAEConfig(site="resid_post0", kind="topk", n_features=512, k=600)
Traceback (most recent call last):
...
interp.core.errors.ConfigError: SAEConfig.k must be at most n_features (512), got 600
"""

from dataclasses import asdict, dataclass, fields
from typing import Any

from interp.core.config import is_int, is_number, one_of, positive_int, require
from interp.core.errors import ConfigError
from interp.model.sites import Site, SiteError

KINDS = ("relu", "topk", "batchtopk", "jumprelu")
NEEDS_K = ("topk", "batchtopk")


@dataclass(frozen=True, kw_only=True)
class SAEConfig:
    """One dictionary's shape and training recipe; every field is checked on construction."""

    site: str
    kind: str = "topk"
    n_features: int = 512
    k: int | None = None
    output_site: str | None = None  # a transcoder's target site (None: an SAE, reconstructing `site`)

    # training
    tokens: int = 2_000_000  # activations (one per token position) seen in training
    batch_tokens: int = 4096  # activations per optimiser step
    lr: float = 3e-3  # demo resid_post0, 512 x TopK-16, 2M tokens: EV 0.951, CE recovered 0.954 (1e-3: 0.902, 0.835)
    warmup_steps: int = 50
    decay_fraction: float = 0.2  # the last fraction of steps decays the learning rate linearly to zero
    l1_coefficient: float = 1.0  # relu: weight of the L1 penalty (inputs are scaled to mean norm sqrt(d_in))
    l0_coefficient: float = 1.0  # jumprelu: weight of the straight-through L0 penalty
    jumprelu_bandwidth: float = 0.05  # jumprelu: width of the straight-through kernel
    jumprelu_init_threshold: float = 0.1
    aux_coefficient: float = 1 / 32  # topk/batchtopk: weight of the auxiliary loss on dead features
    dead_tokens: int = 50_000  # a feature that fired on none of the last this-many training tokens is dead
    buffer_tokens: int = 65_536  # activations held for shuffling (memory: buffer_tokens * d_in * 4 bytes)
    model_rows: int = 64  # corpus rows per model forward when filling the buffer
    skip_positions: int = 0  # leave out the first positions of each row (e.g. 1 for a BOS token)
    checkpoints: int = 4  # training checkpoints written (for exact resume); the final dictionary always
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("site", "output_site"):
            value = getattr(self, name)
            if value is None and name == "output_site":
                continue
            require(isinstance(value, str), f"SAEConfig.{name} must be a site string such as 'resid_post0', got {value!r}")
            try:
                site = Site.parse(value)
            except SiteError as error:
                raise ConfigError(f"SAEConfig.{name}: {error}") from None
            require(
                site.kind != "pattern" and site.kind != "attn_scores",
                f"SAEConfig.{name}: attention patterns are not vectors a dictionary can read; choose z, head_out or a residual site",
            )
        one_of(self, "kind", KINDS)
        positive_int(self, "n_features", "tokens", "batch_tokens", "dead_tokens", "buffer_tokens", "model_rows", "checkpoints")
        require(
            is_int(self.warmup_steps) and self.warmup_steps >= 0,
            f"SAEConfig.warmup_steps must be an integer >= 0, got {self.warmup_steps!r}",
        )
        require(
            is_int(self.skip_positions) and self.skip_positions >= 0,
            f"SAEConfig.skip_positions must be an integer >= 0, got {self.skip_positions!r}",
        )
        require(is_int(self.seed), f"SAEConfig.seed must be an integer, got {self.seed!r}")
        if self.kind in NEEDS_K:
            require(self.k is not None, f"SAEConfig.k is required for kind {self.kind!r} (features active per token), e.g. k=16")
        if self.k is not None:
            require(is_int(self.k) and self.k > 0, f"SAEConfig.k must be a positive integer, got {self.k!r}")
            require(self.k <= self.n_features, f"SAEConfig.k must be at most n_features ({self.n_features}), got {self.k}")
        for name in ("lr", "l1_coefficient", "l0_coefficient", "jumprelu_bandwidth", "jumprelu_init_threshold"):
            value = getattr(self, name)
            require(is_number(value) and value > 0, f"SAEConfig.{name} must be a positive number, got {value!r}")
        require(
            is_number(self.aux_coefficient) and self.aux_coefficient >= 0,
            f"SAEConfig.aux_coefficient must be a number >= 0, got {self.aux_coefficient!r}",
        )
        require(
            is_number(self.decay_fraction) and 0 <= self.decay_fraction <= 1,
            f"SAEConfig.decay_fraction must be in [0, 1], got {self.decay_fraction!r}",
        )
        require(
            self.buffer_tokens >= self.batch_tokens,
            f"SAEConfig.buffer_tokens ({self.buffer_tokens}) must be at least batch_tokens ({self.batch_tokens})",
        )

    @property
    def input_site(self) -> Site:
        return Site.parse(self.site)

    @property
    def target_site(self) -> Site:
        """The site the dictionary's output stands for: `output_site` for a transcoder, else `site`."""
        return Site.parse(self.output_site) if self.output_site else self.input_site

    @property
    def is_transcoder(self) -> bool:
        return self.output_site is not None

    @property
    def steps(self) -> int:
        return max(1, self.tokens // self.batch_tokens)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SAEConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        require(not unknown, f"unknown SAE field(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
        return cls(**values)
