"""Named model + data + training recipes, stored as TOML files in `models/presets/`.

>>> sorted(list_presets())[:2]
['2l-mlp', 'attn-only-1l']
>>> run_config("attn-only-2l", overrides={"train.steps": 100}).train.steps
100
"""

import os
import tomllib
from pathlib import Path
from typing import Any

from interp.core.config import apply_overrides
from interp.core.errors import ConfigError
from interp.train.config import RunConfig

PRESET_DIR = Path(os.environ.get("INTERP_PRESETS", Path(__file__).resolve().parents[2] / "models" / "presets"))


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def read_toml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def preset(name: str) -> dict[str, Any]:
    """The raw nested dict of a preset."""
    path = PRESET_DIR / f"{name}.toml"
    if not path.exists():
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(list_presets())}")
    return read_toml(path)


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
