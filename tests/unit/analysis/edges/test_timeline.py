"""Circuit timelines over the planted run: every checkpoint is measured with its own weights."""

import pytest
import torch
from helpers.planted_induction import save_planted_run

from interp.analysis.edges.exact import edge_patching
from interp.analysis.edges.faithfulness import circuit_rows
from interp.analysis.edges.problem import prepare
from interp.analysis.edges.timeline import circuit_timeline, select_checkpoints
from interp.core.errors import DataError
from interp.tasks import induction_task
from interp.train.checkpoints import list_checkpoints, load_model


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return list_checkpoints(save_planted_run(tmp_path_factory.mktemp("runs") / "planted"))


@pytest.fixture(scope="module")
def task():
    return induction_task(16, n=12, half=5, corruption="both", seed=3)


@pytest.mark.parametrize("method", ["exact", "eap-ig", "acdc"])
def test_each_checkpoint_is_scored_and_measured_with_its_own_weights(checkpoints, task, method):
    timeline = circuit_timeline(checkpoints, task, method=method)
    for index, ckpt in enumerate(checkpoints):
        model = load_model(ckpt)
        problem = prepare(model, task)
        assert float(timeline.metric_clean[index]) == pytest.approx(problem.clean, abs=1e-4)
        alone = float(circuit_rows(problem, [timeline.circuit])[0].mean())
        assert float(timeline.metric_circuit[index]) == pytest.approx(alone, abs=1e-4)
        if method == "exact":
            assert torch.allclose(timeline.effects[index], edge_patching(model, task).effects, atol=1e-5)


def test_checkpoint_selection(checkpoints):
    assert [c.step for c in select_checkpoints(checkpoints, "10,100")] == [10, 100]
    assert select_checkpoints(checkpoints, "log") == checkpoints  # fewer than a dozen: all of them
    with pytest.raises(DataError, match=r"no checkpoint at step \[55\]"):
        select_checkpoints(checkpoints, "0,55")
    with pytest.raises(DataError, match="all, log or steps"):
        select_checkpoints(checkpoints, "latest")
