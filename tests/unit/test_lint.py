"""ruff finds nothing in the tree (the rules are in pyproject.toml, [tool.ruff])."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ["interp", "tests", "analyses", "benchmarks"]


def test_ruff_check_is_clean():
    assert importlib.util.find_spec("ruff") is not None, "ruff is a test dependency: pip install -e '.[test]'"
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *CHECKED],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"ruff check found problems (fix them, or `ruff check --fix`):\n{done.stdout}{done.stderr}"


def test_ruff_format_leaves_the_tree_unchanged():
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", *CHECKED],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"files need `ruff format` (run it on the tree):\n{done.stdout}{done.stderr}"
