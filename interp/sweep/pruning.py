"""The `pruner` of a sweep spec: which Optuna pruner stops unpromising trials on their intermediate validation loss.

Each evaluation during training reports the spec's metric at its training step (`trial.report(value, step)`), so
step counts (n_warmup_steps, min_resource) are training steps. In TOML, `pruner = "median"` or a table:

    [pruner]
    type = "median"            # none | median | successive-halving
    n_startup_trials = 2       # trials finished before any is pruned
    n_warmup_steps = 100       # training steps before a trial may be pruned

>>> spec = parse_pruner({"type": "successive-halving", "min_resource": 50})
>>> spec.kind, type(spec.build()).__name__, spec.to_dict()
('successive-halving', 'SuccessiveHalvingPruner', {'type': 'successive-halving', 'min_resource': 50})
>>> parse_pruner(None).build().__class__.__name__      # the default: median
'MedianPruner'
"""

from dataclasses import dataclass
from typing import Any

import optuna

from interp.core.errors import ConfigError

DEFAULT = "median"
# each pruner's parameters and their defaults (Optuna's)
PARAMETERS: dict[str, dict[str, Any]] = {
    "none": {},
    "median": {"n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1, "n_min_trials": 1},
    "successive-halving": {"min_resource": "auto", "reduction_factor": 4, "min_early_stopping_rate": 0},
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class PrunerSpec:
    """A pruner by name and the parameters given (the others take Optuna's defaults)."""

    kind: str = DEFAULT
    parameters: tuple[tuple[str, Any], ...] = ()

    def build(self) -> optuna.pruners.BasePruner:
        values = dict(self.parameters)
        if self.kind == "none":
            return optuna.pruners.NopPruner()
        if self.kind == "median":
            return optuna.pruners.MedianPruner(**values)
        return optuna.pruners.SuccessiveHalvingPruner(**values)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **dict(self.parameters)}


def parse_pruner(value: Any) -> PrunerSpec:
    """`pruner = "median"`, a `[pruner]` table with `type` and parameters, or None (the default, median)."""
    if value is None:
        return PrunerSpec()
    table = {"type": value} if isinstance(value, str) else value
    if not isinstance(table, dict) or not isinstance(table.get("type", DEFAULT), str):
        raise ConfigError(f"pruner must be one of {', '.join(PARAMETERS)} or a [pruner] table with type = ..., got {value!r}")
    kind = table.get("type", DEFAULT)
    if kind not in PARAMETERS:
        raise ConfigError(f"pruner type must be one of {', '.join(PARAMETERS)}, got {kind!r}")
    parameters = {k: v for k, v in table.items() if k != "type"}
    valid = PARAMETERS[kind]
    unknown = sorted(set(parameters) - set(valid))
    if unknown:
        raise ConfigError(
            f"[pruner] {', '.join(unknown)}: not a parameter of the {kind} pruner; it takes {', '.join(valid) or 'none'}"
        )
    for key, given in parameters.items():
        auto = key == "min_resource" and given == "auto"
        low = 1 if key in ("interval_steps", "n_min_trials", "min_resource", "reduction_factor") else 0
        if not auto and not (_is_int(given) and given >= low):
            raise ConfigError(
                f"[pruner] {key} must be an integer >= {low}"
                + (" or 'auto'" if key == "min_resource" else "")
                + f", got {given!r}"
            )
    if kind == "successive-halving" and parameters.get("reduction_factor", 4) < 2:
        raise ConfigError(f"[pruner] reduction_factor must be at least 2, got {parameters['reduction_factor']!r}")
    return PrunerSpec(kind=kind, parameters=tuple(parameters.items()))
