import json

import pytest
import torch
from helpers.factories import assert_same_weights, train_interrupted

from interp.core.errors import ConfigError, TrainingDiverged
from interp.model.sampling import sample
from interp.train.baseline import bigram_loss
from interp.train.checkpoints import list_checkpoints, load_model
from interp.train.config import RunConfig
from interp.train.data import TrainingData
from interp.train.loop import METRICS_FILE, train


def synthetic_run(**train_changes) -> RunConfig:
    return RunConfig.from_dict(
        {
            "model": dict(n_layers=2, d_model=32, n_heads=4, d_head=8, n_ctx=32, attn_only=True, seed=3),
            "data": dict(corpus="none", tokenizer="char", repeated_fraction=1.0, span_min=4, span_max=12),
            "train": {**dict(steps=40, batch_size=16, lr=3e-3, eval_every=10, n_checkpoints=8, seed=5), **train_changes},
        }
    )


def read_metrics(run_dir):
    return [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines()]


def test_batches_are_a_function_of_the_step():
    data = TrainingData.prepare(synthetic_run())
    assert torch.equal(data.batch(7), data.batch(7))
    assert not torch.equal(data.batch(7), data.batch(8))
    assert data.batch(0).shape == (16, 32)


def test_short_run_writes_log_spaced_checkpoints_and_loss_falls(tmp_path):
    result = train(synthetic_run(), tmp_path / "run", progress=False)
    steps = [c.step for c in result.checkpoints]
    assert steps[0] == 0 and steps[-1] == 40 and len(steps) == 8
    metrics = read_metrics(tmp_path / "run")
    assert metrics[-1]["val_repeated"] < metrics[0]["val_repeated"] - 0.1
    assert result.checkpoints[-1].run == synthetic_run()
    assert result.checkpoints[-1].tokens_seen == 40 * 16 * 32


def test_resume_continues_exactly(tmp_path):
    run = synthetic_run()
    train(run, tmp_path / "straight", progress=False)
    train_interrupted(run, tmp_path / "resumed", after_step=11)
    assert list_checkpoints(tmp_path / "resumed")[-1].step < 40
    train(run, tmp_path / "resumed", resume=True, progress=False)

    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    straight, resumed = read_metrics(tmp_path / "straight"), read_metrics(tmp_path / "resumed")
    assert [m["step"] for m in straight] == [m["step"] for m in resumed]
    assert straight == resumed


