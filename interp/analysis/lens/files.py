"""Lenses beside their run, tensors as safetensors and everything else as JSON (nothing is unpickled):

    RUN/lenses/step_N/lens.{safetensors,json}            the tuned lens of checkpoint N and how it was trained
    RUN/lenses/step_N/metrics-logit.{safetensors,json}   logit-lens metrics of checkpoint N on held-out rows
    RUN/lenses/step_N/metrics-tuned.{safetensors,json}   tuned-lens metrics of checkpoint N
    RUN/lenses/series.{safetensors,json}                 both lenses at every chosen checkpoint

>>> import tempfile
>>> from interp.analysis.lens.translators import TunedLens
>>> folder = Path(tempfile.mkdtemp()) / "step_10"
>>> _ = save_lens(TunedLens(2, 4), folder, extra={"step": 10})
>>> lens, meta = load_lens(folder, n_layers=2, d_model=4)
>>> lens.weight.shape, meta["step"]
(torch.Size([2, 4, 4]), 10)
>>> load_lens(folder, n_layers=3, d_model=4)
Traceback (most recent call last):
    ...
interp.analysis.lens.translators.LensError: the tuned lens was trained for 2 layers of width 4, not this model's 3 x 4; train one for this run (interp lens)
"""

from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp.analysis.lens.metrics import LensMetrics
from interp.analysis.lens.series import SERIES_TENSORS, LensSeries
from interp.analysis.lens.training import LensTraining
from interp.analysis.lens.translators import LensError, TunedLens
from interp.core.io import atomic_file, read_json, write_json

LENSES_DIR = "lenses"
LENS = "lens"
SERIES = "series"
FORM = "x @ weight[layer] + bias[layer], x the residual stream entering block `layer`; then ln_final and unembed"
_METRIC_LABELS = ("lens", "layers", "n_layers")


def run_lens_dir(run_dir: Path, step: int | None = None) -> Path:
    """RUN/lenses, or RUN/lenses/step_N for one checkpoint (the checkpoints' own naming)."""
    base = Path(run_dir) / LENSES_DIR
    return base if step is None else base / f"step_{step:06d}"


def _write(folder: Path, stem: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(folder / f"{stem}.safetensors") as tmp:
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp))
    return write_json(folder / f"{stem}.json", meta)


def _read(folder: Path, stem: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(folder) / f"{stem}.safetensors"
    if not path.exists() or not path.with_suffix(".json").exists():
        raise LensError(f"no saved {stem} in {folder}; train one with interp lens")
    try:
        return load_file(str(path)), read_json(path.with_suffix(".json"))
    except (SafetensorError, OSError, ValueError) as error:
        raise LensError(f"{path} cannot be read ({error}); run interp lens again") from None


def save_lens(
    lens: TunedLens, folder: Path, *, training: LensTraining | None = None, extra: dict[str, Any] | None = None
) -> Path:
    """Write lens.safetensors (weight, bias) and lens.json (form, shape, training record, `extra`)."""
    meta = {"form": FORM, "n_layers": lens.n_layers, "d_model": lens.d_model}
    meta["training"] = None if training is None else training.to_json_dict()
    meta.update(extra or {})
    return _write(Path(folder), LENS, {"weight": lens.weight.cpu(), "bias": lens.bias.cpu()}, meta)


def load_lens(folder: Path, *, n_layers: int | None = None, d_model: int | None = None) -> tuple[TunedLens, dict[str, Any]]:
    """The tuned lens saved in `folder` (checked against a model's n_layers x d_model when given) and its JSON."""
    tensors, meta = _read(folder, LENS)
    if set(tensors) != {"weight", "bias"} or tensors["weight"].ndim != 3 or tensors["bias"].ndim != 2:
        raise LensError(f"{folder}/lens.safetensors must hold weight [layer d_model d_model] and bias [layer d_model]")
    lens = TunedLens(tensors["weight"].shape[0], tensors["weight"].shape[-1])
    with torch.no_grad():
        lens.weight.copy_(tensors["weight"])
        lens.bias.copy_(tensors["bias"])
    if n_layers is not None or d_model is not None:
        lens.check_fits(n_layers if n_layers is not None else lens.n_layers, d_model if d_model is not None else lens.d_model)
    return lens.requires_grad_(False), meta


def save_metrics(metrics: LensMetrics, folder: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write metrics-logit or metrics-tuned (.safetensors + .json) in `folder`."""
    tensors = {f.name: getattr(metrics, f.name) for f in fields(metrics) if f.name not in _METRIC_LABELS}
    tensors = {name: value for name, value in tensors.items() if value is not None}
    meta = {"lens": metrics.lens, "layers": list(metrics.layers), "n_layers": metrics.n_layers, **(extra or {})}
    return _write(Path(folder), _metrics_stem(metrics.lens), tensors, meta)


def _metrics_stem(lens: str) -> str:
    return "metrics-" + lens.split()[0]  # "logit lens" -> metrics-logit


def load_metrics(folder: Path, lens: str = "logit lens") -> tuple[LensMetrics, dict[str, Any]]:
    tensors, meta = _read(folder, _metrics_stem(lens))
    return LensMetrics(lens=meta["lens"], layers=tuple(meta["layers"]), n_layers=meta["n_layers"], **tensors), meta


def save_lens_series(series: LensSeries, folder: Path, *, extra: dict[str, Any] | None = None) -> Path:
    meta = {"steps": list(series.steps), "tokens_seen": list(series.tokens_seen), **(extra or {})}
    return _write(Path(folder), SERIES, series.tensors(), meta)


def load_lens_series(folder: Path) -> tuple[LensSeries, dict[str, Any]]:
    tensors, meta = _read(folder, SERIES)
    missing = [name for name in SERIES_TENSORS if name not in tensors]
    if missing:
        raise LensError(f"{folder}/series.safetensors lacks {missing}; run interp lens again")
    series = LensSeries(
        steps=tuple(meta["steps"]), tokens_seen=tuple(meta["tokens_seen"]), **{n: tensors[n] for n in SERIES_TENSORS}
    )
    return series, meta


def run_lenses(run_dir: Path) -> dict[str, Any]:
    """What `interp lens` saved for a run (for reports): {"series": (LensSeries, meta) or None, "metrics":
    [(step, logit LensMetrics, tuned LensMetrics or None, meta)]}; unreadable entries are skipped."""
    base = run_lens_dir(run_dir)
    try:
        series = load_lens_series(base)
    except (LensError, KeyError, TypeError):
        series = None
    metrics = []
    for folder in sorted(base.glob("step_*")):
        if not folder.name.removeprefix("step_").isdigit():
            continue
        try:
            logit, meta = load_metrics(folder, "logit lens")
        except (LensError, KeyError, TypeError):
            continue
        try:
            tuned = load_metrics(folder, "tuned lens")[0]
        except (LensError, KeyError, TypeError):
            tuned = None
        metrics.append((int(folder.name.removeprefix("step_")), logit, tuned, meta))
    return {"series": series, "metrics": metrics}
