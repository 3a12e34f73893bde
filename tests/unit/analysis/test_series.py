"""Series evaluation equals the naive per-checkpoint, per-head reference, and builds the model only once."""

import json
import math

import pytest
import torch
from helpers.factories import tiny_config
from helpers.planted_induction import save_planted_run

import interp.model.build
from interp.analysis.induction.pattern_forward import pattern_forward
from interp.analysis.induction.probes import icl_score, make_probe
from interp.analysis.induction.reference import reference_series
from interp.analysis.induction.series import evaluate_series, hooked_forward, probe_for_run
from interp.core.errors import CheckpointError
from interp.model.build import build_model
from interp.train.checkpoints import CHECKPOINTS_DIR, list_checkpoints, load_model, save_checkpoint


def assert_series_equal(fast, slow):
    assert fast.steps == slow.steps and fast.tokens_seen == slow.tokens_seen
    for name, value in fast.heads.as_dict().items():
        torch.testing.assert_close(value, getattr(slow.heads, name), atol=1e-5, rtol=1e-4, msg=name)
    torch.testing.assert_close(fast.ov_copying, slow.ov_copying, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(fast.per_position_loss, slow.per_position_loss, atol=1e-5, rtol=1e-5)
    for name in ("first_half_loss", "repeated_half_loss", "icl_score"):
        torch.testing.assert_close(getattr(fast, name), getattr(slow, name), atol=1e-5, rtol=1e-5, equal_nan=True, msg=name)


@pytest.fixture(scope="module")
def layernorm_run(tmp_path_factory):
    """Three checkpoints of a tiny LayerNorm model with different weights (LN folding matters here)."""
    run_dir = tmp_path_factory.mktemp("ln-run")
    cfg = tiny_config()
    for step, seed in ((0, 0), (5, 1), (50, 2)):
        model = build_model(tiny_config(seed=seed))
        with torch.no_grad():
            model.blocks[1].ln1.weight.mul_(1.0 + seed)
            model.ln_final.weight.add_(0.5 * seed)
        save_checkpoint(run_dir / CHECKPOINTS_DIR / f"step_{step:06d}", model, cfg, step=step, tokens_seen=step * 100)
    return run_dir


def test_series_equals_naive_reference_with_layernorm(layernorm_run):
    checkpoints = list_checkpoints(layernorm_run)
    text = torch.randint(0, 11, (4, 16), generator=torch.Generator().manual_seed(3))
    probe = make_probe(vocab=torch.arange(1, 11), n_ctx=16, batch=4, generator=torch.Generator().manual_seed(0), bos=0, text=text)
    checkpoints = checkpoints[-1:]  # the reference is slow; the planted run compares two checkpoints
    assert_series_equal(evaluate_series(checkpoints, probe), reference_series(checkpoints, probe))


def test_series_equals_naive_reference_on_planted_run(tmp_path):
    checkpoints = list_checkpoints(save_planted_run(tmp_path))
    probe = probe_for_run(checkpoints[-1], batch=3)
    assert probe.text is None and len(probe.vocab) == 16 and probe.half == 8
    fast = evaluate_series(checkpoints, probe)
    # the reference is slow: compare the last two checkpoints (random-ish and planted)
    assert_series_equal(evaluate_series(checkpoints[2:], probe), reference_series(checkpoints[2:], probe))
    assert fast.heads.induction[-1, 1, 0] > 0.9 and fast.heads.induction[0, 1, 0] < 0.3
    assert math.isnan(fast.icl_score[0])
    data = fast.to_json_dict()
    json.dumps(data, allow_nan=False)
    assert data["steps"] == [0, 10, 20, 100] and data["icl_score"] == [None] * 4
    assert len(data["heads"]["induction"]) == 4 and len(data["heads"]["induction"][0]) == 2


def test_model_is_built_once(layernorm_run, monkeypatch):
    calls = []
    original = interp.model.build.build_model
    monkeypatch.setattr(interp.model.build, "build_model", lambda cfg: calls.append(cfg) or original(cfg))
    text = torch.randint(0, 11, (3, 16), generator=torch.Generator().manual_seed(4))
    probe = make_probe(vocab=torch.arange(11), n_ctx=16, batch=2, generator=torch.Generator().manual_seed(0), text=text)
    checkpoints = list_checkpoints(layernorm_run)
    series = evaluate_series(checkpoints, probe)
    assert len(calls) == 1
    # the text rows go through the hook-free forward: it must follow each checkpoint's weights
    expected = [icl_score(load_model(c), text) for c in checkpoints]
    torch.testing.assert_close(series.icl_score, torch.tensor(expected), atol=1e-5, rtol=1e-5)


def test_mixed_architectures_are_refused(layernorm_run, tmp_path):
    other = tiny_config(n_layers=1)
    save_checkpoint(tmp_path / "step_000001", build_model(other), other, step=1, tokens_seen=1)
    from interp.train.checkpoints import read_checkpoint

    checkpoints = list_checkpoints(layernorm_run) + [read_checkpoint(tmp_path / "step_000001")]
    probe = make_probe(vocab=torch.arange(11), n_ctx=16, batch=2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(CheckpointError, match="different architecture"):
        evaluate_series(checkpoints, probe)
    with pytest.raises(CheckpointError, match="no checkpoints"):
        evaluate_series([], probe)


@pytest.mark.parametrize(
    "changes", [{}, {"attn_only": False, "d_mlp": 64}, {"normalization_type": "RMS"}, {"normalization_type": None}]
)
def test_pattern_forward_equals_the_bridge_hooks(changes):
    model = build_model(tiny_config(**changes))
    with torch.no_grad():  # move LN weights and biases off their initial values
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=torch.Generator().manual_seed(parameter.numel())))
    tokens = torch.randint(0, 11, (3, 16), generator=torch.Generator().manual_seed(5))
    for fast, slow in zip(pattern_forward(model)(tokens), hooked_forward(model, tokens)):
        torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-4)
