"""Run the `interp` entry point in the test process (no 5-15 s interpreter start), exactly as the script does."""

import hashlib
import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import torch

from interp.cli.app import main

# A training run that takes well under a second: synthetic repeated spans only, a 1-layer 32-wide model.
TINY_TRAIN = [
    "--preset", "attn-only-1l", "--no-progress",
    "--set", "data.corpus='none'", "--set", "data.repeated_fraction=1.0",
    "--set", "data.span_min=2", "--set", "data.span_max=6",
    "--set", "model.n_ctx=16", "--set", "model.d_model=32", "--set", "model.d_head=8",
    "--set", "train.threads=1", "--set", "train.batch_size=4", "--set", "train.eval_batches=1",
    "--set", "train.eval_every=4", "--set", "train.n_checkpoints=4", "--set", "train.steps=12",
]  # fmt: skip


def run_cli(*args) -> tuple[int, str, str]:
    """`interp ARGS` through `interp.cli.app.main` (which turns InterpErrors into exit code 2): (code, stdout, stderr).

    Any other exception propagates, so an unhandled error fails the test with its traceback.
    """
    out, err = io.StringIO(), io.StringIO()
    argv, threads = sys.argv, torch.get_num_threads()
    sys.argv = ["interp", *map(str, args)]
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        sys.argv = argv
        torch.set_num_threads(threads)  # train.threads changes the process-wide setting
    return code, out.getvalue(), err.getvalue()


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` (and "dir" for each folder), by relative path: equal digests mean
    nothing was added, removed or changed."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        for path in sorted(Path(root).rglob("*"))
    }
