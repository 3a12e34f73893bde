"""The feature-timeline figures, checked against the numbers of a timeline built by hand (every expected value is
known) and against one computed from dictionaries."""

import math

import pytest
import torch

from interp.analysis.induction.phase import PhaseChange
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.feature_timeline import FeatureTimeline, feature_timeline
from interp.core.errors import DataError
from interp.report import sae_timeline_figures as figures

STEPS = (0, 10, 100, 1000)
NAN = math.nan


def planted_timeline(token_scores: bool = True) -> FeatureTimeline:
    # 3 tracks: track 0 chained throughout, track 1 from step 100, track 2 only at the last checkpoint
    index = torch.tensor([[0, 1, 2, 0], [-1, -1, 0, 1], [-1, -1, -1, 2]])
    chain = torch.tensor([[0.75, 0.8, 0.9, 1.0], [NAN, NAN, 0.85, 1.0], [NAN, NAN, NAN, 1.0]])
    nearest = torch.tensor([[0.75, 0.8, 0.9, 1.0], [0.2, 0.4, 0.85, 1.0], [0.1, 0.1, 0.3, 1.0]])
    density = torch.tensor([[0.1, 0.1, 0.2, 0.2], [NAN, NAN, 0.3, 0.5], [NAN, NAN, NAN, 0.01]])
    return FeatureTimeline(
        steps=STEPS,
        threshold=0.7,
        n_features=(3, 3, 3, 3),
        feature_index=index,
        chain_cosine=chain,
        nearest_cosine=nearest,
        mean_neighbour_cosine=torch.tensor([0.5, 0.6, 0.9]),
        matched_fraction=torch.tensor([1 / 3, 1 / 3, 2 / 3]),
        mean_neighbour_correlation=torch.tensor([0.2, 0.4, 0.8]),
        density=density,
        max_activation=density * 10,
        previous_explained=chain * 0.5,
        current_explained=chain * 0.1,
        previous_token_features=torch.tensor([0, 0, 1, 2]) if token_scores else None,
        current_token_features=torch.tensor([3, 2, 1, 1]) if token_scores else None,
    )


PHASE = PhaseChange(
    detected=True,
    start_step=10,
    end_step=100,
    start_tokens=1000,
    end_tokens=10000,
    score_before=0.0,
    score_after=0.9,
    rise=0.9,
    head=(1, 0),
    induction_loss_before=NAN,
    induction_loss_after=NAN,
    icl_before=NAN,
    icl_after=NAN,
    min_rise=0.1,
    message="",
)


def test_presence_figure():
    timeline = planted_timeline()
    fig = figures.presence_figure(timeline, phase=PHASE)
    assert len(fig.data) == 4  # present, mean cosine, matched share, correlation
    present = fig.data[0]
    assert list(present.x) == [10, 100, 1000]  # step 0 cannot sit on the log axis
    assert list(present.y) == pytest.approx([1 / 3, 2 / 3, 1.0])  # track 0's cosine at step 0 is above 0.7 too
    assert list(fig.data[1].x) == [10, 100, 1000] and list(fig.data[1].y) == pytest.approx([0.5, 0.6, 0.9])
    assert list(fig.data[3].y) == pytest.approx([0.2, 0.4, 0.8])
    assert fig.layout.xaxis.type == "log" and len(fig.layout.shapes) == 1
    assert (fig.layout.shapes[0].x0, fig.layout.shapes[0].x1) == (10, 100)


def test_appearance_histogram():
    timeline = planted_timeline()
    fig = figures.appearance_histogram(timeline, phase=PHASE)
    bars, cumulative = fig.data
    assert list(bars.x) == ["0", "10", "100", "1000"] and list(bars.y) == [1, 0, 1, 1]
    assert list(cumulative.y) == pytest.approx([1 / 3, 1 / 3, 2 / 3, 1.0])
    assert (fig.layout.shapes[0].x0, fig.layout.shapes[0].x1) == (0.5, 2.5)  # categories 10 .. 100
    assert len(figures.appearance_histogram(timeline).layout.shapes) == 0


def test_sharpening_figure_draws_the_top_tracks():
    timeline = planted_timeline()
    assert timeline.top_tracks(2) == [1, 0]  # densest at the last checkpoint first
    fig = figures.sharpening_figure(timeline, n=2)
    assert len(fig.data) == 4  # chain + nearest per track
    assert fig.data[0].name.startswith("feature 1 (appears at step 100)")
    chain = fig.data[0].y
    assert chain[0] is None or math.isnan(chain[0])  # before the chain
    assert list(chain[1:]) == pytest.approx([0.85, 1.0])
    assert list(fig.data[1].y) == pytest.approx([0.4, 0.85, 1.0])
    explicit = figures.sharpening_figure(timeline, tracks=[2])
    assert len(explicit.data) == 2 and "feature 2" in explicit.data[0].name


def test_token_feature_counts():
    fig = figures.token_feature_counts(planted_timeline(), phase=PHASE)
    assert [trace.name for trace in fig.data] == ["previous-token features", "current-token features"]
    assert list(fig.data[0].y) == [0, 1, 2] and list(fig.data[1].y) == [2, 1, 1]
    with pytest.raises(DataError, match="no token scores"):
        figures.token_feature_counts(planted_timeline(token_scores=False))


def test_figures_from_a_computed_timeline():
    saes = [(step, SparseDictionary(d_in=8, n_features=5, kind="relu", seed=min(step, 10))) for step in (0, 10, 100)]
    tokens = torch.randint(0, 6, (4, 9), generator=torch.Generator().manual_seed(0))
    acts = [sae.encode(torch.randn(4, 9, 8, generator=torch.Generator().manual_seed(step))).detach() for step, sae in saes]
    timeline = feature_timeline(saes, activations=acts, tokens=tokens)
    for fig in (
        figures.presence_figure(timeline),
        figures.appearance_histogram(timeline),
        figures.sharpening_figure(timeline),
        figures.token_feature_counts(timeline),
    ):
        assert len(fig.data) > 0 and all(len(trace.y) > 0 for trace in fig.data)
        fig.to_json()  # serialisable as a page would embed it
    assert sum(figures.appearance_histogram(timeline).data[0].y) == 5
