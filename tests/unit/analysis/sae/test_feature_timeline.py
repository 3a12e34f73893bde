"""Feature tracks across checkpoints on a planted series (features introduced at known steps, shuffled at every
checkpoint), and token-feature scores on planted activations, against naive computations."""

import json

import pytest
import torch

from interp.analysis.sae import token_features as token_features_module
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.feature_timeline import (
    FeatureStatistics,
    feature_timeline,
    load_feature_timeline,
    save_feature_timeline,
)
from interp.analysis.sae.matching import match_features
from interp.analysis.sae.token_features import token_feature_scores
from interp.core.errors import ConfigError, DataError

STEPS = (0, 10, 100, 1000, 4000)
D, N = 32, 12
# the checkpoint index where each final feature appears; feature 11 is there at 0, gone at 1, back from 2 on
APPEARS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 2])
VOCAB, BATCH, POS = 12, 48, 40
PREVIOUS_FEATURE, CURRENT_FEATURE = 5, 0  # "previous token was 3" (appears at index 2), "this token is 7"


def unit(rows: torch.Tensor) -> torch.Tensor:
    return rows / rows.norm(dim=-1, keepdim=True)


def dictionary(decoder: torch.Tensor) -> SparseDictionary:
    sae = SparseDictionary(d_in=decoder.shape[1], n_features=decoder.shape[0], kind="relu", seed=0)
    with torch.no_grad():
        sae.W_dec.copy_(decoder)
        sae.W_enc.copy_(decoder.T)
    return sae


def planted_series():
    """Dictionaries whose slot f holds the final direction of feature f (noised, the noise shrinking with the
    step) from checkpoint APPEARS[f] on and an unrelated direction before; rows shuffled at each checkpoint.
    Returns the (step, dictionary) list, each checkpoint's order (row i holds slot order[i]) and the noise-free
    per-slot activations on TOKENS."""
    generator = torch.Generator().manual_seed(0)
    final = unit(torch.randn(N, D, generator=generator))
    series, orders = [], []
    for t, step in enumerate(STEPS):
        noise = 0.08 * (len(STEPS) - 1 - t) / (len(STEPS) - 1)
        rows = unit(final + noise * torch.randn(N, D, generator=generator))
        absent = APPEARS > t
        if t == 1:
            absent[11] = True
        rows[absent] = unit(torch.randn(int(absent.sum()), D, generator=generator))
        order = torch.randperm(N, generator=generator) if t < len(STEPS) - 1 else torch.arange(N)
        series.append((step, dictionary(rows[order])))
        orders.append(order)
    return series, orders


TOKENS = torch.randint(0, VOCAB, (BATCH, POS), generator=torch.Generator().manual_seed(1))


def planted_activations(orders):
    """Per checkpoint [batch pos features]: sparse noise, plus the planted token features in their slots."""
    generator = torch.Generator().manual_seed(2)
    out = []
    for t, order in enumerate(orders):
        slots = torch.relu(torch.randn(BATCH, POS, N, generator=generator) - 1.0)
        slots[..., CURRENT_FEATURE] = 1.5 * (TOKENS == 7).float()
        if t >= APPEARS[PREVIOUS_FEATURE]:
            previous = torch.zeros(BATCH, POS)
            previous[:, 1:] = (TOKENS[:, :-1] == 3).float()
            slots[..., PREVIOUS_FEATURE] = previous
        out.append(slots[..., order])
    return out


def test_tracks_appear_where_planted():
    series, _ = planted_series()
    timeline = feature_timeline(series)
    assert timeline.appearance_step.tolist() == [STEPS[i] for i in APPEARS.tolist()]
    expected_present = torch.stack([(APPEARS <= t).float().mean() for t in range(len(STEPS))])
    torch.testing.assert_close(timeline.fraction_present, expected_present)
    assert timeline.present.sum(0).tolist() == [int((APPEARS <= t).sum()) for t in range(len(STEPS))]


