"""IOI as a `Task`: aligned clean/corrupted prompts, the IO - S logit difference at each prompt's end, and the
name of every position (IO, S1, S2, end; N1 and N2 where ABBA and BABA rows are mixed).

The prompts are those `interp patch` sweeps (`patching_prompts`: one template layout, so every row has the same
positions), and the metric is `LogitDiff.ioi`.

>>> task = ioi_task(ioi_corpus(), n=8, split="train", corruption="abc", seed=0)
>>> task.clean.shape == task.corrupted.shape, task.position_labels[-1]
(True, 'end')
"""

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task
from interp.tasks.ioi.patching import patching_prompts
from interp.tasks.ioi.prompts import IOICorpus, IOIPrompts, ioi_corpus
from interp.text.tokenizers import Tokenizer


def prompts_task(prompts: IOIPrompts, tokenizer: Tokenizer) -> Task:
    """The task of aligned IOI prompts: their tokens, `LogitDiff.ioi(prompts)` and their position labels."""
    return Task(
        clean=prompts.clean,
        corrupted=prompts.corrupted,
        metric=LogitDiff.ioi(prompts),
        position_labels=tuple(prompts.position_labels(tokenizer)),
    )


def ioi_task(
    corpus: IOICorpus | None = None, *, n: int = 64, split: str = "train", corruption: str = "abc", seed: int = 0
) -> Task:
    """`n` aligned prompts of `split` ("train", "names", "templates", "both") with `corruption` ("abc", "swap",
    "s2_io") as a task; `corpus` defaults to the default IOI setup's."""
    corpus = ioi_corpus() if corpus is None else corpus
    return prompts_task(patching_prompts(corpus, n=n, split=split, corruption=corruption, seed=seed), corpus.tokenizer)
