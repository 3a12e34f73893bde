"""The README's "Define your own task" example, read from the README and run as it stands."""

import re
from pathlib import Path

import torch

from interp.analysis.core.task import Task

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_task_code() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Define your own task", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the section holds one Python file"
    return blocks[0]


def test_the_readme_task_runs_and_patching_it_finds_the_answer_token():
    namespace = {"__name__": "__main__"}
    exec(compile(readme_task_code(), str(README), "exec"), namespace)  # noqa: S102  the README example, as written
    task, result = namespace["recall_task"](), namespace["result"]
    assert isinstance(task, Task) and task.clean.shape == task.corrupted.shape == (32, 12)
    assert task.position_labels[2:4] == ("marker", "x") and task.position_labels[-1] == "end"
    assert bool((task.corrupted[:, 3] != task.clean[:, 3]).all()) and bool((task.corrupted[:, 3] != 0).all())
    assert torch.equal(task.corrupted[:, [0, 1, 2, *range(4, 12)]], task.clean[:, [0, 1, 2, *range(4, 12)]])
    # only position 3 differs: restoring the residual stream there restores the clean run exactly, elsewhere before it nothing
    assert result.normalised.shape == (2, 12)
    assert torch.allclose(result.normalised[0, 3], torch.tensor(1.0), atol=1e-4)
    assert torch.all(result.normalised[:, :3] == 0)