def test_tracks_follow_the_shuffled_rows_and_sharpen():
    series, orders = planted_series()
    timeline = feature_timeline(series)
    for t, order in enumerate(orders):
        slot_row = order.argsort()  # the row that holds each slot at checkpoint t
        chained = timeline.feature_index[:, t] >= 0
        assert torch.equal(timeline.feature_index[chained, t], slot_row[chained])
    # the chained row's cosine to the final direction, computed directly
    last = series[-1][1].W_dec.detach()
    for t, (_, sae) in enumerate(series):
        for track in range(N):
            row = int(timeline.feature_index[track, t])
            if row < 0:
                assert timeline.chain_cosine[track, t].isnan()
                continue
            direct = torch.nn.functional.cosine_similarity(sae.W_dec.detach()[row], last[track], dim=0)
            assert float(timeline.chain_cosine[track, t]) == pytest.approx(float(direct), abs=1e-5)
            assert float(timeline.nearest_cosine[track, t]) >= float(timeline.chain_cosine[track, t]) - 1e-6
    # sharpening: the noise shrinks with the step, so the tracks present from the start get closer to final
    early = timeline.chain_cosine[APPEARS == 0]
    assert bool((early[:, 1:].mean(0) > early[:, :-1].mean(0)).all())
    torch.testing.assert_close(timeline.chain_cosine[:, -1], torch.ones(N))
    # neighbours: the mean matched cosine is that of match_features; the matched share counts links >= 0.7
    for t in range(len(STEPS) - 1):
        matching = match_features(series[t][1], series[t + 1][1])
        assert float(timeline.mean_neighbour_cosine[t]) == pytest.approx(float(matching.decoder_cosine.mean()), abs=1e-6)
        share = float((matching.decoder_cosine >= 0.7).float().mean())
        assert float(timeline.matched_fraction[t]) == pytest.approx(share)


def test_statistics_correlations_and_token_features():
    series, orders = planted_series()
    acts = planted_activations(orders)
    timeline = feature_timeline(series, activations=acts, tokens=TOKENS)
    for t in range(len(STEPS)):
        stats = FeatureStatistics.of(acts[t])
        for track in range(N):
            row = int(timeline.feature_index[track, t])
            if row >= 0:
                assert float(timeline.density[track, t]) == pytest.approx(float((acts[t][..., row] > 0).float().mean()))
                assert float(timeline.max_activation[track, t]) == pytest.approx(float(stats.max_activation[row]))
            else:
                assert timeline.density[track, t].isnan() and timeline.previous_explained[track, t].isnan()
    for t in range(len(STEPS) - 1):
        matching = match_features(series[t][1], series[t + 1][1], activations_a=acts[t], activations_b=acts[t + 1])
        expected = matching.activation_correlation[matching.correlation_defined].mean()
        assert float(timeline.mean_neighbour_correlation[t]) == pytest.approx(float(expected), abs=1e-6)
    # one previous-token feature from its appearance on, one current-token feature throughout
    appears = int(APPEARS[PREVIOUS_FEATURE])
    assert timeline.previous_token_features.tolist() == [int(t >= appears) for t in range(len(STEPS))]
    assert timeline.current_token_features.tolist() == [1] * len(STEPS)
    track = timeline.previous_explained[PREVIOUS_FEATURE]
    assert bool((track[appears:] > 0.99).all()) and bool((track[:appears].nan_to_num(0.0) < 0.3).all())
    # explicit statistics are used as given
    given = [{"density": torch.full((N,), float(t)), "max_activation": torch.zeros(N)} for t in range(len(STEPS))]
    with_stats = feature_timeline(series, statistics=given)
    assert with_stats.density[0].nan_to_num(-1).tolist() == [float(t) for t in range(len(STEPS))]
    assert with_stats.mean_neighbour_correlation is None and not with_stats.has_token_scores