def test_training_refuses_to_overwrite_or_resume_with_another_config(tmp_path):
    train(synthetic_run(steps=3, n_checkpoints=2, eval_every=3), tmp_path / "r", progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(synthetic_run(steps=3, n_checkpoints=2, eval_every=3), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match=r"different config \(train.lr changed\)"):
        train(synthetic_run(steps=3, n_checkpoints=2, eval_every=3, lr=1e-3), tmp_path / "r", resume=True, progress=False)
    with pytest.raises(ConfigError, match=r"would end before that"):  # the run has taken 3 steps already
        train(synthetic_run(steps=2, n_checkpoints=2, eval_every=3), tmp_path / "r", resume=True, progress=False)
    assert json.loads((tmp_path / "r" / "run.json").read_text())["run"]["train"]["steps"] == 3  # untouched


def test_extending_a_run_equals_training_for_longer_from_the_start(tmp_path):
    """--resume with a larger train.steps (constant learning rate): the weights and validation losses of the
    extended run equal those of a run given the larger budget from the start; run.json records the new budget."""
    train(synthetic_run(steps=40), tmp_path / "straight", progress=False)
    train(synthetic_run(steps=20), tmp_path / "extended", progress=False)
    train(synthetic_run(steps=40), tmp_path / "extended", resume=True, progress=False)
    assert_same_weights(tmp_path / "straight", tmp_path / "extended")
    # validation losses match at every logged step; train_loss is a mean since the previous record, and records
    # are also written at checkpoint steps, which are log-spaced over each budget
    straight, extended = (
        {m["step"]: m["val_repeated"] for m in read_metrics(tmp_path / name)} for name in ("straight", "extended")
    )
    common = set(straight) & set(extended)
    assert {0, 10, 20, 30, 40} <= common and all(straight[step] == extended[step] for step in common)
    assert json.loads((tmp_path / "extended" / "run.json").read_text())["run"]["train"]["steps"] == 40
    assert list_checkpoints(tmp_path / "extended")[-1].run == synthetic_run(steps=40)


def test_a_constant_run_given_a_final_decay_equals_that_schedule_from_the_start(tmp_path):
    wsd = dict(steps=40, schedule="wsd", decay_steps=20, min_lr_ratio=0.0)
    train(synthetic_run(**wsd), tmp_path / "straight", progress=False)
    train(synthetic_run(steps=20), tmp_path / "decayed", progress=False)
    train(synthetic_run(**wsd), tmp_path / "decayed", resume=True, progress=False)
    assert_same_weights(tmp_path / "straight", tmp_path / "decayed")
    assert read_metrics(tmp_path / "decayed")[-1]["lr"] == pytest.approx(3e-3 / 20)  # the last step's rate


def test_a_change_to_steps_already_taken_cannot_be_resumed(tmp_path):
    train(synthetic_run(steps=6, n_checkpoints=2, eval_every=3, schedule="cosine"), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="would change the learning rate of steps already taken"):
        train(
            synthetic_run(steps=9, n_checkpoints=2, eval_every=3, schedule="cosine"), tmp_path / "r", resume=True, progress=False
        )
    with pytest.raises(ConfigError, match="would end before that"):
        train(
            synthetic_run(steps=5, n_checkpoints=2, eval_every=3, schedule="cosine"), tmp_path / "r", resume=True, progress=False
        )
    assert json.loads((tmp_path / "r" / "run.json").read_text())["run"]["train"]["steps"] == 6


def test_divergence_stops_with_a_clear_message_and_keeps_good_checkpoints(tmp_path, monkeypatch):
    import interp.train.loop as loop

    real = loop.next_token_loss
    calls = {"n": 0}

    def exploding(logits, tokens):
        calls["n"] += 1
        value = real(logits, tokens)
        return value * float("nan") if calls["n"] > 12 else value

    monkeypatch.setattr(loop, "next_token_loss", exploding)
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        train(synthetic_run(), tmp_path / "r", progress=False)
    kept = list_checkpoints(tmp_path / "r")
    assert kept and all(torch.isfinite(p).all() for p in load_model(kept[-1]).parameters())


def test_bigram_baseline_matches_a_hand_count():
    train_rows = torch.tensor([[0, 1, 1, 2], [1, 2, 0, 1]])
    # pairs: (0,1)x2 (1,1) (1,2)x2 (2,0); with add-one smoothing over 3 tokens:
    # P(1|0)=3/5, P(2|1)=3/6, P(0|2)=2/4
    val = torch.tensor([[0, 1, 2, 0]])
    expected = -(torch.tensor([3 / 5, 3 / 6, 2 / 4]).log().mean())
    assert bigram_loss(train_rows, val, vocab_size=3) == pytest.approx(float(expected))


def test_sampling_is_seeded_and_greedy_is_deterministic(tiny_model):
    prompt = torch.tensor([[1, 2, 3]])
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    a = sample(tiny_model, prompt, max_new_tokens=20, generator=g(), top_k=3)
    b = sample(tiny_model, prompt, max_new_tokens=20, generator=g(), top_k=3)
    assert torch.equal(a, b) and a.shape == (1, 23) and torch.equal(a[:, :3], prompt)
    greedy = sample(tiny_model, prompt, max_new_tokens=5, temperature=0)
    logits = tiny_model(prompt)
    assert greedy[0, 3] == logits[0, -1].argmax()


def test_read_metrics_drops_a_torn_last_line_and_refuses_a_corrupted_earlier_one(tmp_path):
    from interp.core.errors import CheckpointError
    from interp.train.loop import read_metrics

    assert read_metrics(tmp_path) == []
    (tmp_path / METRICS_FILE).write_text('{"step": 0, "val": 2.5}\n{"step": 1, "val": 2.4}\n{"step": 2, "va')
    assert read_metrics(tmp_path) == [{"step": 0, "val": 2.5}, {"step": 1, "val": 2.4}]
    (tmp_path / METRICS_FILE).write_text('{"step": 0, "val": 2.5}\n{"step": 1, "va\n{"step": 2, "val": 2.3}\n')
    with pytest.raises(CheckpointError, match="line 2 is corrupted"):
        read_metrics(tmp_path)
