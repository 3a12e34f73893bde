"""The IOI task is the prompts and metric `interp patch` uses, as a Task."""

import pytest
import torch

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.patching.activation import activation_patching
from interp.model.build import build_model
from interp.model.config import ModelConfig
from interp.tasks import Task, ioi_task
from interp.tasks.ioi.patching import patching_prompts
from interp.tasks.ioi.prompts import ioi_corpus


@pytest.mark.parametrize("split, corruption", [("train", "abc"), ("names", "swap"), ("both", "s2_io")])
def test_ioi_task_round_trips_the_patching_prompts_and_their_metric(split, corruption):
    corpus = ioi_corpus()
    task = ioi_task(corpus, n=16, split=split, corruption=corruption, seed=3)
    prompts = patching_prompts(corpus, n=16, split=split, corruption=corruption, seed=3)
    expected = LogitDiff.ioi(prompts)
    assert isinstance(task, Task)
    assert torch.equal(task.clean, prompts.clean) and torch.equal(task.corrupted, prompts.corrupted)
    for name in ("correct", "wrong", "positions"):
        assert torch.equal(getattr(task.metric, name), getattr(expected, name))
    assert list(task.position_labels) == prompts.position_labels(corpus.tokenizer)
    assert {"S2", "end"} <= set(task.position_labels) and task.position_labels[int(prompts.end_pos[0])] == "end"


def test_ioi_task_defaults_to_the_default_corpus_and_patches_like_its_prompts():
    corpus = ioi_corpus()
    task, prompts = ioi_task(n=8, seed=1), patching_prompts(corpus, n=8, seed=1)
    assert torch.equal(task.clean, prompts.clean)
    model = build_model(
        ModelConfig(
            n_layers=1,
            d_model=16,
            n_ctx=prompts.clean.shape[1],
            d_head=8,
            n_heads=2,
            d_vocab=corpus.tokenizer.vocab_size,
            attn_only=True,
        )
    )
    ours = activation_patching(model, task, kind="z_by_pos")
    theirs = activation_patching(model, prompts.clean, prompts.corrupted, LogitDiff.ioi(prompts), "z_by_pos")
    assert torch.equal(ours.values, theirs.values)