def test_save_load_round_trip_and_json(tmp_path):
    series, orders = planted_series()
    timeline = feature_timeline(series, activations=planted_activations(orders), tokens=TOKENS)
    save_feature_timeline(timeline, tmp_path / "out", extra={"site": "resid_post0"})
    save_feature_timeline(timeline, tmp_path / "out")  # replacing an earlier one whole
    back = load_feature_timeline(tmp_path / "out")
    assert back.steps == timeline.steps and back.n_features == timeline.n_features and back.threshold == timeline.threshold
    assert back.tensors().keys() == timeline.tensors().keys()
    for name, tensor in timeline.tensors().items():
        assert torch.equal(back.tensors()[name].nan_to_num(-9), tensor.nan_to_num(-9)), name
    text = json.dumps(timeline.to_dict(), allow_nan=False)
    assert json.loads(text)["appearance_step"] == timeline.appearance_step.tolist()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["feature_timeline.json", "feature_timeline.safetensors"]
    with pytest.raises(DataError, match="no feature timeline"):
        load_feature_timeline(tmp_path / "missing")
    (tmp_path / "out" / "feature_timeline.safetensors").write_bytes(b"not tensors")
    with pytest.raises(DataError, match="unreadable"):
        load_feature_timeline(tmp_path / "out")


def test_bad_series_is_a_one_line_error():
    series, _ = planted_series()
    with pytest.raises(ConfigError, match="increasing step order"):
        feature_timeline(series[::-1])
    with pytest.raises(ConfigError, match="every checkpoint"):
        feature_timeline(series, activations=[torch.zeros(4, N)])
    with pytest.raises(ConfigError, match="pass activations"):
        feature_timeline(series, tokens=TOKENS)


# ---- token-feature scores ----------------------------------------------------------------------------------


def naive_scores(values: torch.Tensor, groups: torch.Tensor) -> tuple[int, float, float]:
    """Best group, its share of the mass, 1 - within-group variance / total variance, by loops over groups."""
    values = values.double()
    total = float(((values - values.mean()) ** 2).sum())
    within, best, best_mass = 0.0, -1, -1.0
    for g in groups.unique().tolist():
        member = values[groups == g]
        within += float(((member - member.mean()) ** 2).sum())
        if float(member.sum()) > best_mass:
            best, best_mass = g, float(member.sum())
    return best, best_mass / float(values.sum()), 1.0 - within / total


def test_token_scores_on_planted_features(monkeypatch):
    monkeypatch.setattr(token_features_module, "CHUNK_ELEMENTS", 60)  # chunks of 2 features, of 15 tokens
    generator = torch.Generator().manual_seed(3)
    tokens = torch.randint(0, 30, (64, 48), generator=generator)
    previous_is_5 = torch.zeros(64, 48)
    previous_is_5[:, 1:] = 2.0 * (tokens[:, :-1] == 5).float()
    current_is_9 = (tokens == 9).float()
    mixed = torch.relu(torch.randn(64, 48, generator=generator))
    dead = torch.zeros(64, 48)
    acts = torch.stack([previous_is_5, current_is_9, mixed, dead], dim=-1)
    scores = token_feature_scores(acts, tokens)
    assert scores.n_positions == 64 * 47
    assert int(scores.previous_token[0]) == 5 and float(scores.previous_share[0]) == pytest.approx(1.0)
    assert float(scores.previous_explained[0]) == pytest.approx(1.0, abs=1e-6) and float(scores.current_explained[0]) < 0.05
    assert int(scores.current_token[1]) == 9 and float(scores.current_explained[1]) == pytest.approx(1.0, abs=1e-6)
    assert float(scores.previous_explained[1]) < 0.05
    assert scores.previous_token_features().tolist() == [True, False, False, False]
    assert scores.current_token_features().tolist() == [False, True, False, False]
    # the dead feature scores zero, NaN-free
    assert scores.current_token[3] == -1 and scores.previous_explained[3] == 0 and scores.current_share[3] == 0
    # every feature against the naive loops (positions 1 onward)
    values = acts[:, 1:].reshape(-1, 4)
    for name, groups in (("current", tokens[:, 1:].reshape(-1)), ("previous", tokens[:, :-1].reshape(-1))):
        for f in range(3):
            best, share, explained = naive_scores(values[:, f], groups)
            assert int(getattr(scores, f"{name}_token")[f]) == best
            assert float(getattr(scores, f"{name}_share")[f]) == pytest.approx(share, abs=1e-5)
            assert float(getattr(scores, f"{name}_explained")[f]) == pytest.approx(explained, abs=1e-5)
    with pytest.raises(DataError, match="must match the tokens"):
        token_feature_scores(acts[:, :10], tokens)
