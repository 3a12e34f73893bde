"""Head classification from score thresholds."""

import pytest
import torch
from helpers.planted_induction import planted_model

from interp.analysis.induction.head_classes import HeadThresholds, classify_heads, head_labels
from interp.analysis.induction.head_scores import SCORE_NAMES, HeadScores
from interp.core.errors import InterpError


def scores(**values) -> dict[str, float]:
    base = dict.fromkeys(SCORE_NAMES, 0.0)
    base.update(values)
    return base


def test_labels_from_thresholds():
    assert head_labels(scores(previous_token=0.9)) == ("previous-token",)
    assert head_labels(scores(induction=0.8, prefix_matching=0.7, copying=0.9)) == ("induction", "copying")
    assert head_labels(scores(induction=0.9, prefix_matching=0.05)) == ("positional-offset",)
    assert head_labels(scores(prefix_matching=0.5)) == ("prefix-matching",)
    assert head_labels(scores(duplicate_token=0.6)) == ("duplicate-token",)
    assert head_labels(scores(ov_copying=0.9)) == ("copying",)
    assert head_labels(scores()) == ("other",)
    strict = HeadThresholds(previous_token=0.95)
    assert head_labels(scores(previous_token=0.9), strict) == ("other",)


def test_table_rows_per_checkpoint_layer_head():
    n = torch.zeros(3, 2, 4)
    induction = n.clone()
    induction[2, 1, 3] = 0.9
    heads = HeadScores(previous_token=n, induction=induction, prefix_matching=induction, duplicate_token=n, copying=n)
    rows = classify_heads(heads, steps=[0, 10, 100], ov_copying=n + 0.8)
    assert len(rows) == 24
    assert [(r.step, r.layer, r.head) for r in rows[:5]] == [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3), (0, 1, 0)]
    last = rows[-1]
    assert (last.step, last.name, last.labels) == (100, "L1H3", ("induction", "copying"))
    assert last.scores["ov_copying"] == pytest.approx(0.8)
    with pytest.raises(InterpError, match="steps"):
        classify_heads(heads, steps=[0])


def test_planted_model_is_classified():
    from interp.analysis.induction.probes import make_probe
    from interp.analysis.induction.series import evaluate_model

    probe = make_probe(vocab=torch.arange(16), n_ctx=16, batch=8, generator=torch.Generator().manual_seed(0))
    result = evaluate_model(planted_model(), probe)
    rows = {r.name: r for r in classify_heads(result.heads, steps=[7], ov_copying=result.ov_copying)}
    assert rows["L0H0"].labels == ("previous-token",) and rows["L0H0"].step == 7
    assert rows["L1H0"].labels == ("induction", "copying")
    assert rows["L1H1"].labels == ("other",)
