"""Save patching results: the tensors as safetensors, everything else as JSON, side by side.

>>> import tempfile
>>> import torch
>>> values = torch.tensor([[0.5, 2.0]])
>>> result = PatchingResult(kind="z", axes=("layer", "head"), values=values, clean=2.0, corrupted=0.0, seconds=0.1)
>>> paths = save_result(result, Path(tempfile.mkdtemp()), "z", extra={"split": "train"})
>>> sorted(path.name for path in paths.values())
['z.json', 'z.safetensors']
>>> saved = load_result(paths["json"])
>>> saved["kind"], saved["axes"], saved["split"], saved["tensors"]["normalised"]
('z', ['layer', 'head'], 'train', tensor([[0.2500, 1.0000]]))
"""

import json
import os
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from interp.analysis.patching.activation import PatchingResult
from interp.analysis.patching.path import PathPatchingResult


def save_result(
    result: PatchingResult | PathPatchingResult, out_dir: Path, name: str, *, extra: dict[str, Any] | None = None
) -> dict[str, Path]:
    """Write `<name>.safetensors` (values, normalised) and `<name>.json` (kind, axes, baselines, extra)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {"values": result.values.contiguous(), "normalised": result.normalised.contiguous()}
    if isinstance(result, PathPatchingResult):
        meta = {"kind": "path", "receivers": result.receivers, "component": result.component}
    else:
        meta = {"kind": result.kind, "direction": result.direction}
    meta["axes"] = list(result.axes)
    meta.update(
        {"clean": result.clean, "corrupted": result.corrupted, "seconds": result.seconds, "shape": list(result.values.shape)}
    )
    meta.update(extra or {})
    paths = {"safetensors": out_dir / f"{name}.safetensors", "json": out_dir / f"{name}.json"}
    save_file(tensors, str(paths["safetensors"]))
    tmp = paths["json"].with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, paths["json"])
    return paths


def load_result(json_path: Path) -> dict[str, Any]:
    """The JSON metadata of a saved result, with its tensors under "tensors"."""
    json_path = Path(json_path)
    meta = json.loads(json_path.read_text())
    meta["tensors"] = load_file(str(json_path.with_suffix(".safetensors")))
    return meta
