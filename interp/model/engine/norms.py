"""The normalisations of a native TransformerBridge block: LN, LNPre, RMS, RMSPre, or none.

LN and LNPre run through the fused `F.layer_norm` (training speed); RMS and RMSPre compute their statistic in
float32 and cast back before the per-channel weight, as the native bridge does. `centre` and `root_mean_square`
are the two steps of LayerNorm for modules that hook the scale itself (interp.variants.layers).

>>> import torch
>>> x = torch.tensor([[1.0, 2.0, 3.0, 6.0]])
>>> normalize(x, "LNPre").sum().abs() < 1e-6, normalize(x, None) is x
(tensor(True), True)
>>> torch.allclose(normalize(x, "RMSPre"), x / root_mean_square(x, 1e-5))
True
>>> normalize(x, "BatchNorm")
Traceback (most recent call last):
    ...
interp.model.engine.norms.NormalizationError: unknown normalization 'BatchNorm'; known: LN, LNPre, RMS, RMSPre, None
"""

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor

from interp.core.errors import ConfigError

NORMALIZATIONS = ("LN", "LNPre", "RMS", "RMSPre", None)
_CANONICAL = {kind.upper(): kind for kind in NORMALIZATIONS if kind is not None}


class NormalizationError(ConfigError):
    """A normalization type outside `NORMALIZATIONS`."""


def normalization_kind(name: str | None) -> str | None:
    """`name` spelled as in ModelConfig ("LN", "LNPre", "RMS", "RMSPre" or None); TransformerLens compares upper-case."""
    if name is None:
        return None
    kind = _CANONICAL.get(name.upper()) if isinstance(name, str) else None
    if kind is None:
        raise NormalizationError(f"unknown normalization {name!r}; known: LN, LNPre, RMS, RMSPre, None")
    return kind


def centre(x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
    """x minus its mean over the model axis."""
    return x - x.mean(dim=-1, keepdim=True)


def root_mean_square(x: Float[Tensor, "... d_model"], eps: float) -> Float[Tensor, "... 1"]:
    """sqrt(mean(x^2) + eps) over the model axis: the scale LayerNorm (of centred x) and RMSNorm divide by."""
    return (x.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt()


def _rms_normalized(x: Tensor, eps: float) -> Tensor:
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + eps)).to(x.dtype)


def normalize(
    x: Float[Tensor, "... d_model"],
    kind: str | None,
    weight: Float[Tensor, " d_model"] | None = None,
    bias: Float[Tensor, " d_model"] | None = None,
    eps: float = 1e-5,
) -> Float[Tensor, "... d_model"]:
    """The normalisation `kind` of x, with LN's weight and bias or RMS's weight (the Pre kinds take none)."""
    kind = normalization_kind(kind)
    if kind is None:
        return x
    if kind == "LN":
        return F.layer_norm(x, x.shape[-1:], weight, bias, eps)
    if kind == "LNPre":
        return F.layer_norm(x, x.shape[-1:], None, None, eps)
    normed = _rms_normalized(x, eps)
    return normed if kind == "RMSPre" else weight * normed
