"""The training-noise config: `NoiseConfig`, where and how noise is injected while training (interp.train.noise)."""

import math
from dataclasses import dataclass

from interp.core.config import is_int, is_number, one_of, require
from interp.core.errors import ConfigError
from interp.model.config import ModelConfig
from interp.model.sites import Site, SiteError

NOISE_PLACES = ("none", "activation", "weights", "attn_scores", "tokens", "labels")
NOISE_KINDS = ("gaussian", "uniform", "multiplicative")
# Activation sites the training forward (interp.train.fast_forward) can perturb. The attention pattern is left out
# on purpose: additive noise after the softmax would put weight on future positions; perturb the scores instead.
NOISE_ACTIVATION_KINDS = (
    "embed",
    "pos_embed",
    "resid_pre",
    "resid_mid",
    "resid_post",
    "attn_out",
    "mlp_out",
    "mlp_pre",
    "mlp_post",
    "q",
    "k",
    "v",
    "z",
)
_MLP_SITE_KINDS = ("resid_mid", "mlp_out", "mlp_pre", "mlp_post")


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
        one_of(self, "where", NOISE_PLACES)
        require(isinstance(self.site, str), f"noise.site must be a string such as 'resid_pre1', got {self.site!r}")
        require(is_int(self.seed) and 0 <= self.seed < 2**63, f"noise.seed must be an integer in [0, 2**63), got {self.seed!r}")
        if self.where == "none":
            require(
                not self.site and self.kind is None and self.scale == 0,
                "noise.site/kind/scale are set but noise.where is 'none'; set noise.where to one of "
                f"{NOISE_PLACES[1:]} or drop them",
            )
            return
        require(
            is_number(self.scale) and 0 <= self.scale < math.inf,
            f"noise.scale must be a finite number >= 0, got {self.scale!r}",
        )
        if self.where in ("tokens", "labels"):
            require(
                self.kind in (None, "uniform"),
                f"noise.kind for {self.where} noise must be 'uniform' (a token is replaced by a uniformly random one), "
                f"got {self.kind!r}",
            )
            require(
                self.scale <= 1, f"noise.scale for {self.where} noise is a replacement probability in [0, 1], got {self.scale!r}"
            )
            require(not self.site, f"{self.where} noise takes no noise.site (got {self.site!r}); leave it empty")
            object.__setattr__(self, "kind", "uniform")
            return
        if self.kind is None:  # frozen: resolve the default once, here
            object.__setattr__(self, "kind", "gaussian")
        one_of(self, "kind", NOISE_KINDS)
        if self.where == "weights":
            require(not self.site, f"weight noise perturbs every weight matrix and takes no noise.site (got {self.site!r})")
        else:
            require(
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
            require(
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
            require(
                site.kind in NOISE_ACTIVATION_KINDS,
                f"noise.site {self.site!r}: the training forward cannot perturb {site.kind}; use one of "
                f"{', '.join(NOISE_ACTIVATION_KINDS)}",
            )
        return site

    def check_model(self, model: ModelConfig) -> None:
        """Raise ConfigError unless `model` has the noise site and the training forward can perturb it."""
        if self.where in ("activation", "attn_scores"):
            require(
                model.positional_embedding_type == "standard",
                f"{self.where} noise needs the hook-free training forward, which does not cover "
                f"{model.positional_embedding_type} positions; use noise.where = 'weights', 'tokens' or 'labels'",
            )
        site = self.parsed_site
        if site is None:
            return
        require(
            site.layer is None or site.layer < model.n_layers,
            f"noise.site {self.site!r}: layer {site.layer} is out of range; the model has layers 0..{model.n_layers - 1}",
        )
        require(
            site.head is None or site.head < model.n_heads,
            f"noise.site {self.site!r}: head {site.head} is out of range; the model has heads 0..{model.n_heads - 1}",
        )
        require(
            not (model.attn_only and site.kind in _MLP_SITE_KINDS),
            f"noise.site {self.site!r}: an attention-only model has no MLP (no {site.kind}); choose another site",
        )
