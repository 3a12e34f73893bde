"""A task as a file: its tokens and answers as safetensors, its position labels as JSON, side by side.

What a researcher hands to `interp circuit RUN --task FILE` when the built-in tasks do not fit: build the `Task`
in Python once, `save_task(task, "my_task.safetensors")`, and every command reads it back with no code run.

>>> import tempfile
>>> import torch
>>> from pathlib import Path
>>> task = Task(clean=torch.tensor([[1, 2, 3]]), corrupted=torch.tensor([[1, 4, 3]]),
...     metric=LogitDiff(correct=torch.tensor([2]), wrong=torch.tensor([4]), positions=torch.tensor([2])))
>>> path = save_task(task, Path(tempfile.mkdtemp()) / "recall.safetensors")
>>> back = load_task(path)
>>> torch.equal(back.corrupted, task.corrupted), back.position_labels
(True, ('0', '1', '2'))
"""

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task
from interp.core.errors import DataError
from interp.core.io import atomic_file, read_json, write_json

KEYS = ("clean", "corrupted", "correct", "wrong", "positions")


def save_task(task: Task, path: Path) -> Path:
    """Write `path` (.safetensors: clean, corrupted, correct, wrong, positions) and `path` with .json (labels)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise DataError(f"a task file ends in .safetensors, got {path.name}")
    tensors = dict(zip(KEYS, (task.clean, task.corrupted, task.metric.correct, task.metric.wrong, task.metric.positions)))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        save_file({k: v.long().contiguous() for k, v in tensors.items()}, str(tmp))
    write_json(path.with_suffix(".json"), {"position_labels": list(task.position_labels)})
    return path


def load_task(path: Path) -> Task:
    """The task saved at `path` by save_task (labels default to position numbers when the JSON is absent)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no task file at {path}; write one with interp.analysis.core.task_files.save_task")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise DataError(f"{path} cannot be read as a task ({error})") from None
    missing = [key for key in KEYS if key not in tensors]
    if missing:
        raise DataError(f"{path} is not a task file: it lacks {', '.join(missing)}")
    labels_file = path.with_suffix(".json")
    labels = read_json(labels_file).get("position_labels") if labels_file.is_file() else None
    metric = LogitDiff(correct=tensors["correct"], wrong=tensors["wrong"], positions=tensors["positions"])
    return Task(clean=tensors["clean"], corrupted=tensors["corrupted"], metric=metric, position_labels=labels and tuple(labels))
