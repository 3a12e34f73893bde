"""A non-editable install finds its presets and trains: the package must not depend on the source tree.

The sources pip needs are copied to a temporary folder (so the build leaves nothing in the checkout), installed
with `pip install --no-deps --no-build-isolation --target`, and `python -m interp.cli.app` runs from a folder
outside the repository with only the installed copy on PYTHONPATH (the test environment's own editable install
comes after it on the path).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli_run import TINY_TRAIN

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "interp", source / "interp", symlinks=True, ignore=ignore)  # keeps the preset_files link
    shutil.copytree(ROOT / "models" / "presets", source / "models" / "presets")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    target = work / "site"
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--target",
        str(target),
        str(source),
    ]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return target


def interp_cli(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("INTERP_PRESETS", None)
    return subprocess.run(
        [sys.executable, "-m", "interp.cli.app", *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_installed_package_lists_presets_and_trains_20_steps(installed, tmp_path):
    presets = sorted(p.stem for p in (ROOT / "models" / "presets").glob("*.toml"))
    assert (installed / "interp" / "train" / "preset_files" / "attn-only-2l.toml").is_file()
    where = subprocess.run([sys.executable, "-c", "import interp; print(interp.__file__)"], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(installed)}, capture_output=True, text=True, check=True)  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(installed), where.stdout

    listed = interp_cli(installed, tmp_path, "presets")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == presets

    trained = interp_cli(installed, tmp_path, "train", *TINY_TRAIN, "--set", "train.steps=20", "--out", "runs/tiny")
    assert trained.returncode == 0, trained.stderr
    checkpoints = sorted(p.name for p in (tmp_path / "runs" / "tiny" / "checkpoints").iterdir())
    assert checkpoints[-1] == "step_000020"


def test_installed_bench_says_in_one_line_that_it_needs_a_source_checkout(installed, tmp_path):
    done = interp_cli(installed, tmp_path, "bench", "--list")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: no benchmarks found"), done.stderr
    assert "source checkout" in done.stderr
