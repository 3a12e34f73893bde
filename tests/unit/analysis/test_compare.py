"""Comparing heads of two models: distances against hand computations, effects against single-model studies."""

import math

import plotly.graph_objects as go
import pytest
import torch
from helpers.factories import tiny_config

from interp.analysis.ablation.compare import compare_heads, comparison_to_dict, mean_pattern_distance, pattern_distance
from interp.analysis.ablation.study import ablation_study
from interp.core.errors import DataError
from interp.model.build import build_model
from interp.report.ablation_figures import ablation_heatmap, comparison_heatmap


@pytest.fixture
def tokens():
    return torch.randint(0, 11, (6, 8), generator=torch.Generator().manual_seed(4))


def test_distances_against_hand_computations():
    p = torch.tensor([0.5, 0.5, 0.0])
    q = torch.tensor([0.0, 0.5, 0.5])
    m = (p + q) / 2

    def kl(a, b):
        return sum(float(x) * math.log2(float(x) / float(y)) for x, y in zip(a, b) if x > 0)

    def shaped(t):
        return t.view(1, 1, 1, 3)

    js = 0.5 * kl(p, m) + 0.5 * kl(q, m)
    assert pattern_distance(shaped(p), shaped(q)).item() == pytest.approx(js)
    assert pattern_distance(shaped(p), shaped(q), "tv").item() == pytest.approx(0.5)
    assert pattern_distance(shaped(p), shaped(p)).item() == 0.0
    with pytest.raises(DataError):
        pattern_distance(shaped(p), shaped(q), "kl")


def test_a_model_compared_with_itself(tiny_model, tokens):
    comparison = compare_heads(tiny_model, tiny_model, tokens, method="zero", labels=("x", "x again"))
    assert torch.equal(comparison.effects_a, comparison.effects_b)
    assert float(comparison.pattern_distance.abs().max()) < 1e-6


def test_two_models(tiny_model, tokens):
    other = build_model(tiny_config(seed=1))
    comparison = compare_heads(tiny_model, other, tokens, method="mean", distance="tv", batch_size=4)
    torch.testing.assert_close(comparison.effects_a, ablation_study(tiny_model, tokens, method="mean", batch_size=4).effects)
    torch.testing.assert_close(comparison.effects_b, ablation_study(other, tokens, method="mean", batch_size=4).effects)
    # reference: patterns from TransformerLens's own cache, distance averaged by hand
    _, cache_a = tiny_model.run_with_cache(tokens)
    _, cache_b = other.run_with_cache(tokens)
    for layer in range(2):
        a, b = cache_a[f"blocks.{layer}.attn.hook_pattern"], cache_b[f"blocks.{layer}.attn.hook_pattern"]
        expected = 0.5 * (a - b).abs().sum(-1).mean(dim=(0, 2))
        torch.testing.assert_close(comparison.pattern_distance[layer], expected, atol=1e-5, rtol=1e-5)
    assert float(comparison.pattern_distance.min()) > 0
    rows = comparison.rows
    assert len(rows) == 8 and rows[5]["name"] == "L1H1"
    assert comparison_to_dict(comparison)["rows"] == rows
    fig = comparison_heatmap(comparison)
    assert isinstance(fig, go.Figure) and len(fig.data) == 3
    assert [list(r) for r in fig.data[2].z] == comparison.pattern_distance.tolist()


def test_models_of_different_shapes_are_refused(tiny_model, tokens):
    with pytest.raises(DataError, match="different shapes"):
        mean_pattern_distance(tiny_model, build_model(tiny_config(n_layers=1)), tokens)


def test_ablation_heatmaps(tiny_model, tiny_mlp_model, tokens):
    heads = ablation_study(tiny_model, tokens, method="zero")
    fig = ablation_heatmap(heads)
    assert list(fig.data[0].x) == ["H0", "H1", "H2", "H3"] and list(fig.data[0].y) == ["L0", "L1"]
    assert [list(r) for r in fig.data[0].z] == heads.effects.tolist()
    layers = ablation_heatmap(ablation_study(tiny_mlp_model, tokens, method="zero", over="layers"))
    assert list(layers.data[0].x) == ["attn", "mlp"]
    pairs = ablation_heatmap(ablation_study(tiny_model, tokens, method="zero", over="pairs"))
    assert len(pairs.data[0].x) == 8 and len(pairs.data[0].z) == 8
