"""The task a command runs on a checkpoint, by name or file: what `interp circuit --task` resolves.

- "induction": `induction_task` over the tokens the run saw often (the pool its induction probe draws from), both
  copies corrupted (so the query and the key side of induction both carry the difference);
- "ioi": `ioi_task` on the IOI corpus the checkpoint was trained on (refused for a run of another corpus);
- a `.safetensors` file written by `save_task` (interp.analysis.core.task_files);
- a `.py` file defining `task(checkpoint) -> Task` (your own code, run as a module; nothing is unpickled).

>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> ckpt = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).checkpoints[-1]
>>> task = task_for_run("induction", ckpt, n=4)
>>> task.batch, task.pos <= ckpt.config.n_ctx
(4, True)
>>> task_for_run("birthdays", ckpt)
Traceback (most recent call last):
    ...
interp.core.errors.DataError: unknown task 'birthdays'; give induction, ioi, a .safetensors task file or a .py file defining task(checkpoint)
"""

import importlib.util
from pathlib import Path

from interp.analysis.core.task import Task
from interp.analysis.core.task_files import load_task
from interp.core.errors import DataError
from interp.train.checkpoints import Checkpoint

NAMES = ("induction", "ioi")
INDUCTION_HALF = 10  # tokens per copy: long enough for induction, short enough to patch quickly


def task_for_run(which: str | Path, checkpoint: Checkpoint, *, n: int = 64, seed: int = 0) -> Task:
    """The task `which` for `checkpoint` with `n` prompts (built-in tasks) drawn with `seed`."""
    if str(which) == "induction":
        from interp.analysis.induction.series import probe_for_run
        from interp.tasks.induction.task import induction_task

        pool = probe_for_run(checkpoint, batch=2, seed=seed).vocab
        half = min(INDUCTION_HALF, checkpoint.config.n_ctx // 2, (len(pool) - 1) // 3)
        return induction_task(pool, n=n, half=half, corruption="both", seed=seed)
    if str(which) == "ioi":
        from interp.tasks.ioi.patching import ioi_model
        from interp.tasks.ioi.task import ioi_task

        _, corpus = ioi_model(checkpoint)
        return ioi_task(corpus, n=n, seed=seed)
    path = Path(which)
    if path.suffix == ".safetensors":
        return load_task(path)
    if path.suffix == ".py":
        return _task_from_code(path, checkpoint)
    raise DataError(
        f"unknown task {str(which)!r}; give {', '.join(NAMES)}, a .safetensors task file or a .py file defining task(checkpoint)"
    )


def _task_from_code(path: Path, checkpoint: Checkpoint) -> Task:
    if not path.is_file():
        raise DataError(f"no task file at {path}")
    spec = importlib.util.spec_from_file_location(f"interp_user_task_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    make = getattr(module, "task", None)
    if not callable(make):
        raise DataError(f"{path} defines no function task(checkpoint) returning an interp Task")
    task = make(checkpoint)
    if not isinstance(task, Task):
        raise DataError(f"task(checkpoint) in {path} returned {type(task).__name__}, not an interp Task")
    return task
