"""A site's activation as one vector per token, the shape a dictionary reads and writes.

Residual and MLP sites already are `[batch pos d]`; per-head sites are flattened over their head axis
(`z1` -> `[batch pos head*d_head]`, as SAELens's `reshape_activations="hook_z"`), and a site with one head
(`z1h2`, `head_out1h2`) is that head's vector alone.

>>> import torch
>>> from interp.model.config import ModelConfig
>>> cfg = ModelConfig(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4, d_vocab=11, attn_only=True)
>>> vector_width(Site.z(1), cfg), vector_width(Site.head_out(1, 2), cfg), vector_width(Site.resid_post(0), cfg)
(32, 32, 32)
>>> z = torch.randn(2, 5, 4, 8)
>>> torch.equal(from_vectors(Site.z(1), to_vectors(Site.z(1), z), cfg), z)
True
"""

import math

from jaxtyping import Float
from torch import Tensor

from interp.core.errors import ConfigError
from interp.model.sites import Site


def vector_width(site: Site, cfg) -> int:
    """Features of one token's vector at `site` for a model config."""
    if site.pos_axis is None or site.kind in ("pattern", "attn_scores"):
        raise ConfigError(f"{site}: a dictionary needs one vector per token; choose a residual, MLP, z or head_out site")
    return math.prod(site.shape(cfg, pos=1)[1:])


def to_vectors(site: Site, value: Tensor) -> Float[Tensor, "batch pos d"]:
    """The site's value (as `site_value` gives it: one head selected, head_out derived) as token vectors."""
    return value.flatten(start_dim=2) if value.ndim > 3 else value


def from_vectors(site: Site, vectors: Float[Tensor, "batch pos d"], cfg) -> Tensor:
    """Token vectors back in the site's own shape (the inverse of `to_vectors`)."""
    rest = site.shape(cfg, pos=vectors.shape[1])[1:]
    return vectors.reshape(*vectors.shape[:2], *rest)


__all__ = ["from_vectors", "to_vectors", "vector_width"]
