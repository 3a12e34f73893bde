"""Logit directions from tasks and --direction text, the attribution across checkpoints (equal to attributing
each checkpoint on its own), and round trips of the saved files."""

import pytest
import torch

import interp
from interp.analysis.logit_attribution.decompose import direct_logit_attribution
from interp.analysis.logit_attribution.directions import parse_direction, task_direction
from interp.analysis.logit_attribution.files import (
    load_attribution,
    load_series,
    run_attributions,
    run_dla_dir,
    save_attribution,
    save_series,
)
from interp.analysis.logit_attribution.series import attribution_series
from interp.core.errors import CheckpointError, DataError
from interp.tasks import induction_task
from interp.text.tokenizers import CharTokenizer
from interp.train.checkpoints import load_model


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return interp.train_run("tiny", tmp_path_factory.mktemp("runs") / "tiny", progress=False)


@pytest.fixture(scope="module")
def task():
    return induction_task(16, n=8, half=4, seed=0)


def test_task_directions(task):
    difference, answer = task_direction(task), task_direction(task, "answer")
    assert torch.equal(difference.answer, task.metric.correct) and torch.equal(difference.distractor, task.metric.wrong)
    assert answer.distractor is None and torch.equal(answer.positions, task.metric.positions)
    logits = torch.randn(task.batch, task.pos, 16)
    torch.testing.assert_close(difference.of_logits(logits), task.metric.per_row(logits))


def test_parse_direction_reads_tokens_and_ids_and_refuses_the_rest(task):
    tokenizer = CharTokenizer("abcdefghijklmnop")
    assert parse_direction("token:c", task, d_vocab=16, tokenizer=tokenizer).answer.tolist() == [2] * task.batch
    assert parse_direction("id:5", task, d_vocab=16).label == "token id 5"
    assert parse_direction("answer", task, d_vocab=16).distractor is None
    for text, message in (
        ("token:cd", "is 2 tokens"),
        ("token:z", "cannot be encoded"),
        ("id:16", "outside the model's vocabulary of 16"),
        ("id:x", "integer token id"),
        ("sideways", "unknown direction 'sideways'"),
    ):
        with pytest.raises(DataError, match=message) as caught:
            parse_direction(text, task, d_vocab=16, tokenizer=tokenizer)
        assert "\n" not in str(caught.value)
    with pytest.raises(DataError, match="records no tokenizer"):
        parse_direction("token:c", task, d_vocab=16)


def test_series_equals_each_checkpoint_on_its_own(tiny_run, task):
    series = attribution_series(tiny_run.checkpoints, task)
    assert series.steps == tuple(c.step for c in tiny_run.checkpoints)
    for index, ckpt in enumerate(tiny_run.checkpoints):
        alone = direct_logit_attribution(load_model(ckpt), task.clean, task_direction(task))
        mean, sem = alone.mean_sem("heads")
        torch.testing.assert_close(series.heads[index], mean)
        torch.testing.assert_close(series.heads_sem[index], sem)
        torch.testing.assert_close(series.logit_value[index], alone.logit_value.mean())
    # the standard error is the sample standard deviation over rows / sqrt(rows)
    torch.testing.assert_close(sem, alone.heads.std(0) / task.batch**0.5)
    assert float(series.max_error.max()) < 1e-4


def test_series_refuses_mixed_architectures(tiny_run, tmp_path, task):
    other = interp.train_run("tiny", tmp_path / "other", overrides={"model.n_layers": 1}, progress=False)
    with pytest.raises(CheckpointError, match="different architecture"):
        attribution_series([tiny_run.checkpoints[0], other.checkpoints[-1]], task)


def test_files_round_trip(tiny_run, task, tmp_path):
    model = load_model(tiny_run.checkpoints[-1])
    result = direct_logit_attribution(model, task.clean, task_direction(task), position_labels=task.position_labels)
    series = attribution_series(tiny_run.checkpoints, task)
    folder = run_dla_dir(tmp_path, "induction-answer-distractor")
    save_attribution(result, folder, extra={"step": 10})
    save_series(series, folder, extra={"task": "induction"})
    back, meta = load_attribution(folder)
    assert meta["step"] == 10 and back.position_labels == task.position_labels and back.direction == result.direction
    torch.testing.assert_close(back.by_source, result.by_source)
    torch.testing.assert_close(back.total, result.total)
    series_back, meta = load_series(folder)
    assert series_back.steps == series.steps and meta["task"] == "induction"
    torch.testing.assert_close(series_back.heads, series.heads)
    [(name, found, found_series, _)] = run_attributions(tmp_path)
    assert name == "induction-answer-distractor" and found is not None and found_series is not None
    (folder / "series.safetensors").write_bytes(b"not a file")
    assert run_attributions(tmp_path)[0][2] is None  # unreadable parts are skipped, not fatal
