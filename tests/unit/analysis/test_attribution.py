"""Attribution patching: exact where the metric is linear in the activation, close elsewhere."""

import pytest
import torch
from helpers.factories import tiny_config
from helpers.patching_pairs import pair

from interp.analysis.patching.activation import AXES, activation_patching
from interp.analysis.patching.attribution import attribution_patching, rank, spearman
from interp.model.build import build_model


def test_exact_when_the_metric_is_linear_in_the_patched_activation():
    # No normalization anywhere: the logits (and a logit difference) are linear in the last layer's z,
    # its values, its pattern and its attention output, so the first-order estimate is the exact patch.
    model = build_model(tiny_config(n_layers=2, normalization_type=None, seed=3))
    clean, corrupted, metric = pair(seed=4)
    estimates = attribution_patching(model, clean, corrupted, metric, kinds=["z", "z_by_pos", "v", "attn_out", "pattern_by_pos"])
    for kind, estimate in estimates.items():
        exact = activation_patching(model, clean, corrupted, metric, kind)
        assert (estimate.values[-1] - exact.values[-1]).abs().max() <= 1e-5, kind
        assert abs(estimate.clean - exact.clean) < 1e-5 and abs(estimate.corrupted - exact.corrupted) < 1e-5


def test_exact_for_the_last_mlp_output():
    model = build_model(tiny_config(n_layers=2, attn_only=False, d_mlp=64, normalization_type=None, seed=5))
    clean, corrupted, metric = pair(seed=6)
    estimate = attribution_patching(model, clean, corrupted, metric, kinds=["mlp_out"])["mlp_out"]
    exact = activation_patching(model, clean, corrupted, metric, "mlp_out")
    assert (estimate.values[-1] - exact.values[-1]).abs().max() <= 1e-5


def test_every_kind_has_the_layout_of_exact_patching(tiny_mlp_model):
    clean, corrupted, metric = pair()
    estimates = attribution_patching(tiny_mlp_model, clean, corrupted, metric)
    assert set(estimates) == set(AXES)
    for kind, estimate in estimates.items():
        assert estimate.values.shape == activation_patching(tiny_mlp_model, clean, corrupted, metric, kind).values.shape


def test_spearman():
    x = torch.tensor([0.1, 0.5, 0.3, 0.9])
    assert spearman(x, x * 10 + 1) == pytest.approx(1.0)
    assert spearman(x, -x) == pytest.approx(-1.0)
    assert rank(torch.tensor([3.0, 1.0, 3.0])).tolist() == [2.5, 1.0, 2.5]
