"""The Task interface: validation, and every patching entry point taking a task as it takes its three arguments."""

import pytest
import torch
from helpers.factories import tiny_config
from helpers.patching_pairs import pair

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task, task_inputs
from interp.analysis.patching.activation import activation_patching, prepare
from interp.analysis.patching.attribution import attribution_patching
from interp.analysis.patching.path import path_patching
from interp.core.errors import DataError
from interp.model.build import build_model


@pytest.fixture(scope="module")
def model():
    return build_model(tiny_config(n_layers=2, seed=3)).eval()


@pytest.fixture(scope="module")
def task():
    clean, corrupted, metric = pair()
    return Task(clean=clean, corrupted=corrupted, metric=metric)


def test_a_task_refuses_tokens_of_different_shapes_in_one_line():
    clean, corrupted, metric = pair()
    with pytest.raises(DataError, match=r"clean \(5, 9\) and corrupted \(5, 8\) tokens must have the same shape") as error:
        Task(clean=clean, corrupted=corrupted[:, :8], metric=metric)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"clean": torch.zeros(5, 9)}, "2-D tensor of token ids"),
        ({"corrupted": torch.zeros(9, dtype=torch.long)}, "2-D tensor of token ids"),
        ({"position_labels": ("a", "b")}, "9 strings, one per position"),
        (
            {
                "metric": LogitDiff(
                    correct=torch.zeros(4, dtype=torch.long),
                    wrong=torch.zeros(4, dtype=torch.long),
                    positions=torch.zeros(4, dtype=torch.long),
                )
            },
            "reads 4 rows",
        ),
        (
            {
                "metric": LogitDiff(
                    correct=torch.zeros(5, dtype=torch.long),
                    wrong=torch.zeros(5, dtype=torch.long),
                    positions=torch.full((5,), 9),
                )
            },
            r"in \[0, 9\)",
        ),
    ],
)
def test_a_task_checks_its_parts(change, message):
    clean, corrupted, metric = pair()
    with pytest.raises(DataError, match=message):
        Task(**{"clean": clean, "corrupted": corrupted, "metric": metric, **change})


def test_position_labels_default_to_position_numbers(task):
    assert task.position_labels == tuple(str(i) for i in range(9)) and (task.batch, task.pos) == (5, 9)


def test_task_inputs_takes_a_task_or_the_three_parts_never_both(task):
    assert task_inputs(task, None, None) == (task.clean, task.corrupted, task.metric)
    assert task_inputs(task.clean, task.corrupted, task.metric)[1] is task.corrupted
    with pytest.raises(DataError, match="not both"):
        task_inputs(task, task.corrupted, None)
    with pytest.raises(DataError, match="give a Task, or clean tokens"):
        task_inputs(task.clean, task.corrupted, None)


def test_baselines_are_the_metric_on_both_runs(model, task):
    clean, corrupted = task.baselines(model)
    with torch.no_grad():
        assert clean == pytest.approx(float(task.metric(model(task.clean))))
        assert corrupted == pytest.approx(float(task.metric(model(task.corrupted))))


@pytest.mark.parametrize("kind", ["z", "resid_pre", "pattern_by_pos"])
def test_activation_patching_of_a_task_equals_patching_its_parts(model, task, kind):
    ours = activation_patching(model, task, kind=kind)
    theirs = activation_patching(model, task.clean, task.corrupted, task.metric, kind)
    assert torch.equal(ours.values, theirs.values) and (ours.clean, ours.corrupted) == (theirs.clean, theirs.corrupted)
    reused = activation_patching(model, task, kind=kind, prepared=prepare(model, task), direction="noising")
    assert torch.equal(
        reused.values, activation_patching(model, task.clean, task.corrupted, task.metric, kind, direction="noising").values
    )


def test_path_and_attribution_patching_of_a_task_equal_patching_its_parts(model, task):
    for receivers in ("logits", [(1, 0), (1, 2)]):
        ours = path_patching(model, task, receivers=receivers, component="k")
        theirs = path_patching(model, task.clean, task.corrupted, task.metric, receivers=receivers, component="k")
        assert torch.equal(ours.values, theirs.values)
    ours = attribution_patching(model, task, kinds=["z", "resid_pre"])
    theirs = attribution_patching(model, task.clean, task.corrupted, task.metric, kinds=["z", "resid_pre"])
    assert all(torch.equal(ours[k].values, theirs[k].values) for k in ("z", "resid_pre"))


def test_a_task_with_a_positional_kind_is_refused_in_one_line(model, task):
    with pytest.raises(DataError, match="pass the other options by keyword"):
        activation_patching(model, task, "z")
