"""Small builders the tests share: tiny configs, an analyses/ script as a module, interrupted runs."""

import pytest
import torch

from interp.model.config import ModelConfig


def tiny_config(**changes) -> ModelConfig:
    base = dict(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4, d_vocab=11, attn_only=True, seed=0)
    base.update(changes)
    return ModelConfig(**base)


def analysis_script(name: str):
    """A script of analyses/ as a module (its work is under `if __name__ == "__main__"`, so importing runs none).

    analyses/ goes on sys.path, as `python analyses/x.py` puts it first, so a script's `from figures...` works;
    a dotted name ("figures.noise") is a module inside analyses/.
    """
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "analyses"
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    path = folder / f"{name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_interrupted(run, run_dir, *, after_step: int) -> None:
    """Train `run` into `run_dir` and stop it at its first checkpoint at or after `after_step`, as if killed there."""
    from interp.train.loop import train

    class Stop(Exception):
        pass

    def stop(ckpt):
        if ckpt.step >= after_step:
            raise Stop

    with pytest.raises(Stop):
        train(run, run_dir, progress=False, on_checkpoint=stop)


def assert_same_weights(run_a, run_b) -> None:
    """The last checkpoints of two runs hold bit-identical weights."""
    from interp.train.checkpoints import load_model

    a, b = load_model(run_a).state_dict(), load_model(run_b).state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
