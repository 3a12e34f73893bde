"""Checkpoint averaging: the mean of the weights, refused across configs, saved as an ordinary checkpoint."""

import pytest
import torch
from helpers.factories import tiny_config

from interp.core.errors import CheckpointError
from interp.model.build import build_model
from interp.train.averaging import average_checkpoints, save_average, tail_checkpoints
from interp.train.checkpoints import load_model, read_checkpoint, resolve_checkpoint, save_checkpoint


@pytest.fixture
def run(tmp_path):
    cfg = tiny_config(seed=0)
    for step, seed in ((0, 0), (60, 1), (80, 2), (100, 3)):
        save_checkpoint(
            tmp_path / "checkpoints" / f"step_{step:06d}", build_model(tiny_config(seed=seed)), cfg, step=step, tokens_seen=step
        )
    return tmp_path


def test_the_average_is_the_elementwise_mean_of_the_tail(run):
    tail = tail_checkpoints(run, 0.4)
    assert [c.step for c in tail] == [60, 80, 100]
    states = [load_model(c).state_dict() for c in tail]
    averaged = average_checkpoints(tail).state_dict()
    for name, value in averaged.items():
        if torch.is_floating_point(value):
            assert torch.allclose(value, sum(s[name] for s in states) / 3, atol=1e-6), name
    single = average_checkpoints(tail[:1]).state_dict()
    assert all(torch.equal(single[k], states[0][k]) for k in single)


def test_the_saved_average_is_a_checkpoint_with_the_same_forward(run):
    ckpt = save_average(run, fraction=0.4)
    assert ckpt.path == run / "average-last-40pct" and ckpt.step == 100 and ckpt.metrics["averaged_checkpoints"] == 3
    tokens = torch.randint(0, ckpt.config.d_vocab, (2, 8))
    expected = average_checkpoints(tail_checkpoints(run, 0.4))(tokens)
    assert torch.allclose(load_model(resolve_checkpoint(ckpt.path))(tokens), expected, atol=1e-5)
    assert read_checkpoint(ckpt.path).config == ckpt.config


def test_mixed_configs_and_bad_fractions_are_refused(run, tmp_path):
    other = tiny_config(n_layers=1)
    save_checkpoint(tmp_path / "other", build_model(other), other, step=1, tokens_seen=1)
    with pytest.raises(CheckpointError, match="different model configs"):
        average_checkpoints([read_checkpoint(run / "checkpoints" / "step_000100"), read_checkpoint(tmp_path / "other")])
    with pytest.raises(CheckpointError, match=r"in \(0, 1\]"):
        tail_checkpoints(run, 0)


def test_the_command_writes_the_average_and_refuses_a_bad_fraction(run):
    from helpers.cli_run import run_cli

    code, out, err = run_cli("average", run, "--fraction", "0.4")
    assert code == 0, err
    assert "averaged 3 checkpoints (steps 60-100)" in out and (run / "average-last-40pct" / "model.safetensors").exists()
    code, _, err = run_cli("average", run, "--fraction", "1.5")
    assert code == 2 and "(0, 1]" in err and len(err.strip().splitlines()) == 1
