"""ARENA-1.1-style configs of analyses/gpt2_from_scratch.py map onto interp's RunConfig; corpus loss helper."""

import pytest
import torch
from helpers.factories import analysis_script

from interp.analysis.core.text_eval import corpus_loss
from interp.core.errors import ConfigError, DataError
from interp.model.build import build_model
from interp.model.engine.fast_forward import fast_forward
from interp.train.checkpoints import read_checkpoint, save_checkpoint
from interp.train.loop import next_token_loss


@pytest.fixture(scope="module")
def script():
    return analysis_script("gpt2_from_scratch")


def test_arena_gpt2_small_config_maps_field_by_field(script):
    cfg = script.TransformerConfig(d_model=768, d_vocab=50257, n_ctx=1024, d_head=64, d_mlp=3072, n_heads=12, n_layers=12)
    args = script.TransformerTrainingArgs(batch_size=16, epochs=10, max_steps_per_epoch=500, lr=1e-3, weight_decay=1e-2, seed=3)
    run = script.to_run_config(cfg, args, corpus="imdb", max_documents=None, compact_vocab=False)
    ht = run.model.to_hooked_transformer_dict()
    assert {k: ht[k] for k in ("d_model", "d_vocab", "n_ctx", "d_head", "d_mlp", "n_heads", "n_layers")} == {
        "d_model": 768,
        "d_vocab": 50257,
        "n_ctx": 1024,
        "d_head": 64,
        "d_mlp": 3072,
        "n_heads": 12,
        "n_layers": 12,
    }
    assert ht["act_fn"] == "gelu_new" and ht["normalization_type"] == "LN" and run.model.seed == 3
    t = run.train
    assert (t.steps, t.batch_size, t.lr, t.weight_decay, t.seed, t.threads) == (5000, 16, 1e-3, 1e-2, 3, 1)
    assert (run.data.corpus, run.data.tokenizer, run.data.compact_vocab) == ("imdb", "gpt2", False)


def test_default_cpu_config_is_valid_and_compact(script):
    run = script.to_run_config(script.TransformerConfig(), script.TransformerTrainingArgs())
    assert run.model.d_vocab == -1 and run.data.compact_vocab and run.data.corpus == "prose"
    assert run.model.d_model == run.model.n_heads * run.model.d_head


@pytest.mark.parametrize(
    ("cfg_changes", "args_changes", "match"),
    [
        ({"layer_norm_eps": 1e-6}, {}, "layer_norm_eps"),
        ({"init_range": 0.02}, {}, "init_range"),
        ({"d_head": 16}, {}, "n_heads \\* d_head"),
        ({}, {"epochs": 0}, "epochs"),
        ({}, {"lr": 2.0}, "train.lr"),
    ],
)
def test_unsupported_or_invalid_settings_are_config_errors(script, cfg_changes, args_changes, match):
    with pytest.raises(ConfigError, match=match):
        script.to_run_config(script.TransformerConfig(**cfg_changes), script.TransformerTrainingArgs(**args_changes))


def test_corpus_loss_equals_the_training_loss_on_one_batch(tmp_path, tiny_cfg):
    model = build_model(tiny_cfg)
    save_checkpoint(tmp_path / "step_000000", model, tiny_cfg, step=0, tokens_seen=0)
    ckpt = read_checkpoint(tmp_path / "step_000000")
    rows = torch.randint(0, tiny_cfg.d_vocab, (10, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = float(next_token_loss(fast_forward(build_model(tiny_cfg), tiny_cfg)(rows), rows))
    assert corpus_loss(ckpt, rows, batch_size=3) == pytest.approx(expected, rel=1e-5)  # equal-length rows: same mean
    with pytest.raises(DataError, match="row pos"):
        corpus_loss(ckpt, rows[:, :1])
