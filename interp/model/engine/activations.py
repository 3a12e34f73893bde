"""The MLP activation functions, by TransformerLens `act_fn` name: the one table every forward in interp uses.

The formulas are those of the native bridge (`transformer_lens.model_bridge.sources.native.model`), so a model
computes the same function whichever forward runs it.

>>> import torch
>>> activation("gelu_new")(torch.tensor([0.0, 1.0])).round(decimals=4)
tensor([0.0000, 0.8412])
>>> activation("tanh")
Traceback (most recent call last):
    ...
interp.model.engine.activations.ActivationError: unknown MLP activation 'tanh'; known: gelu, gelu_new, relu, silu, solu, swish
"""

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from interp.core.errors import ConfigError

Activation = Callable[[Tensor], Tensor]

ACTIVATIONS: dict[str, Activation] = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,  # TransformerLens's other name for silu
    "solu": lambda x: x * F.softmax(x, dim=-1),
}


class ActivationError(ConfigError):
    """An MLP activation name outside `ACTIVATIONS`."""


def activation(name: str) -> Activation:
    """The activation called `name` (case-insensitive, as TransformerLens reads `act_fn`)."""
    found = ACTIVATIONS.get(name.lower()) if isinstance(name, str) else None
    if found is None:
        raise ActivationError(f"unknown MLP activation {name!r}; known: {', '.join(sorted(ACTIVATIONS))}")
    return found
