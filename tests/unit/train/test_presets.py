"""Where presets come from: the package's own copy of models/presets (package data, read through
importlib.resources), or the folder named by $INTERP_PRESETS."""

from pathlib import Path

import pytest

from interp.core.errors import ConfigError
from interp.train.presets import PRESETS_ENV, list_presets, preset, preset_dir, run_config

MODELS_PRESETS = Path(__file__).resolve().parents[3] / "models" / "presets"


def test_the_package_reads_the_presets_of_models_presets(monkeypatch):
    monkeypatch.delenv(PRESETS_ENV, raising=False)
    assert Path(str(preset_dir())).resolve() == MODELS_PRESETS.resolve()
    assert list_presets() == sorted(p.stem for p in MODELS_PRESETS.glob("*.toml"))
    assert preset("attn-only-2l")["model"]["n_layers"] == 2


def test_interp_presets_points_elsewhere(monkeypatch, tmp_path):
    (tmp_path / "mine.toml").write_text("[model]\nn_layers = 3\nd_model = 32\nn_heads = 4\nd_head = 8\nn_ctx = 16\n")
    monkeypatch.setenv(PRESETS_ENV, str(tmp_path))
    assert list_presets() == ["mine"] and run_config("mine").model.n_layers == 3
    with pytest.raises(ConfigError, match="unknown preset 'attn-only-2l'; available: mine"):
        preset("attn-only-2l")
    monkeypatch.setenv(PRESETS_ENV, str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="no presets found in"):
        preset("mine")
