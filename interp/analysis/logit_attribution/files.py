"""Attributions beside their run: RUN/dla/<name>/attribution.{safetensors,json} (one checkpoint, every row) and
series.{safetensors,json} (means and standard errors at every chosen checkpoint). Tensors as safetensors,
everything else as JSON; nothing is unpickled.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> from interp.analysis.logit_attribution.result import BIAS_LABELS
>>> result = LogitAttribution(direction="answer", component_labels=("embed",), bias_labels=BIAS_LABELS,
...     components_by_position=torch.ones(1, 1, 2), heads_by_position=torch.zeros(1, 1, 1, 2),
...     head_biases_by_position=torch.zeros(1, 1, 2), biases=torch.zeros(1, 2), by_source=torch.zeros(1, 1, 1, 2),
...     logit_value=torch.ones(1), positions=torch.tensor([1]))
>>> _ = save_attribution(result, folder, extra={"step": 10})
>>> back, meta = load_attribution(folder)
>>> back.direction, back.total.tolist(), meta["step"]
('answer', [1.0], 10)
"""

from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp.analysis.logit_attribution.result import LogitAttribution
from interp.analysis.logit_attribution.series import SERIES_TENSORS, AttributionSeries
from interp.core.errors import DataError
from interp.core.io import atomic_file, read_json, write_json

DLA_DIR = "dla"
ATTRIBUTION = "attribution"
SERIES = "series"
_LABELS = ("direction", "component_labels", "bias_labels", "position_labels")


def run_dla_dir(run_dir: Path, name: str) -> Path:
    """Where `interp dla` keeps the attribution `name` (e.g. "ioi-answer-distractor") of a run."""
    return Path(run_dir) / DLA_DIR / name


def _write(folder: Path, stem: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(folder / f"{stem}.safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp))
    return write_json(folder / f"{stem}.json", meta)


def _read(folder: Path, stem: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(folder) / f"{stem}.safetensors"
    if not path.exists() or not path.with_suffix(".json").exists():
        raise DataError(f"no saved {stem} in {folder}; write one with interp dla")
    try:
        return load_file(str(path)), read_json(path.with_suffix(".json"))
    except (SafetensorError, OSError, ValueError) as error:
        raise DataError(f"{path} cannot be read ({error}); run interp dla again") from None


def save_attribution(result: LogitAttribution, folder: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write attribution.safetensors (every tensor) and attribution.json (labels, error, `extra`) in `folder`."""
    tensors = {f.name: getattr(result, f.name) for f in fields(result) if f.name not in _LABELS}
    meta = {name: getattr(result, name) for name in _LABELS}
    meta.update({"error": result.error, "n_rows": result.n_rows, **(extra or {})})
    return _write(Path(folder), ATTRIBUTION, tensors, meta)


def load_attribution(folder: Path) -> tuple[LogitAttribution, dict[str, Any]]:
    tensors, meta = _read(folder, ATTRIBUTION)
    labels = {name: meta[name] if name == "direction" or meta[name] is None else tuple(meta[name]) for name in _LABELS}
    return LogitAttribution(**tensors, **labels), meta


def save_series(series: AttributionSeries, folder: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write series.safetensors (means, standard errors, errors) and series.json (steps, labels, `extra`)."""
    meta = {
        "steps": list(series.steps),
        "tokens_seen": list(series.tokens_seen),
        "direction": series.direction,
        "component_labels": list(series.component_labels),
        "bias_labels": list(series.bias_labels),
        **(extra or {}),
    }
    return _write(Path(folder), SERIES, series.tensors(), meta)


def load_series(folder: Path) -> tuple[AttributionSeries, dict[str, Any]]:
    tensors, meta = _read(folder, SERIES)
    series = AttributionSeries(
        steps=tuple(meta["steps"]),
        tokens_seen=tuple(meta["tokens_seen"]),
        direction=meta["direction"],
        component_labels=tuple(meta["component_labels"]),
        bias_labels=tuple(meta["bias_labels"]),
        **{name: tensors[name] for name in SERIES_TENSORS},
    )
    return series, meta


def run_attributions(run_dir: Path) -> list[tuple[str, LogitAttribution | None, AttributionSeries | None, dict[str, Any]]]:
    """Every attribution saved under RUN/dla/ (name, attribution or None, series or None, metadata), by name;
    unreadable ones are skipped (for reports)."""
    found = []
    for folder in sorted((Path(run_dir) / DLA_DIR).glob("*")):
        if not folder.is_dir():
            continue
        entries: dict[str, Any] = {}
        for stem, loader in ((ATTRIBUTION, load_attribution), (SERIES, load_series)):
            try:
                entries[stem] = loader(folder)
            except (DataError, KeyError, TypeError):
                entries[stem] = None
        if entries[ATTRIBUTION] is None and entries[SERIES] is None:
            continue
        meta = {**(entries[SERIES] or (None, {}))[1], **(entries[ATTRIBUTION] or (None, {}))[1]}
        found.append((folder.name, (entries[ATTRIBUTION] or (None,))[0], (entries[SERIES] or (None,))[0], meta))
    return found
