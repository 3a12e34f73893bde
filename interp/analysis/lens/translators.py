"""The tuned lens's translators: one affine map per layer, from the residual stream entering that layer to an
estimate of the final residual stream (Belrose et al. 2023, "Eliciting latent predictions with the tuned lens").

Each translator is x @ weight[layer] + bias[layer], initialised to the identity and zero, so an untrained tuned
lens is the logit lens; the logit lens itself is "no translator" (None) in every function that takes a lens.
Layer n_layers (the final stream) is never translated.

>>> lens = TunedLens(n_layers=2, d_model=4)
>>> x = torch.randn(3, 4)
>>> torch.equal(lens.translate(x, 1), x)                     # identity before training
True
>>> lens.translate(x, 2)
Traceback (most recent call last):
    ...
interp.analysis.lens.translators.LensError: the tuned lens has translators for layers 0..1 (the stream entering each block); layer 2 does not exist
"""

import torch
from jaxtyping import Float
from torch import Tensor

from interp.core.errors import DataError


class LensError(DataError):
    """A lens was asked of a layer the model does not have, or does not fit the model."""


def check_layers(layers, n_layers: int) -> tuple[int, ...]:
    """Lens entries as a tuple: layer L < n_layers reads the stream entering block L, n_layers the final stream."""
    if layers is None:
        return tuple(range(n_layers + 1))
    chosen = tuple(int(layer) for layer in layers)
    bad = [layer for layer in chosen if not 0 <= layer <= n_layers]
    if bad or not chosen:
        raise LensError(
            f"lens layer {bad[0] if bad else '(none)'} does not exist: the model has layers 0..{n_layers - 1} "
            f"(the stream entering each block) and {n_layers} (the final stream)"
        )
    return tuple(sorted(set(chosen)))


class TunedLens(torch.nn.Module):
    """Affine translators [layer d_model d_model] and [layer d_model], identity and zero at the start."""

    def __init__(self, n_layers: int, d_model: int):
        super().__init__()
        if n_layers < 1 or d_model < 1:
            raise LensError(f"a tuned lens needs n_layers >= 1 and d_model >= 1, got {n_layers}, {d_model}")
        self.weight = torch.nn.Parameter(torch.eye(d_model).repeat(n_layers, 1, 1))
        self.bias = torch.nn.Parameter(torch.zeros(n_layers, d_model))

    @property
    def n_layers(self) -> int:
        return self.weight.shape[0]

    @property
    def d_model(self) -> int:
        return self.weight.shape[-1]

    def check_fits(self, n_layers: int, d_model: int) -> "TunedLens":
        if (self.n_layers, self.d_model) != (n_layers, d_model):
            raise LensError(
                f"the tuned lens was trained for {self.n_layers} layers of width {self.d_model}, "
                f"not this model's {n_layers} x {d_model}; train one for this run (interp lens)"
            )
        return self

    def translate(self, resid: Float[Tensor, "... d_model"], layer: int) -> Float[Tensor, "... d_model"]:
        """The stream entering block `layer` mapped towards the final stream (on the stream's device)."""
        if not 0 <= layer < self.n_layers:
            raise LensError(
                f"the tuned lens has translators for layers 0..{self.n_layers - 1} (the stream entering each block); "
                f"layer {layer} does not exist"
            )
        weight, bias = self.weight[layer].to(resid.device, resid.dtype), self.bias[layer].to(resid.device, resid.dtype)
        return resid @ weight + bias


def translate(lens: TunedLens | None, resid: Tensor, layer: int, n_layers: int) -> Tensor:
    """`resid` as the lens reads it at `layer`: unchanged for the logit lens (None) and for the final stream."""
    if lens is None or layer == n_layers:
        return resid
    return lens.translate(resid, layer)
