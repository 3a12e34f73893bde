"""Save ablation results as results.csv (the table) and results.json (everything, loadable again).

>>> import tempfile
>>> from interp.analysis.ablation.study import ablation_study
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> result = ablation_study(model, tokens, method="zero")
>>> paths = save_ablation(result, Path(tempfile.mkdtemp()) / "demo-step6000")
>>> sorted(paths), load_ablation(paths["json"]).effects.equal(result.effects)
(['csv', 'json'], True)
"""

import json
from pathlib import Path
from typing import Any

import torch

from interp.analysis.ablation.study import AblationResult
from interp.core.errors import DataError
from interp.core.io import read_json, write_csv, write_json

FORMAT = "interp.ablation"
VERSION = 1


def ablation_to_dict(result: AblationResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "method": result.method,
        "over": result.over,
        "metric": result.metric,
        "baseline": result.baseline,
        "components": list(result.components),
        "n_rows": result.n_rows,
        "seed": result.seed,
        "shape": list(result.effects.shape),
        "values": result.values.tolist(),
        "effects": result.effects.tolist(),
        "rows": result.rows,
        "extra": extra or {},
    }


def ablation_from_dict(data: dict[str, Any]) -> AblationResult:
    if data.get("format") != FORMAT:
        raise DataError(f"not an interp ablation result (format {data.get('format')!r}); expected {FORMAT!r}")
    return AblationResult(
        method=data["method"],
        over=data["over"],
        metric=data["metric"],
        baseline=data["baseline"],
        values=torch.tensor(data["values"]),
        effects=torch.tensor(data["effects"]),
        components=tuple(data["components"]),
        n_rows=data["n_rows"],
        seed=data.get("seed", 0),
    )


def save_ablation(result: AblationResult, out_dir: Path, *, extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write results.csv and results.json into `out_dir`; `extra` (e.g. the checkpoint) goes into the JSON."""
    out_dir = Path(out_dir)
    return {
        "csv": write_csv(out_dir / "results.csv", result.rows),
        "json": write_json(out_dir / "results.json", ablation_to_dict(result, extra)),
    }


def load_ablation(path: Path) -> AblationResult:
    """Read a results.json written by `save_ablation`."""
    path = Path(path)
    try:
        data = read_json(path)
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"cannot read ablation results from {path}: {error}") from None
    return ablation_from_dict(data)
