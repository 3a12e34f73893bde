"""Tuned-lens training finds a planted translator, beats the logit lens on held-out rows and is reproducible;
the series equals each checkpoint measured alone; lenses, metrics and series survive a round trip to disk."""

import pytest
import torch
from helpers.factories import tiny_config

import interp
from interp.analysis.lens.files import (
    load_lens,
    load_lens_series,
    load_metrics,
    run_lens_dir,
    run_lenses,
    save_lens,
    save_lens_series,
    save_metrics,
)
from interp.analysis.lens.metrics import lens_metrics
from interp.analysis.lens.series import lens_series
from interp.analysis.lens.training import split_rows, train_tuned_lens
from interp.analysis.lens.translators import LensError
from interp.core.errors import DataError
from interp.model.build import build_model
from interp.train.checkpoints import load_model

TOKENS = torch.randint(11, (48, 12), generator=torch.Generator().manual_seed(0))


def perturbed(**changes):
    model = build_model(tiny_config(**changes)).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn(parameter.shape, generator=generator))
    return model


def test_training_finds_a_planted_translator():
    """With its value weights zeroed, the one attention layer writes only its bias b_O, so the final stream is the
    stream entering the block plus b_O: an affine map the tuned lens can learn exactly (KL -> 0)."""
    model = perturbed(n_layers=1, normalization_type=None)
    with torch.no_grad():
        model.blocks[0].attn.v.weight.zero_()
        model.blocks[0].attn.v.bias.zero_()
        model.blocks[0].attn.o.bias.mul_(10)
    lens, record = train_tuned_lens(model, TOKENS, steps=400, lr=3e-2)
    assert record.kl_before[0] > 1.0
    assert record.kl_after[0] < 0.01 * record.kl_before[0]


def test_tuned_lens_beats_the_logit_lens_on_held_out_rows():
    model = perturbed(attn_only=False, d_mlp=64)
    train, test = split_rows(TOKENS)
    lens, record = train_tuned_lens(model, train, steps=200)
    assert record.rows == 24 and record.steps == 200 and record.seconds > 0 and len(record.losses) >= 20
    logit, tuned = lens_metrics(model, test, heads=False), lens_metrics(model, test, lens=lens, heads=False)
    logit_kl, tuned_kl = logit.per_layer("kl")[0], tuned.per_layer("kl")[0]
    assert (tuned_kl[:2] < 0.8 * logit_kl[:2]).all(), (logit_kl, tuned_kl)
    torch.testing.assert_close(
        torch.tensor(record.kl_before, dtype=torch.float64),
        lens_metrics(model, train, heads=False).per_layer("kl")[0][:2],
        atol=1e-5,
        rtol=1e-4,
    )


def test_training_is_reproducible_and_checks_its_options():
    model = perturbed()
    first, _ = train_tuned_lens(model, TOKENS, steps=20, seed=3)
    second, _ = train_tuned_lens(model, TOKENS, steps=20, seed=3)
    assert torch.equal(first.weight, second.weight) and not first.weight.requires_grad
    with pytest.raises(DataError, match="steps >= 1"):
        train_tuned_lens(model, TOKENS, steps=0)
    with pytest.raises(DataError, match="at least 2 token rows"):
        split_rows(TOKENS[:1])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return interp.train_run("tiny", tmp_path_factory.mktemp("runs") / "tiny", progress=False)


def test_series_equals_each_checkpoint_measured_alone(tiny_run):
    d_vocab = tiny_run.checkpoints[0].config.d_vocab
    tokens = torch.randint(d_vocab, (16, 16), generator=torch.Generator().manual_seed(0))
    series, lenses = lens_series(tiny_run.checkpoints, tokens[:8], tokens[8:], steps=30)
    assert sorted(lenses) == [c.step for c in tiny_run.checkpoints] and not series.train_seconds.isnan().any()
    for index, ckpt in enumerate(tiny_run.checkpoints):
        model = load_model(ckpt)
        logit = lens_metrics(model, tokens[8:])
        tuned = lens_metrics(model, tokens[8:], lens=lenses[ckpt.step][0], heads=False)
        torch.testing.assert_close(series.kl_logit[index], logit.per_layer("kl")[0])
        torch.testing.assert_close(series.kl_tuned[index], tuned.per_layer("kl")[0])
        torch.testing.assert_close(series.head_kl[index], logit.per_layer("kl", heads=True)[0])
    logit_only, none = lens_series(tiny_run.checkpoints[:1], tokens[:8], tokens[8:], tuned=False)
    assert none == {} and logit_only.kl_tuned.isnan().all()


def test_files_round_trip(tmp_path):
    model = perturbed()
    lens, record = train_tuned_lens(model, TOKENS, steps=10)
    folder = run_lens_dir(tmp_path, 40)
    assert folder.name == "step_000040"
    save_lens(lens, folder, training=record, extra={"step": 40})
    back, meta = load_lens(folder, n_layers=2, d_model=32)
    assert torch.equal(back.weight, lens.weight) and meta["training"]["steps"] == 10 and meta["step"] == 40
    with pytest.raises(LensError, match="width 32"):
        load_lens(folder, n_layers=2, d_model=16)
    for which in (None, lens):
        metrics = lens_metrics(model, TOKENS[:4], lens=which)
        save_metrics(metrics, folder, extra={"source": "test"})
        loaded, meta = load_metrics(folder, metrics.lens)
        assert loaded.lens == metrics.lens and loaded.layers == metrics.layers and meta["source"] == "test"
        torch.testing.assert_close(loaded.head_prob, metrics.head_prob, equal_nan=True)
    found = run_lenses(tmp_path)
    assert found["series"] is None and [entry[0] for entry in found["metrics"]] == [40]
    assert found["metrics"][0][2].lens == "tuned lens"
    with pytest.raises(LensError, match="no saved lens"):
        load_lens(tmp_path / "nowhere")


def test_series_round_trip(tiny_run, tmp_path):
    tokens = torch.randint(tiny_run.checkpoints[0].config.d_vocab, (8, 16), generator=torch.Generator().manual_seed(0))
    series, _ = lens_series(tiny_run.checkpoints[-2:], tokens[:4], tokens[4:], steps=5)
    save_lens_series(series, run_lens_dir(tmp_path), extra={"rows": 8})
    back, meta = load_lens_series(run_lens_dir(tmp_path))
    assert back.steps == series.steps and meta["rows"] == 8
    torch.testing.assert_close(back.kl_tuned, series.kl_tuned)
