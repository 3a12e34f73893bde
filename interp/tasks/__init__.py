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

from typing import TYPE_CHECKING

from interp.core.lazy_exports import lazy_exports
from interp.tasks.ioi.source import IOI_SOURCE
from interp.train.data_sources import register_source

register_source(IOI_SOURCE)

_EXPORTS = {
    "Task": "interp.analysis.core.task",
    "save_task": "interp.analysis.core.task_files",
    "load_task": "interp.analysis.core.task_files",
    "task_for_run": "interp.tasks.for_run",
    # induction
    "induction_task": "interp.tasks.induction.task",
    # IOI
    "ioi_task": "interp.tasks.ioi.task",
    "ioi_corpus": "interp.tasks.ioi.prompts",
    "IOISetup": "interp.tasks.ioi.prompts",
    "IOICorpus": "interp.tasks.ioi.prompts",
    "IOIPrompts": "interp.tasks.ioi.prompts",
    "patching_prompts": "interp.tasks.ioi.patching",
    "ioi_model": "interp.tasks.ioi.patching",
    "IOIScores": "interp.tasks.ioi.evaluation",
    "score_prompts": "interp.tasks.ioi.evaluation",
    "evaluate_ioi": "interp.tasks.ioi.evaluation",
    # birthplace
    "BirthplaceConfig": "interp.tasks.birthplace.config",
    "make_corpus": "interp.tasks.birthplace.biographies",
    "exact_match": "interp.tasks.birthplace.qa_eval",
}
__all__ = sorted(_EXPORTS)
# Lazy re-exports: `interp --help` imports this package and must not pay for torch.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # what type checkers and import-linter see
    from interp.analysis.core.task import Task
    from interp.analysis.core.task_files import load_task, save_task
    from interp.tasks.birthplace.biographies import make_corpus
    from interp.tasks.birthplace.config import BirthplaceConfig
    from interp.tasks.birthplace.qa_eval import exact_match
    from interp.tasks.for_run import task_for_run
    from interp.tasks.induction.task import induction_task
    from interp.tasks.ioi.evaluation import IOIScores, evaluate_ioi, score_prompts
    from interp.tasks.ioi.patching import ioi_model, patching_prompts
    from interp.tasks.ioi.prompts import IOICorpus, IOIPrompts, IOISetup, ioi_corpus
    from interp.tasks.ioi.task import ioi_task
