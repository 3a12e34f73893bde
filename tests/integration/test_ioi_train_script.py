"""analyses/ioi_train.py's protocol on tiny runs: runs judged at their last checkpoint, chosen on the validation
half only, rescoring reproduces the training-time scores, and extending a run trains it to the new budget."""

import json

import pytest
from helpers.factories import analysis_script

from interp.tasks.ioi.evaluation import worst_heldout_accuracy

TINY = {"model.n_layers": 1, "model.d_model": 16, "model.n_heads": 2, "model.d_head": 8, "model.d_mlp": 16,
        "train.steps": 4, "train.warmup_steps": 0, "train.n_checkpoints": 2, "train.eval_every": 2, "train.checkpoint_every": 0, "train.batch_size": 8, "train.eval_batches": 1}  # fmt: skip
N_EVAL = 8


@pytest.fixture(scope="module")
def script():
    return analysis_script("ioi_train")


@pytest.fixture(scope="module")
def runs(script, tmp_path_factory):
    root = tmp_path_factory.mktemp("ioi-runs")
    return {
        seed: (root / f"seed{seed}", script.train_seed("ioi-2l-mlp", seed, root / f"seed{seed}", TINY, n_eval=N_EVAL))
        for seed in (0, 1)
    }


def test_the_summary_judges_the_last_checkpoint(script, runs):
    run_dir, summary = runs[0]
    records = [json.loads(line) for line in (run_dir / "ioi_eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 4] and summary["step"] == 4 and summary["n_eval"] == N_EVAL
    last = records[-1]
    assert summary["test"] == last["test"] and summary["validation"] == last["validation"] and summary["scores"] == last["scores"]
    assert summary["passed_test"] == script.passed(last["test"]) and summary["validation_worst"] == worst_heldout_accuracy(
        last["validation"]
    )
    assert json.loads((run_dir / "ioi_eval.json").read_text()) == summary


def test_training_into_a_trained_run_is_refused_before_anything_is_written(script, runs):
    run_dir, _ = runs[0]
    before = (run_dir / "ioi_eval.jsonl").read_text()
    with pytest.raises(SystemExit, match="--extend"):
        script.train_seed("ioi-2l-mlp", 0, run_dir, TINY, n_eval=N_EVAL)
    assert (run_dir / "ioi_eval.jsonl").read_text() == before != ""


def test_rescoring_reproduces_the_training_time_scores(script, runs, tmp_path):
    run_dir, summary = runs[1]
    again = script.rescore(run_dir, N_EVAL, last_only=True)
    assert again["test"] == summary["test"] and again["validation"] == summary["validation"]


def test_choice_uses_the_validation_half(script, runs):
    summaries = [script.load_summary(run_dir) for run_dir, _ in runs.values()]
    best = script.choose([run_dir for run_dir, _ in runs.values()])
    assert best["validation_worst"] == max(s["validation_worst"] for s in summaries)


def test_extending_a_run_scores_the_new_checkpoints(script, runs, tmp_path):
    import shutil

    run_dir = tmp_path / "extended"
    shutil.copytree(runs[0][0], run_dir)
    summary = script.extend(run_dir, {"train.steps": 8}, N_EVAL)
    records = [json.loads(line) for line in (run_dir / "ioi_eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 4, 8] and summary["step"] == 8 and summary["steps"] == 8
    assert summary["overrides"]["train.steps"] == 8


def test_the_checkpoint_average_is_scored_and_can_be_chosen_by(script, runs):
    for run_dir, _ in runs.values():
        summary = script.score_average(run_dir, fraction=1.0, n_eval=N_EVAL)
    block = summary["average"]
    assert block["checkpoints"] == 2 and block["from_step"] == 0 and (run_dir / "average-last-100pct").is_dir()
    assert (
        block["validation_worst"] == worst_heldout_accuracy(block["validation"]) and summary["test"] != {}
    )  # the last checkpoint's scores stay
    best = script.choose([run_dir for run_dir, _ in runs.values()], by="average")
    assert best["validation_worst"] == max(script.load_summary(d)["average"]["validation_worst"] for d, _ in runs.values())
