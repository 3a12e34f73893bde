"""The README's "Python API" example runs as written: it trains a tiny run in a fresh folder, then caches,
ablates and patches it. The public names it relies on resolve, and `import interp` stays light."""

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import torch

import interp
import interp.analysis

README = Path(__file__).resolve().parents[2] / "README.md"


def python_api_example() -> str:
    section = README.read_text().split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "README.md's Python API section has no ```python block"
    return blocks[0]


def test_readme_python_api_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example writes models/runs/tiny relative to the working directory
    threads, out = torch.get_num_threads(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(python_api_example(), "README.md (Python API)", "exec"), {"__name__": "readme"})
    finally:
        torch.set_num_threads(threads)  # train.threads sets the process-wide number
    lines = out.getvalue().splitlines()
    assert lines[0] == "torch.Size([8, 4, 16, 16])"
    assert lines[1].startswith("zeroing L1H0: loss ") and lines[2].startswith("patching L1H0 moves")
    assert re.fullmatch(r"\['L\dH\d', 'L\dH\d', 'L\dH\d'\]", lines[3])
    assert [c.name for c in (tmp_path / "models/runs/tiny/checkpoints").iterdir()][-1].startswith("step_")


def test_every_public_name_resolves():
    for package in (interp, interp.analysis):
        missing = [name for name in package.__all__ if getattr(package, name, None) is None]
        assert not missing, f"{package.__name__}: {missing}"
        assert set(package.__all__) <= set(dir(package))
    assert interp.load.__module__ == "interp.variants.perceiver_ar_io" and callable(interp.train_run)
    assert interp.analysis.Site is interp.Site
    try:
        _ = interp.no_such_name
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_import_interp_loads_neither_torch_nor_transformer_lens():
    code = "import sys, interp, interp.analysis; print(sorted(m for m in ('torch', 'transformer_lens') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
