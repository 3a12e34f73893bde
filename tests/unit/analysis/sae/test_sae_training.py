"""train_dictionary end to end on a tiny run: saving and reloading, exact resume, refusals, transcoders."""

import dataclasses

import pytest
import torch

import interp
from interp.analysis.sae.activations import ActivationStream
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.files import load_dictionary
from interp.analysis.sae.training import train_dictionary
from interp.analysis.sae.training_state import TRAINING_DIR
from interp.core.errors import ConfigError
from interp.model.sites import SiteError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    overrides = {"model.attn_only": False, "model.d_mlp": 32}
    return interp.train_run("tiny", tmp_path_factory.mktemp("sae") / "run", overrides=overrides, progress=False)


def config(**values) -> SAEConfig:
    base = {"site": "resid_post0", "kind": "topk", "n_features": 32, "k": 4, "tokens": 4096, "batch_tokens": 128}
    return SAEConfig(**{**base, "buffer_tokens": 512, "checkpoints": 2, "warmup_steps": 4, "dead_tokens": 1024, **values})


class Interrupted(Exception):
    pass


def test_tiny_run_end_to_end_saves_a_dictionary_that_works_on_raw_activations(run):
    ckpt = run.checkpoints[-1]
    cfg = config()
    saved = train_dictionary(ckpt, cfg, progress=False)
    assert saved.path == run.run_dir / "saes" / "resid_post0-topk-32" / f"step_{ckpt.step:06d}"
    assert not (saved.path / TRAINING_DIR).exists()  # training checkpoints go once the dictionary is published
    again = load_dictionary(saved.path)
    figures = again.figures
    assert {"seconds", "activations_per_second", "mse", "l0", "dead_fraction", "explained_variance", "curve"} <= set(figures)
    assert figures["l0"] <= 4 and figures["curve"][-1]["step"] == cfg.steps and len(figures["curve"]) > 5
    # the saved (folded) dictionary reconstructs raw activations as well as training reported on scaled ones
    inputs, _ = ActivationStream.from_checkpoint(ckpt, cfg).batch(0)
    error = (again.sae(inputs) - inputs).pow(2).sum(-1).mean()
    variance = (inputs - inputs.mean(0)).pow(2).sum(-1).mean()
    assert 1 - error / variance > 0.2  # 32 steps on a 10-step model: a rough dictionary, but a working one
    assert abs(float((1 - error / variance).detach()) - figures["explained_variance"]) < 0.1
    with pytest.raises(ConfigError, match="already exists"):
        train_dictionary(ckpt, cfg, progress=False)  # never overwritten
    assert torch.equal(train_dictionary(ckpt, cfg, resume=True, progress=False).sae.W_enc, again.sae.W_enc)
    with pytest.raises(ConfigError, match="another config"):
        train_dictionary(ckpt, config(lr=1e-3), out=saved.path, resume=True, progress=False)


@pytest.mark.parametrize(("kind", "options"), [("topk", {"k": 4}), ("batchtopk", {"k": 4}), ("jumprelu", {"k": None})])
def test_resume_after_a_training_checkpoint_is_bit_identical(run, tmp_path, kind, options):
    ckpt = run.checkpoints[-1]
    cfg = config(kind=kind, **options)
    whole = train_dictionary(ckpt, cfg, out=tmp_path / "whole", progress=False)

    def stop(path):
        raise Interrupted(path)

    with pytest.raises(Interrupted):
        train_dictionary(ckpt, cfg, out=tmp_path / "cut", progress=False, on_checkpoint=stop)
    assert (tmp_path / "cut" / TRAINING_DIR).is_dir() and not (tmp_path / "cut" / "interp.json").exists()
    with pytest.raises(ConfigError, match="another config"):
        train_dictionary(ckpt, config(kind=kind, seed=3, **options), out=tmp_path / "cut", resume=True, progress=False)
    resumed = train_dictionary(ckpt, cfg, out=tmp_path / "cut", resume=True, progress=False)
    for name, tensor in whole.sae.state_dict().items():
        assert torch.equal(resumed.sae.state_dict()[name], tensor), name
    assert resumed.figures["curve"] == whole.figures["curve"]


def test_a_transcoder_predicts_the_mlp_output(run, tmp_path):
    ckpt = run.checkpoints[-1]
    cfg = config(site="resid_mid1", output_site="mlp_out1", n_features=64, k=8, tokens=8192, lr=1e-2)
    saved = train_dictionary(ckpt, cfg, out=tmp_path / "tc", progress=False)
    assert saved.sae.transcoder and saved.figures["target_scale"] != saved.figures["input_scale"]
    inputs, targets = ActivationStream.from_checkpoint(ckpt, cfg).batch(3)
    assert not torch.equal(inputs, targets)
    error = (saved.sae(inputs) - targets).pow(2).sum(-1).mean()
    baseline = (targets - targets.mean(0)).pow(2).sum(-1).mean()
    assert error < 0.8 * baseline  # better than predicting the mean MLP output


def test_warm_start_and_bad_inputs(run, tmp_path):
    ckpt = run.checkpoints[-1]
    with pytest.raises(SiteError, match="layer 4"):
        train_dictionary(ckpt, config(site="resid_post4"), out=tmp_path / "a", progress=False)
    with pytest.raises(ConfigError, match="smaller than its input width"):
        train_dictionary(ckpt, config(n_features=8), out=tmp_path / "b", progress=False)
    with pytest.raises(ConfigError, match="init dictionary"):
        train_dictionary(
            ckpt, config(), out=tmp_path / "c", init=SparseDictionary(d_in=16, n_features=48, kind="topk", k=4), progress=False
        )
    with pytest.raises(ConfigError, match="pass out="):
        train_dictionary(dataclasses.replace(ckpt, path=tmp_path / "loose" / "step_10"), config(), progress=False)
    assert not any((tmp_path / name).exists() for name in "abc")  # nothing written
    # a warm start begins from the given dictionary: one step at a negligible learning rate keeps its weights
    trained = train_dictionary(ckpt, config(), out=tmp_path / "first", progress=False)
    warm = train_dictionary(
        ckpt, config(tokens=128, lr=1e-12, warmup_steps=0), out=tmp_path / "warm", init=trained.sae, progress=False
    )
    assert torch.allclose(warm.sae.W_dec, trained.sae.W_dec, atol=1e-5)
    assert torch.allclose(warm.sae.W_enc, trained.sae.W_enc, atol=1e-5)
