"""Checkpoints load in transformer-lens 3.x's HookedTransformer with identical logits.

Needs a Python with transformer-lens 3.x installed, named by INTERP_TL3_PYTHON (.ci/run makes one); skipped without.
"""

import os
import subprocess
from pathlib import Path

import pytest
import torch
from helpers.factories import tiny_config
from safetensors.torch import load_file, save_file

from interp.model.build import build_model
from interp.train.checkpoints import save_checkpoint

TL3_PYTHON = os.environ.get("INTERP_TL3_PYTHON")
pytestmark = pytest.mark.skipif(
    not TL3_PYTHON, reason="set INTERP_TL3_PYTHON to a Python with transformer-lens 3.x to test interoperability"
)


@pytest.mark.parametrize(
    "cfg",
    [tiny_config(), tiny_config(attn_only=False, d_mlp=48, act_fn="gelu_new"), tiny_config(n_layers=1, normalization_type=None)],
    ids=["attn-only", "mlp", "no-norm"],
)
def test_hooked_transformer_3x_loads_our_checkpoint_with_identical_logits(tmp_path, cfg):
    model = build_model(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    save_checkpoint(tmp_path / "ckpt", model, cfg, step=0, tokens_seen=0)
    tokens = torch.randint(0, cfg.d_vocab, (2, cfg.n_ctx))
    save_file({"tokens": tokens}, str(tmp_path / "tokens.safetensors"))
    script = Path(__file__).resolve().parents[1] / "helpers" / "tl3_load.py"
    proc = subprocess.run(
        [
            TL3_PYTHON,
            str(script),
            str(tmp_path / "ckpt"),
            str(tmp_path / "tokens.safetensors"),
            str(tmp_path / "out.safetensors"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    theirs = load_file(str(tmp_path / "out.safetensors"))["logits"]
    ours = model.eval()(tokens)
    assert torch.allclose(theirs, ours, atol=1e-5), (theirs - ours).abs().max()
