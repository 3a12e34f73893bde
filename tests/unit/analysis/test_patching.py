"""Batched activation patching: calibration, the partial forward, and equality with TransformerLens's loop."""

import pytest
import torch
from helpers.factories import tiny_config
from helpers.patching_pairs import pair

from interp.analysis.core.metrics import LogitDiff, normalise
from interp.analysis.patching.activation import KINDS, PatchingError, activation_patching, first_difference, prepare
from interp.analysis.patching.partial_forward import (
    SuffixError,
    capture_run,
    forward_cache,
    tail_logits,
)
from interp.analysis.patching.reference import reference_patching
from interp.model.build import build_model
from interp.model.engine.attention import attention_scale
from interp.model.engine.bridge_blocks import run_blocks_from
from interp.model.engine.weights import Weights

ATTN_KINDS = [k for k in KINDS if k != "mlp_out"]


@pytest.fixture(scope="module")
def attn_model():
    return build_model(tiny_config(n_layers=3, seed=1))


@pytest.fixture(scope="module")
def mlp_model():
    return build_model(tiny_config(n_layers=2, attn_only=False, d_mlp=64, seed=2))


def no_hooks_left(model) -> bool:
    return all(not hp._forward_hooks and not hp._backward_hooks for hp in model.hook_dict.values())


@pytest.mark.parametrize(
    "kind",
    ["resid_pre", "attn_out", "z", "z_by_pos", "q", "k_by_pos", "v", "v_by_pos", "q_by_pos", "pattern", "pattern_by_pos", "k"],
)
def test_batched_equals_transformer_lens_attention_only(attn_model, kind):
    clean, corrupted, metric = pair()
    ours = activation_patching(attn_model, clean, corrupted, metric, kind)
    theirs = reference_patching(attn_model, clean, corrupted, metric, kind)
    assert ours.values.shape == theirs.shape
    assert (ours.values - theirs).abs().max() <= 1e-5
    assert no_hooks_left(attn_model)


@pytest.mark.parametrize("kind", ["mlp_out", "attn_out", "resid_pre", "z_by_pos", "k", "pattern_by_pos"])
def test_batched_equals_transformer_lens_with_mlps(mlp_model, kind):
    clean, corrupted, metric = pair(seed=1)
    ours = activation_patching(mlp_model, clean, corrupted, metric, kind)
    theirs = reference_patching(mlp_model, clean, corrupted, metric, kind)
    assert (ours.values - theirs).abs().max() <= 1e-5


@pytest.mark.parametrize("kind", ["resid_pre", "z", "z_by_pos", "k_by_pos", "q_by_pos", "pattern_by_pos", "mlp_out"])
def test_noising_equals_transformer_lens_with_the_runs_exchanged(attn_model, mlp_model, kind):
    """Noising (corrupted cells into the clean run) is TransformerLens's loop with clean and corrupted exchanged,
    and keeps clean = 1 / corrupted = 0 as its baselines; one prepared pair serves both directions."""
    model = mlp_model if kind == "mlp_out" else attn_model
    clean, corrupted, metric = pair(seed=3)
    prepared = prepare(model, clean, corrupted, read=metric.positions)
    noising = activation_patching(model, clean, corrupted, metric, kind, direction="noising", prepared=prepared)
    denoising = activation_patching(model, clean, corrupted, metric, kind, prepared=prepared)
    theirs = reference_patching(model, corrupted, clean, metric, kind)
    assert (noising.values - theirs).abs().max() <= 1e-5
    assert noising.direction == "noising" and (noising.clean, noising.corrupted) == (denoising.clean, denoising.corrupted)
    assert not torch.allclose(noising.values, denoising.values)


def test_noising_calibration_and_a_fully_necessary_cell(attn_model):
    """Corrupting the only changed token's residual stream destroys the clean answer (normalised 0); cells
    before the first changed token cannot matter (normalised 1)."""
    clean, corrupted, metric = pair(changed=(4,))
    result = activation_patching(attn_model, clean, corrupted, metric, "resid_pre", direction="noising")
    assert abs(float(result.normalised[0, 4])) < 1e-4
    assert torch.allclose(result.normalised[:, :4], torch.tensor(1.0), atol=1e-5)
    with pytest.raises(PatchingError, match="unknown direction"):
        activation_patching(attn_model, clean, corrupted, metric, "z", direction="backwards")


