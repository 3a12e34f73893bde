"""Validation helpers shared by every config dataclass, and the nested-dict plumbing of config files.

Each layer keeps its own config type beside its code (`interp.model.config.ModelConfig`,
`interp.text.config.DataConfig`, `interp.train.config.TrainConfig` and `RunConfig`,
`interp.train.noise_config.NoiseConfig`); all of them validate through these helpers, so every bad value is
one `ConfigError` line naming the field.

>>> apply_overrides({"train": {"lr": 1e-3}}, {"train.lr": 3e-4, "model.n_layers": 2})
{'train': {'lr': 0.0003}, 'model': {'n_layers': 2}}
"""

from dataclasses import fields
from typing import Any

from interp.core.errors import ConfigError


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def positive_int(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        require(
            is_int(value) and value > 0,
            f"{type(obj).__name__}.{name} must be a positive integer, got {value!r}",
        )


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A real number that is not a bool (TOML gives ints, floats, strings, booleans and tables)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def one_of(obj: Any, name: str, allowed: tuple) -> None:
    value = getattr(obj, name)
    require(value in allowed, f"{type(obj).__name__}.{name} must be one of {allowed}, got {value!r}")


def fraction(obj: Any, name: str, *, low_open: bool = False, high_open: bool = False) -> None:
    value = getattr(obj, name)
    ok = is_number(value) and (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    require(ok, f"{type(obj).__name__}.{name} must be a number in [0, 1], got {value!r}")


def build_section(cls: type, values: dict[str, Any], section: str) -> Any:
    require(isinstance(values, dict), f"[{section}] must be a table of fields, got {type(values).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    require(not unknown, f"unknown field(s) {', '.join(section + '.' + u for u in unknown)}; valid: {', '.join(sorted(names))}")
    try:
        return cls(**values)
    except TypeError as error:  # a missing required field
        raise ConfigError(f"[{section}]: {error}") from None


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of nested config `data` with dotted keys set: {"train.lr": 3e-4}."""
    result = {section: dict(values) for section, values in data.items()}
    for key, value in overrides.items():
        section, dot, name = key.partition(".")
        require(bool(dot) and bool(name), f"override {key!r} must look like section.field, e.g. train.lr=3e-4")
        result.setdefault(section, {})[name] = value
    return result
