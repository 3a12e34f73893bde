"""Run under a Python with sae-lens installed: load dictionaries with SAELens and write what it computes.

Usage: python saelens_load.py CASE_DIR...
Each CASE_DIR holds inputs.safetensors ("x", in the site's own shape) and either
- sae/, a dictionary interp saved: loaded with `SAE.load_from_disk`, or
- native.json ({"architecture", "d_in", "d_sae", "d_out", "k", "apply_b_dec_to_input", "rescale", "hook_name",
  "hook_head_index", "hook_name_out", "seed"}): SAELens builds that dictionary with random weights and writes it to sae/ with its own
  `save_model` (for interp to read).
Writes CASE_DIR/out.safetensors ("features", "reconstruction") and CASE_DIR/info.json ({"class", "hook": [hook_name,
hook_head_index, hook_name_out] as SAELens read them} or {"error"}).
"""

import json
import sys
from pathlib import Path

import torch
from sae_lens import SAE
from sae_lens.registry import get_sae_class
from sae_lens.saes.sae import SAEMetadata
from safetensors.torch import load_file, save_file


def build_native(spec: dict, folder: Path) -> None:
    """A SAELens dictionary with random weights (some features gated off, a non-zero b_dec), saved by SAELens."""
    cls, cfg_cls = get_sae_class(spec["architecture"])
    options = {"d_in": spec["d_in"], "d_sae": spec["d_sae"], "apply_b_dec_to_input": spec["apply_b_dec_to_input"]}
    if spec.get("d_out") is not None:
        options["d_out"] = spec["d_out"]
    if spec.get("k") is not None:
        options |= {"k": spec["k"], "rescale_acts_by_decoder_norm": spec["rescale"]}
    metadata = {"hook_name": spec["hook_name"], "model_name": "tiny", "context_size": 16}
    for key in ("hook_head_index", "hook_name_out"):
        if spec.get(key) is not None:
            metadata[key] = spec[key]
    sae = cls(cfg_cls(**options, metadata=SAEMetadata(**metadata)))
    generator = torch.Generator().manual_seed(spec["seed"])
    with torch.no_grad():
        for name, param in sae.named_parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * (0.5 if name.startswith("W") else 0.3))
        if hasattr(sae, "threshold"):
            sae.threshold.copy_(torch.rand(sae.threshold.shape, generator=generator) * 0.8)
        sae.b_enc[: spec["d_sae"] // 4] = -50.0  # a quarter of the features never fire
    sae.save_model(folder)


for case in map(Path, sys.argv[1:]):
    info: dict = {}
    try:
        if (case / "native.json").exists():
            build_native(json.loads((case / "native.json").read_text()), case / "sae")
        sae = SAE.load_from_disk(case / "sae")
        sae.eval()
        x = load_file(str(case / "inputs.safetensors"))["x"]
        with torch.no_grad():
            features = sae.encode(x)
            reconstruction = sae.decode(features)
        save_file(
            {"features": features.contiguous(), "reconstruction": reconstruction.contiguous()}, str(case / "out.safetensors")
        )
        metadata = sae.cfg.metadata
        info |= {"class": type(sae).__name__, "hook": [metadata.hook_name, metadata.hook_head_index, metadata.hook_name_out]}
    except Exception as error:  # reported to the test, which decides whether a refusal was expected
        info["error"] = f"{type(error).__name__}: {error}"
    (case / "info.json").write_text(json.dumps(info))
