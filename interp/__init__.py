"""interp: train small transformers from scratch on a CPU and study how their circuits form.

The public API: `interp.load` (a run or checkpoint directory -> the model, in eval mode), `interp.train_run`
(train a preset or a RunConfig into a run directory), the config types, the presets, `Site`, and the analyses
in `interp.analysis`. Names load on first use, so `import interp` imports neither torch nor TransformerLens.

The training entry is `train_run`, not `train`: `interp.train` is the training subpackage, and Python rebinds
that attribute to the subpackage whenever any `interp.train.*` module is imported.

>>> import interp
>>> "attn-only-2l" in interp.presets()
True
>>> interp.run_config("attn-only-2l", overrides={"train.steps": 100}).train.steps
100
>>> import tempfile
>>> tiny = {"data.corpus": "none", "data.repeated_fraction": 1.0, "data.span_min": 2, "data.span_max": 6, "model.n_ctx": 16,
...         "model.d_model": 32, "model.d_head": 8, "train.steps": 4, "train.batch_size": 4, "train.n_checkpoints": 2}
>>> run_dir = tempfile.mkdtemp() + "/demo"
>>> [c.step for c in interp.train_run("attn-only-1l", run_dir, overrides=tiny, progress=False).checkpoints]
[0, 4]
>>> model = interp.load(run_dir)            # the last checkpoint; step=N for another
>>> model.cfg.n_layers, model.training, interp.load(run_dir, step=0).cfg.d_model
(1, False, 32)
"""

from typing import TYPE_CHECKING

from interp.core.lazy_exports import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "load": ("interp.variants.perceiver_ar_io", "load_any_model"),
    "train_run": "interp.train.train_run",
    "TrainResult": "interp.train.loop",
    "presets": ("interp.train.presets", "list_presets"),
    "run_config": "interp.train.presets",
    "RunConfig": "interp.train.config",
    "TrainConfig": "interp.train.config",
    "ModelConfig": "interp.model.config",
    "build_model": "interp.model.build",
    "DataConfig": "interp.text.config",
    "NoiseConfig": "interp.train.noise_config",
    "Checkpoint": "interp.train.checkpoints",
    "list_checkpoints": "interp.train.checkpoints",
    "Site": "interp.model.sites",
    "InterpError": "interp.core.errors",
}
_SUBPACKAGES = ("analysis", "tasks")
__all__ = sorted([*_EXPORTS, *_SUBPACKAGES])
_load_name, _names = lazy_exports(__name__, _EXPORTS, globals())


def __getattr__(name: str):
    if name in _SUBPACKAGES:  # `interp.analysis` after a bare `import interp`
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    return _load_name(name)


def __dir__() -> list[str]:
    return sorted({*_names(), *_SUBPACKAGES})


if TYPE_CHECKING:  # what type checkers and import-linter see; at run time each name loads on first use
    from interp import analysis, tasks
    from interp.core.errors import InterpError
    from interp.model.build import build_model
    from interp.model.config import ModelConfig
    from interp.model.sites import Site
    from interp.text.config import DataConfig
    from interp.train.checkpoints import Checkpoint, list_checkpoints
    from interp.train.config import RunConfig, TrainConfig
    from interp.train.loop import TrainResult
    from interp.train.noise_config import NoiseConfig
    from interp.train.presets import list_presets as presets
    from interp.train.presets import run_config
    from interp.train.train_run import train_run
    from interp.variants.perceiver_ar_io import load_any_model as load
