"""Named model + data + training recipes, stored as TOML files in `models/presets/`.

The files ship inside the package too: `interp/train/preset_files` is a link to `models/presets`, which a
wheel carries as package data, so an installed interp reads them through importlib.resources. The
environment variable `INTERP_PRESETS` points at another folder of TOML files instead.

>>> sorted(list_presets())[:2]
['2l-mlp', 'attn-only-1l']
>>> run_config("attn-only-2l", overrides={"train.steps": 100}).train.steps
100
"""

import os
import tomllib
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from interp.core.config import apply_overrides
from interp.core.errors import ConfigError
from interp.train.config import RunConfig

PRESETS_ENV = "INTERP_PRESETS"


def preset_dir() -> Traversable:
    """Where the presets are read from: $INTERP_PRESETS if set, else the package's own copy of models/presets."""
    override = os.environ.get(PRESETS_ENV)
    return Path(override) if override else files("interp.train") / "preset_files"


def list_presets() -> list[str]:
    folder = preset_dir()
    if not folder.is_dir():
        return []
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml") and p.is_file())


def _parse_toml(text: str, source: object) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source} is not valid TOML: {error}") from None


def read_toml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    return _parse_toml(path.read_text(), path)


def preset(name: str) -> dict[str, Any]:
    """The raw nested dict of a preset."""
    file = preset_dir() / f"{name}.toml"
    if not file.is_file():
        available = list_presets()
        where = f"available: {', '.join(available)}" if available else f"no presets found in {preset_dir()}"
        raise ConfigError(f"unknown preset {name!r}; {where}")
    return _parse_toml(file.read_text(), file)


def parse_override(text: str) -> tuple[str, Any]:
    """'train.lr=3e-4' -> ('train.lr', 0.0003); values are TOML literals, bare words are strings."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} must look like section.field=value, e.g. train.lr=3e-4")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def run_config(
    name: str | None = None,
    *,
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """A preset, optionally merged with a TOML file's sections, then dotted overrides, validated."""
    if name is None and config_file is None:
        raise ConfigError("give a preset name or a config file")
    data: dict[str, Any] = preset(name) if name else {}
    if config_file is not None:
        for section, values in read_toml(config_file).items():
            data.setdefault(section, {})
            if not isinstance(values, dict):
                raise ConfigError(f"{config_file}: [{section}] must be a table")
            data[section] = {**data[section], **values}
    return RunConfig.from_dict(apply_overrides(data, overrides or {}))
