"""Phase-change detection on synthetic series with a planted jump, a split jump, none, and a layer-0 shortcut."""

import json
import math

import pytest
import torch

from interp.analysis.induction.phase import PhaseError, detect_phase_change

STEPS = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
TOKENS = [s * 4096 for s in STEPS]


def series(best: list[float], *, layer0: float = 0.05) -> torch.Tensor:
    """[checkpoint layer head] scores: layer 1 head 2 follows `best`, every other head stays low."""
    scores = torch.full((len(best), 2, 4), 0.03)
    scores[:, 0, :] = layer0
    scores[:, 1, 2] = torch.tensor(best)
    return scores


def test_planted_jump_is_found_with_the_steps_on_either_side():
    best = [0.02, 0.02, 0.03, 0.02, 0.03, 0.04, 0.05, 0.80, 0.85, 0.88, 0.9, 0.9]
    loss = [4.1] * 7 + [1.0] * 5
    icl = [0.0] * 7 + [-0.8] * 5
    phase = detect_phase_change(
        steps=STEPS, tokens_seen=TOKENS, induction_scores=series(best), induction_loss=loss, icl_score=icl
    )
    assert phase.detected
    assert (phase.start_step, phase.end_step) == (32, 64)
    assert (phase.start_tokens, phase.end_tokens) == (32 * 4096, 64 * 4096)
    assert phase.head == (1, 2)
    assert phase.rise == pytest.approx(0.75)
    assert phase.induction_loss_before == 4.1 and phase.induction_loss_after == 1.0
    assert phase.icl_improved
    assert "32-64" in phase.message
    json.dumps(phase.to_json_dict(), allow_nan=False)


def test_a_jump_split_over_two_intervals_is_seen_whole():
    best = [0.02] * 6 + [0.3, 0.62, 0.66, 0.7, 0.7, 0.7]
    phase = detect_phase_change(steps=STEPS, tokens_seen=TOKENS, induction_scores=series(best))
    assert phase.detected and (phase.start_step, phase.end_step) == (16, 64)
    assert phase.rise == pytest.approx(0.62 - 0.03)  # the signal is the best layer-1 head: 0.03 before
    assert math.isnan(phase.icl_before) and not phase.icl_improved


def test_a_flat_noisy_series_has_no_phase_change():
    g = torch.Generator().manual_seed(0)
    best = (0.05 + 0.03 * torch.rand(len(STEPS), generator=g)).tolist()
    phase = detect_phase_change(steps=STEPS, tokens_seen=TOKENS, induction_scores=series(best))
    assert not phase.detected and phase.start_step is None and phase.head is None
    assert "no phase change" in phase.message
    json.dumps(phase.to_json_dict(), allow_nan=False)


def test_a_layer0_positional_shortcut_is_not_a_phase_change():
    flat = [0.03] * len(STEPS)
    scores = series(flat)
    scores[6:, 0, 1] = 0.94  # a layer-0 head attending a fixed distance back
    assert not detect_phase_change(steps=STEPS, tokens_seen=TOKENS, induction_scores=scores).detected
    assert detect_phase_change(steps=STEPS, tokens_seen=TOKENS, induction_scores=scores, layers=[0, 1]).detected


def test_a_falling_series_and_inconsistent_inputs():
    falling = detect_phase_change(steps=STEPS, tokens_seen=TOKENS, induction_scores=series([0.9 - 0.05 * i for i in range(12)]))
    assert not falling.detected and "never rises" in falling.message
    one = detect_phase_change(steps=[5], tokens_seen=[10], induction_scores=torch.zeros(1, 2, 4))
    assert not one.detected
    with pytest.raises(PhaseError, match="same checkpoints"):
        detect_phase_change(steps=STEPS[:3], tokens_seen=TOKENS, induction_scores=series([0.0] * 12))
    with pytest.raises(PhaseError, match="icl_score"):
        detect_phase_change(steps=STEPS, tokens_seen=TOKENS, induction_scores=series([0.0] * 12), icl_score=[0.0])
    with pytest.raises(PhaseError, match="layers"):
        detect_phase_change(steps=STEPS, tokens_seen=TOKENS, induction_scores=series([0.0] * 12), layers=[2])
