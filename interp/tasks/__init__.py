"""Experiments built on the library, each behind one small interface, `interp.analysis.core.task.Task` (clean
tokens, corrupted tokens, a metric, position labels), so that every analysis taking a task runs on all of them:

- `ioi/`: indirect-object identification (prompts, training data, evaluation, the patching sweeps); `ioi_task`.
- `induction/`: a random sequence repeated, one copy replaced by fresh tokens; `induction_task`.
- `birthplace/`: the PerceiverAR birthplace experiment (synthetic biographies, span corruption, QA finetuning).

Importing this package registers the tasks' data sources with `interp.train.data_sources` (so a run with
`data.corpus = "ioi"` trains from the command line or from Python); the CLI and `import interp` import it.
It stays light: the names below load their modules (and torch) when first used.

>>> from interp.train.data_sources import source_names
>>> "ioi" in source_names()
True
>>> from interp.tasks import induction_task
>>> task = induction_task(16, n=4, half=5, seed=0)
>>> task.clean.shape, task.position_labels[:2]
(torch.Size([4, 10]), ('A0', 'A1'))
"""

import importlib

from interp.tasks.ioi.source import IOI_SOURCE
from interp.train.data_sources import register_source

register_source(IOI_SOURCE)

_EXPORTS = {
    "Task": "interp.analysis.core.task",
    "ioi_task": "interp.tasks.ioi.task",
    "induction_task": "interp.tasks.induction.task",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    # Lazy re-exports (PEP 562): `interp --help` imports this package and must not pay for torch.
    if name not in _EXPORTS:
        raise AttributeError(f"module 'interp.tasks' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
