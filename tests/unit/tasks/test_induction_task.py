"""The induction task: its rows, its calibration on the planted induction model, and patching the induction head."""

import pytest
import torch
from helpers.planted_induction import D_VOCAB, planted_model

from interp.analysis.patching.activation import activation_patching
from interp.core.errors import DataError
from interp.tasks import induction_task


@pytest.fixture(scope="module")
def model():
    return planted_model()


@pytest.mark.parametrize("corruption", ["second_half", "first_half"])
@pytest.mark.parametrize("bos", [None, 0])
def test_rows_repeat_a_sequence_and_the_corruption_replaces_one_copy(corruption, bos):
    half = 6
    task = induction_task(D_VOCAB, n=20, half=half, bos=bos, corruption=corruption, seed=2)
    start = 0 if bos is None else 1
    first, second = task.clean[:, start : start + half], task.clean[:, start + half :]
    assert torch.equal(first, second) and task.clean.shape == task.corrupted.shape == (20, start + 2 * half)
    copies = task.corrupted[:, start : start + half], task.corrupted[:, start + half :]
    kept, replaced = copies if corruption == "second_half" else copies[::-1]
    assert torch.equal(kept, first)
    for row in range(20):  # fresh tokens, the wrong answer and the sequence: all distinct within a row, none the BOS
        used = torch.cat([first[row], replaced[row], task.metric.wrong[row : row + 1]])
        assert len(used.unique()) == 2 * half + 1 and (bos is None or bool((used != bos).all()))
    rows = torch.arange(20)
    assert torch.equal(task.metric.correct, task.clean[rows, task.metric.positions + 1])  # the token that follows, in the copy
    assert bool((task.metric.positions >= start + half).all())
    assert (
        task.position_labels[start] == "A0"
        and task.position_labels[-1] == f"B{half - 1}"
        and (bos is None or task.position_labels[0] == "BOS")
    )


@pytest.mark.parametrize("corruption", ["second_half", "first_half"])
@pytest.mark.parametrize("read", ["last", "random"])
def test_the_planted_induction_model_scores_high_on_clean_rows_and_low_on_corrupted(model, corruption, read):
    task = induction_task(D_VOCAB, n=32, half=7, corruption=corruption, read=read, seed=0)
    clean, corrupted = task.baselines(model)
    assert clean > 8 and abs(corrupted) < 1.5, (clean, corrupted)


def test_a_head_that_does_not_copy_scores_nothing_on_clean_rows():
    clean, corrupted = induction_task(D_VOCAB, n=32, half=7, seed=0).baselines(planted_model(copy_sign=-1.0))
    assert clean < -8 and abs(corrupted) < 1.5


@pytest.mark.parametrize("corruption", ["second_half", "first_half"])
def test_patching_the_induction_heads_output_restores_the_clean_metric(model, corruption):
    task = induction_task(D_VOCAB, n=32, half=6, bos=0, corruption=corruption, seed=1)
    heads = activation_patching(model, task, kind="z").normalised  # [layer head]
    assert heads[1, 0] == pytest.approx(1.0, abs=1e-3)
    others = torch.ones_like(heads, dtype=torch.bool)
    others[1, 0] = False
    assert heads[others].abs().max() < 0.01
    by_pos = activation_patching(model, task, kind="z_by_pos").normalised[1, :, 0]  # the induction head, per position
    read = int(task.metric.positions[0])
    assert by_pos[read] == pytest.approx(1.0, abs=1e-3) and by_pos[torch.arange(len(by_pos)) != read].abs().max() < 1e-6


def test_the_same_seed_gives_the_same_task_and_another_seed_another():
    a, b, c = (induction_task(D_VOCAB, n=8, half=5, read="random", seed=s) for s in (4, 4, 5))
    assert (
        torch.equal(a.clean, b.clean)
        and torch.equal(a.metric.positions, b.metric.positions)
        and not torch.equal(a.clean, c.clean)
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vocab": 8, "half": 4}, "needs 9 distinct tokens"),
        ({"vocab": 16, "half": 1}, "half >= 2"),
        ({"vocab": 16, "corruption": "all"}, "unknown corruption 'all'"),
        ({"vocab": 16, "read": "first"}, "unknown read 'first'"),
        ({"vocab": torch.tensor([0.5, 1.5])}, "vocab must be"),
    ],
)
def test_bad_requests_are_one_line_errors(kwargs, message):
    with pytest.raises(DataError, match=message):
        induction_task(**{"half": 5, **kwargs})
