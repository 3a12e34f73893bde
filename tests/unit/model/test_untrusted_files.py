"""Untrusted files: checkpoints are safetensors + JSON, nothing in the package unpickles, and a .pt/.pth file is read
with torch.load(weights_only=True) only, so a pickle with a malicious __reduce__ is refused and never runs."""

import ast
import pickle
from pathlib import Path

import pytest
import torch
from helpers.factories import tiny_config

from interp.core.errors import CheckpointError
from interp.model.build import build_model
from interp.model.layout import load_state_dict_file
from interp.train.checkpoints import save_checkpoint

PACKAGE = Path(__file__).resolve().parents[3] / "interp"
UNSAFE_MODULES = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "joblib", "shelve", "marshal"}


def _keyword_is(call: ast.Call, name: str, value: bool) -> bool:
    return any(k.arg == name and isinstance(k.value, ast.Constant) and k.value.value is value for k in call.keywords)


def _unsafe_uses(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [(node.lineno, f"import {n}") for n in names if n.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.Call):
            func = node.func
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else None
            attr = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if owner == "torch" and attr == "load" and not _keyword_is(node, "weights_only", True):
                found.append((node.lineno, "torch.load without weights_only=True"))
            elif owner in ("np", "numpy") and attr == "load" and not _keyword_is(node, "allow_pickle", False):
                found.append((node.lineno, f"{owner}.load without allow_pickle=False"))
            elif attr in ("read_pickle", "Unpickler") or (isinstance(func, ast.Name) and func.id in ("eval", "exec")):
                found.append((node.lineno, attr))
    return found


def test_the_scanner_catches_what_it_looks_for():
    bad = "import pickle\nimport dill.x\nx = torch.load(p)\ny = np.load(p)\nz = np.load(p, allow_pickle=True)\neval('1')\n"
    good = "w = torch.load(p, weights_only=True, map_location='cpu')\na = np.load(p, allow_pickle=False)\nm.eval()\n"
    assert [line for line, _ in _unsafe_uses(bad)] == [1, 2, 3, 4, 5, 6]
    assert _unsafe_uses(good) == []


def test_nothing_in_the_package_unpickles():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    problems = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}" for path in files for line, what in _unsafe_uses(path.read_text())
    ]
    assert problems == []


def test_a_checkpoint_is_only_safetensors_and_json(tmp_path):
    cfg = tiny_config()
    model = build_model(cfg)
    optimizer = torch.optim.AdamW(model.parameters())
    ckpt = save_checkpoint(tmp_path / "c", model, cfg, step=0, tokens_seen=0, optimizer=optimizer)
    assert {p.suffix for p in ckpt.path.iterdir()} == {".json", ".safetensors"}


class _Payload:
    """Unpickling this calls open(marker, "w"): what a hostile checkpoint would do with os.system instead."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_a_malicious_pickle_is_refused_and_never_runs(tmp_path, writer, suffix):
    marker = tmp_path / "pwned"
    path = tmp_path / f"weights{suffix}"
    payload = {"embed.W_E": torch.zeros(2, 2), "evil": _Payload(marker)}
    if writer == "torch.save":
        torch.save(payload, path)
    else:
        with open(path, "wb") as handle:
            pickle.dump(payload, handle, protocol=2)
    with (
        pytest.warns(UserWarning, match="weights_only=True"),
        pytest.raises(CheckpointError, match="refused by torch.load\\(weights_only=True\\)"),
    ):
        load_state_dict_file(path)
    assert not marker.exists(), "the pickle's payload ran"


def test_plain_tensor_files_load(tmp_path):
    state = {"embed.W_E": torch.arange(6.0).view(2, 3)}
    torch.save(state, tmp_path / "ok.pt")
    with pytest.warns(UserWarning, match="prefer .safetensors"):
        loaded = load_state_dict_file(tmp_path / "ok.pt")
    assert torch.equal(loaded["embed.W_E"], state["embed.W_E"])

    from safetensors.torch import save_file

    save_file(state, str(tmp_path / "ok.safetensors"))
    assert torch.equal(load_state_dict_file(tmp_path / "ok.safetensors")["embed.W_E"], state["embed.W_E"])


def test_other_files_are_refused_without_being_read(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "weights.pkl", "wb") as handle:
        pickle.dump(_Payload(marker), handle)
    with pytest.raises(CheckpointError, match="must be a .safetensors file"):
        load_state_dict_file(tmp_path / "weights.pkl")
    torch.save([torch.zeros(1)], tmp_path / "list.pt")
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match="flat state dict"):
        load_state_dict_file(tmp_path / "list.pt")
    (tmp_path / "junk.bin").write_bytes(b"\x80\x04junk")
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match="refused"):
        load_state_dict_file(tmp_path / "junk.bin")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_state_dict_file(tmp_path / "missing.pt")
    assert not marker.exists()
