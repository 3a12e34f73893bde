"""Metrics: checked against torch's own cross-entropy and hand computations; shapes checked at runtime."""

import pytest
import torch
import torch.nn.functional as F
from beartype import beartype
from jaxtyping import TypeCheckError, jaxtyped

from interp.analysis.core import metrics
from interp.analysis.core.metrics import (
    AccuracyMetric,
    LogitDiff,
    answer_accuracy,
    logit_diff,
    loss_metric,
    mean_loss,
    next_token_accuracy,
    normalise,
    resolve_metric,
)
from interp.core.errors import DataError

checked = {
    name: jaxtyped(typechecker=beartype)(getattr(metrics, name))
    for name in ("per_token_loss", "logit_diff", "answer_accuracy", "loss_metric")
}


@pytest.fixture
def logits():
    return torch.randn(3, 6, 7, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def tokens():
    return torch.randint(0, 7, (3, 6), generator=torch.Generator().manual_seed(1))


def test_loss_matches_cross_entropy(logits, tokens):
    losses = checked["per_token_loss"](logits, tokens)
    assert losses.shape == (3, 5)
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, 7), tokens[:, 1:].reshape(-1), reduction="none").view(3, 5)
    torch.testing.assert_close(losses, expected)
    torch.testing.assert_close(mean_loss(logits, tokens), expected.mean())
    torch.testing.assert_close(checked["loss_metric"](logits, tokens, torch.arange(3)), expected.mean(1))


def test_logit_diff_per_row_positions(logits):
    correct, incorrect, position = torch.tensor([1, 2, 3]), torch.tensor([0, 0, 6]), torch.tensor([5, 2, 0])
    diff = checked["logit_diff"](logits, correct, incorrect, position)
    expected = torch.stack([logits[i, position[i], correct[i]] - logits[i, position[i], incorrect[i]] for i in range(3)])
    torch.testing.assert_close(diff, expected)
    last = logit_diff(logits, correct, incorrect)
    torch.testing.assert_close(
        last, logits[:, -1].gather(1, correct[:, None])[:, 0] - logits[:, -1].gather(1, incorrect[:, None])[:, 0]
    )
    with pytest.raises(DataError, match="one index per row"):
        logit_diff(logits, correct, incorrect, torch.tensor([1, 2]))


def test_accuracies(logits, tokens):
    top = logits.argmax(-1)
    answers = top[:, 2].clone()
    answers[0] = (answers[0] + 1) % 7
    assert checked["answer_accuracy"](logits, answers, 2).tolist() == [0.0, 1.0, 1.0]
    assert float(next_token_accuracy(logits, top.roll(1, dims=1))) == 1.0
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[1, 2] = True
    hit = float(top[1, 2] == tokens[1, 3])
    assert float(next_token_accuracy(logits, tokens, mask)) == hit
    with pytest.raises(DataError):
        next_token_accuracy(logits, tokens, torch.zeros(3, 5, dtype=torch.bool))


def test_runtime_shape_checks_catch_mistakes(logits, tokens):
    with pytest.raises(TypeCheckError):
        checked["per_token_loss"](logits, tokens[:, :4])  # pos disagrees between logits and tokens


def test_normalise_calibration():
    clean, corrupted = torch.tensor([3.0, -1.0]), torch.tensor([0.5, 1.0])
    assert torch.equal(normalise(clean, clean, corrupted), torch.ones(2))
    assert torch.equal(normalise(corrupted, clean, corrupted), torch.zeros(2))
    torch.testing.assert_close(normalise(torch.tensor(1.75), 3.0, 0.5), torch.tensor(0.5))
    with pytest.raises(DataError, match="cannot be normalised"):
        normalise(1.0, 2.0, 2.0)


def test_row_metrics_index_their_answers_by_dataset_row(logits):
    correct, incorrect = torch.tensor([0, 1, 2, 3, 4]), torch.tensor([6, 5, 4, 3, 2])
    rows = torch.tensor([4, 0, 2])
    diff = LogitDiff(correct, incorrect, positions=-1).per_row(logits, rows)
    torch.testing.assert_close(diff, logit_diff(logits, correct[rows], incorrect[rows]))
    accuracy = AccuracyMetric(answers=correct, position=torch.tensor([0, 1, 2, 3, 4]))(logits, None, rows)
    torch.testing.assert_close(accuracy, answer_accuracy(logits, correct[rows], torch.tensor([4, 0, 2])))
    assert resolve_metric("loss") == ("loss", loss_metric)
    with pytest.raises(DataError, match="unknown metric"):
        resolve_metric("lose")
