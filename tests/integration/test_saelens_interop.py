"""Our dictionary files load in SAELens with the same encoding and reconstruction, and SAELens's load in interp.

Needs a Python with sae-lens installed, named by INTERP_TL3_PYTHON (.ci/run installs sae-lens in its
transformer-lens 3.x environment); skipped without. One SAELens subprocess serves every case: for each of our
kinds it loads the directory `save_dictionary` wrote; for each SAELens architecture it builds a random dictionary,
saves it with SAELens's own `save_model`, and interp reads that plain directory with `load_dictionary`.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.files import load_dictionary, save_dictionary


def _saelens_python() -> str | None:
    python = os.environ.get("INTERP_TL3_PYTHON")
    if not python:
        return None
    probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('sae_lens') is None)"
    found = subprocess.run([python, "-c", probe], capture_output=True, timeout=60)
    return python if found.returncode == 0 else None


SAELENS_PYTHON = _saelens_python()
pytestmark = pytest.mark.skipif(
    SAELENS_PYTHON is None,
    reason="set INTERP_TL3_PYTHON to a Python with sae-lens installed (.ci/run builds .venv-tl3) to test SAELens interop",
)
D_IN, FEATURES, K, ROWS = 16, 48, 5, 64

# Ours: name -> (config, d_out, input shape after the row axis); the z site reads all 4 heads of d_head 4.
OURS = {
    "relu": (SAEConfig(site="resid_post0", kind="relu", n_features=FEATURES), D_IN, (D_IN,)),
    "topk": (SAEConfig(site="resid_post0", kind="topk", n_features=FEATURES, k=K), D_IN, (D_IN,)),
    "batchtopk": (SAEConfig(site="resid_pre1", kind="batchtopk", n_features=FEATURES, k=K), D_IN, (D_IN,)),
    "jumprelu": (SAEConfig(site="mlp_out0", kind="jumprelu", n_features=FEATURES), D_IN, (D_IN,)),
    "topk-z-all-heads": (SAEConfig(site="z1", kind="topk", n_features=FEATURES, k=K), D_IN, (4, 4)),
    "jumprelu-one-head": (SAEConfig(site="head_out1h2", kind="jumprelu", n_features=FEATURES), D_IN, (D_IN,)),
    "relu-transcoder": (SAEConfig(site="resid_mid0", output_site="mlp_out0", kind="relu", n_features=FEATURES), 12, (D_IN,)),
    "jumprelu-transcoder": (
        SAEConfig(site="resid_mid0", output_site="mlp_out0", kind="jumprelu", n_features=FEATURES),
        12,
        (D_IN,),
    ),
    "batchtopk-transcoder": (
        SAEConfig(site="resid_mid1", output_site="mlp_out1", kind="batchtopk", n_features=FEATURES, k=K),
        12,
        (D_IN,),
    ),
}
TOPK_TRANSCODER = SAEConfig(site="resid_mid0", output_site="mlp_out0", kind="topk", n_features=FEATURES, k=K)

# SAELens's own: name -> what SAELens builds and saves (architecture, options), for interp to read.
NATIVE = {
    "standard": {"architecture": "standard", "apply_b_dec_to_input": True},
    "standard-no-b_dec-input": {"architecture": "standard", "apply_b_dec_to_input": False},
    "topk": {"architecture": "topk", "apply_b_dec_to_input": True, "k": K, "rescale": False},
    "topk-rescaled": {"architecture": "topk", "apply_b_dec_to_input": True, "k": K, "rescale": True},
    "jumprelu": {"architecture": "jumprelu", "apply_b_dec_to_input": True},
    "jumprelu-no-b_dec-input": {"architecture": "jumprelu", "apply_b_dec_to_input": False},
    "transcoder": {"architecture": "transcoder", "apply_b_dec_to_input": False, "d_out": 12},
    "jumprelu-transcoder": {"architecture": "jumprelu_transcoder", "apply_b_dec_to_input": False, "d_out": 12},
}


def random_dictionary(config: SAEConfig, d_out: int, seed: int) -> SparseDictionary:
    """Non-trivial weights: every tensor random, b_dec non-zero, a quarter of the features gated off."""
    sae = SparseDictionary(
        d_in=D_IN, n_features=FEATURES, kind=config.kind, k=config.k, d_out=d_out, transcoder=config.is_transcoder, seed=seed
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sae.named_parameters():
            if name == "log_threshold":
                continue
            param.add_(torch.randn(param.shape, generator=generator) * 0.3)
        sae.b_enc[: FEATURES // 4] = -50.0
        if config.kind == "jumprelu":  # a threshold per feature, some above many pre-activations
            sae.log_threshold.copy_((torch.rand(FEATURES, generator=generator) * 0.8 + 0.05).log())
        if config.kind == "batchtopk":  # one shared threshold
            sae.log_threshold.fill_(float(torch.tensor(0.4).log()))
    return sae


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict]:
    """Every case, run through one SAELens subprocess: {name: {"info", "out", "x", ...}}."""
    root = tmp_path_factory.mktemp("saelens")
    cases: dict[str, dict] = {}
    for seed, (name, (config, d_out, shape)) in enumerate(OURS.items()):
        folder = root / f"ours-{name}"
        sae = random_dictionary(config, d_out, seed)
        save_dictionary(folder / "sae", sae, config, source={"model_name": "tiny", "n_ctx": 16, "step": 0})
        cases[f"ours-{name}"] = {"folder": folder, "sae": sae, "x": torch.randn(ROWS, *shape) * 1.5 + 0.2}
    folder = root / "ours-topk-transcoder"
    save_dictionary(folder / "sae", random_dictionary(TOPK_TRANSCODER, 12, 99), TOPK_TRANSCODER, source={})
    cases["ours-topk-transcoder"] = {"folder": folder, "x": torch.randn(ROWS, D_IN)}
    for seed, (name, spec) in enumerate(NATIVE.items()):
        folder = root / f"native-{name}"
        folder.mkdir()
        hooks = {"hook_name": "blocks.0.hook_resid_mid", "hook_name_out": "blocks.0.hook_mlp_out"}
        if spec.get("d_out") is None:
            hooks = {"hook_name": "blocks.1.hook_resid_pre"}
        full = {"d_in": D_IN, "d_sae": FEATURES, "d_out": None, "k": None, "rescale": False, "seed": 100 + seed} | hooks | spec
        (folder / "native.json").write_text(json.dumps(full))
        cases[f"native-{name}"] = {"folder": folder, "x": torch.randn(ROWS, D_IN) * 1.5 + 0.2}
    for case in cases.values():
        save_file({"x": case["x"].contiguous()}, str(case["folder"] / "inputs.safetensors"))
    script = Path(__file__).resolve().parents[1] / "helpers" / "saelens_load.py"
    proc = subprocess.run(
        [SAELENS_PYTHON, str(script), *(str(c["folder"]) for c in cases.values())], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for case in cases.values():
        case["info"] = json.loads((case["folder"] / "info.json").read_text())
        if "class" in case["info"]:
            case["out"] = load_file(str(case["folder"] / "out.safetensors"))
    return cases


def _close(theirs: torch.Tensor, ours: torch.Tensor) -> None:
    assert theirs.shape == ours.shape
    assert torch.allclose(theirs, ours, atol=1e-5, rtol=0), float((theirs - ours).abs().max())


EXPECTED_CLASS = {
    "relu": "StandardSAE",
    "topk": "TopKSAE",
    "batchtopk": "JumpReLUSAE",
    "jumprelu": "JumpReLUSAE",
    "topk-z-all-heads": "TopKSAE",
    "jumprelu-one-head": "JumpReLUSAE",
    "relu-transcoder": "Transcoder",
    "jumprelu-transcoder": "JumpReLUTranscoder",
    "batchtopk-transcoder": "JumpReLUTranscoder",
}

MID0, MLP0 = "blocks.0.hook_resid_mid", "blocks.0.hook_mlp_out"
EXPECTED_HOOK = {
    "relu": ["blocks.0.hook_resid_post", None, None],
    "topk": ["blocks.0.hook_resid_post", None, None],
    "batchtopk": ["blocks.1.hook_resid_pre", None, None],
    "jumprelu": [MLP0, None, None],
    "topk-z-all-heads": ["blocks.1.attn.hook_z", None, None],
    "jumprelu-one-head": ["blocks.1.attn.hook_result", 2, None],
    "relu-transcoder": [MID0, None, MLP0],
    "jumprelu-transcoder": [MID0, None, MLP0],
    "batchtopk-transcoder": ["blocks.1.hook_resid_mid", None, "blocks.1.hook_mlp_out"],
}


@pytest.mark.parametrize("name", list(OURS))
def test_saelens_loads_ours_with_the_same_encoding_and_reconstruction(results, name):
    case = results[f"ours-{name}"]
    assert case["info"].get("class") == EXPECTED_CLASS[name], case["info"]
    assert case["info"]["hook"] == EXPECTED_HOOK[name]  # SAELens reads the metadata (a 6.x cfg.json, not a pre-6.0 one)
    sae, x = case["sae"].eval(), case["x"]
    vectors = x.flatten(start_dim=1)  # SAELens flattens a z site's heads itself (reshape_activations="hook_z")
    with torch.no_grad():
        features = sae.encode(vectors)
        reconstruction = sae.decode(features)
    _close(case["out"]["features"], features)
    _close(case["out"]["reconstruction"].flatten(start_dim=1), reconstruction)
    active = features > 0
    assert active.any() and not active[:, : FEATURES // 4].any()  # the check is not vacuous, gated features are off
    if sae.kind in ("jumprelu", "batchtopk"):  # the threshold decided something
        pre = sae.pre_activations(vectors)
        assert ((pre > 0) & ~active).any()


def test_saelens_refuses_a_topk_transcoder_it_has_no_class_for(results):
    info = results["ours-topk-transcoder"]["info"]
    assert "error" in info and "topk_transcoder" in info["error"], info


@pytest.mark.parametrize("name", list(NATIVE))
def test_interp_reads_a_directory_saelens_saved(results, name):
    case = results[f"native-{name}"]
    assert "class" in case["info"], case["info"]
    assert not (case["folder"] / "sae" / "interp.json").exists()
    saved = load_dictionary(case["folder"] / "sae")
    spec = NATIVE[name]
    assert saved.config.is_transcoder == ("d_out" in spec)
    assert saved.config.site == ("resid_mid0" if "d_out" in spec else "resid_pre1")
    with torch.no_grad():
        features = saved.sae.encode(case["x"])
        reconstruction = saved.sae.decode(features)
    _close(case["out"]["features"], features)
    _close(case["out"]["reconstruction"], reconstruction)
    assert (features > 0).any()