def test_calibration_clean_into_clean_is_one_and_corrupted_into_corrupted_is_zero(attn_model):
    clean, corrupted, metric = pair()
    real = activation_patching(attn_model, clean, corrupted, metric, "z")
    same_clean = activation_patching(attn_model, clean, clean, metric, "z_by_pos")
    same_corrupted = activation_patching(attn_model, corrupted, corrupted, metric, "resid_pre")
    assert torch.allclose(normalise(same_clean.values, real.clean, real.corrupted), torch.tensor(1.0), atol=1e-5)
    assert torch.allclose(normalise(same_corrupted.values, real.clean, real.corrupted), torch.tensor(0.0), atol=1e-5)
    assert abs(real.clean - same_clean.clean) < 1e-5 and abs(real.corrupted - same_corrupted.corrupted) < 1e-5


def test_one_corrupted_token_is_fully_restored_by_its_residual(attn_model):
    clean, corrupted, metric = pair(changed=(4,))
    result = activation_patching(attn_model, clean, corrupted, metric, "resid_pre")
    assert abs(float(result.values[0, 4]) - result.clean) < 1e-5  # normalised: 1
    assert torch.allclose(result.values[0, :4], torch.tensor(result.corrupted), atol=1e-5)  # normalised: 0


@pytest.mark.parametrize("attn_only", [True, False])
def test_partial_forward_matches_the_full_forward(attn_only):
    model = build_model(
        tiny_config(n_layers=3, attn_only=attn_only, d_mlp=None if attn_only else 64, normalization_type="RMS", seed=4)
    )
    tokens, _, metric = pair()
    full = model(tokens)
    run, w, scale = capture_run(model, tokens), Weights.of(model), attention_scale(model)
    mine = forward_cache(w, tokens, scale)
    for name in ("resid_pre", "z", "pattern", "resid_post"):
        assert all((a - b).abs().max() < 1e-5 for a, b in zip(getattr(run, name), getattr(mine, name)))
    rows = torch.arange(tokens.shape[0])
    with torch.no_grad():
        for start in range(4):
            resid = run.resid_pre[start] if start < 3 else run.resid_post[-1]
            assert (run_blocks_from(model, resid, start) - full).abs().max() < 1e-5
            for first in (0, 3):
                logits = tail_logits(w, resid[None, :, first:], start, first, mine, metric.positions, scale)
                assert (logits[0] - full[rows, metric.positions]).abs().max() < 1e-5


def test_errors_are_one_line_and_clear(attn_model):
    clean, corrupted, metric = pair()
    with pytest.raises(PatchingError, match="unknown patching kind"):
        activation_patching(attn_model, clean, corrupted, metric, "nope")
    with pytest.raises(PatchingError, match="same shape"):
        activation_patching(attn_model, clean, corrupted[:, :-1], metric, "z")
    with pytest.raises(PatchingError, match="no MLP"):
        activation_patching(attn_model, clean, corrupted, metric, "mlp_out")
    rotary = build_model(tiny_config(positional_embedding_type="rotary"))
    with pytest.raises(SuffixError, match="rotary"):
        activation_patching(rotary, clean, corrupted, metric, "z")


def test_a_prepared_pair_with_logits_at_the_read_positions_only(attn_model):
    """prepare(read=...) computes logits only where the metric reads (NaN elsewhere) and gives the same sweep;
    reusing it for a metric that reads elsewhere is refused rather than read as NaN."""
    clean, corrupted, metric = pair()
    prepared = prepare(attn_model, clean, corrupted, read=metric.positions)
    full = prepare(attn_model, clean, corrupted)
    rows = torch.arange(len(metric))
    assert torch.allclose(prepared.clean.logits[rows, metric.positions], full.clean.logits[rows, metric.positions])
    assert torch.isnan(prepared.clean.logits[rows, (metric.positions + 1) % clean.shape[1]]).all()
    for kind in ("z_by_pos", "resid_pre"):
        fast = activation_patching(attn_model, clean, corrupted, metric, kind, prepared=prepared)
        assert torch.allclose(
            fast.values, activation_patching(attn_model, clean, corrupted, metric, kind, prepared=full).values, atol=1e-6
        )
    elsewhere = LogitDiff(metric.correct, metric.wrong, metric.positions - 1)
    with pytest.raises(PatchingError, match="other positions"):
        activation_patching(attn_model, clean, corrupted, elsewhere, "z", prepared=prepared)


def test_aliases_and_first_difference(attn_model):
    clean, corrupted, metric = pair()
    assert first_difference(clean, corrupted) == 2 and first_difference(clean, clean) == clean.shape[1]
    assert activation_patching(attn_model, clean, corrupted, metric, "heads").kind == "z"
