import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interp.core.errors import ConfigError
from interp.model.config import ModelConfig
from interp.text.config import DataConfig
from interp.train.config import RunConfig, TrainConfig
from interp.train.noise_config import NoiseConfig
from interp.train.presets import list_presets, parse_override, run_config


def test_configs_are_frozen_and_keyword_only():
    cfg = ModelConfig(n_layers=1, d_model=8, n_ctx=4, d_head=2, n_heads=4, d_vocab=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_layers = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        ModelConfig(1, 8, 4, 2, 4)  # type: ignore[misc]


@pytest.mark.parametrize(
    "changes, fragment",
    [
        (dict(d_model=30), "d_model (30) must equal n_heads * d_head"),
        (dict(n_layers=0), "n_layers must be a positive integer"),
        (dict(act_fn="tanh"), "act_fn must be one of"),
        (dict(normalization_type="BN"), "normalization_type must be one of"),
        (dict(attn_only=True, d_mlp=64), "attention-only model has no MLP"),
        (dict(d_vocab=0), "d_vocab must be > 1"),
        (dict(positional_embedding_type="alibi"), "positional_embedding_type"),
    ],
)
def test_model_config_errors_name_the_field(changes, fragment):
    base = dict(n_layers=1, d_model=32, n_ctx=8, d_head=8, n_heads=4, d_vocab=5)
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        ModelConfig(**{**base, **changes})


@pytest.mark.parametrize(
    "cls, kwargs, fragment",
    [
        (TrainConfig, dict(lr=0), "train.lr"),
        (TrainConfig, dict(warmup_steps=10, steps=5), "warmup_steps"),
        (TrainConfig, dict(schedule="linear"), "schedule"),
        (TrainConfig, dict(n_checkpoints=1), "n_checkpoints"),
        (DataConfig, dict(repeated_fraction=1.5), "repeated_fraction"),
        (DataConfig, dict(span_min=10, span_max=5), "span_min"),
        (DataConfig, dict(tokenizer="sentencepiece"), "tokenizer"),
        (DataConfig, dict(corpus="none", repeated_fraction=0.5), "corpus = 'none'"),
    ],
)
def test_train_and_data_config_errors(cls, kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        cls(**kwargs)


def test_run_config_checks_combinations_and_unknown_fields():
    model = dict(n_layers=1, d_model=32, n_ctx=16, d_head=8, n_heads=4)
    with pytest.raises(ConfigError, match="span_max .* half of model.n_ctx"):
        RunConfig.from_dict({"model": model, "data": {"repeated_fraction": 0.5, "span_max": 10}})
    with pytest.raises(ConfigError, match="unknown field.*model.n_layer\\b"):
        RunConfig.from_dict({"model": {**model, "n_layer": 2}})
    with pytest.raises(ConfigError, match="unknown config section"):
        RunConfig.from_dict({"model": model, "optim": {}})


def test_with_vocab_refuses_a_mismatch():
    cfg = ModelConfig(n_layers=1, d_model=8, n_ctx=4, d_head=2, n_heads=4, d_vocab=50)
    assert cfg.with_vocab(50).d_vocab == 50
    with pytest.raises(ConfigError, match="does not match the tokenizer"):
        cfg.with_vocab(65)


def test_hooked_transformer_dict_round_trip():
    cfg = ModelConfig(n_layers=2, d_model=32, n_ctx=8, d_head=8, n_heads=4, d_vocab=7, d_mlp=64, act_fn="relu")
    data = cfg.to_hooked_transformer_dict()
    assert data["d_mlp"] == 64 and data["d_vocab_out"] == 7
    assert ModelConfig.from_hooked_transformer_dict(data) == cfg


@given(
    n_heads=st.integers(1, 8),
    d_head=st.integers(1, 16),
    n_layers=st.integers(1, 4),
    attn_only=st.booleans(),
)
def test_any_consistent_shape_is_accepted(n_heads, d_head, n_layers, attn_only):
    cfg = ModelConfig(
        n_layers=n_layers, d_model=n_heads * d_head, n_ctx=8, d_head=d_head, n_heads=n_heads, d_vocab=3, attn_only=attn_only
    )
    assert ModelConfig.from_hooked_transformer_dict(cfg.to_hooked_transformer_dict()) == cfg


def test_every_preset_is_valid():
    names = list_presets()
    assert {"attn-only-1l", "attn-only-2l", "attn-only-3l", "2l-mlp", "gpt2-small-ish", "char-gpt"} <= set(names)
    for name in names:
        assert run_config(name).model.n_layers >= 1


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ConfigError, match="unknown preset 'nope'; available: .*attn-only-2l"):
        run_config("nope")


def test_overrides_parse_toml_literals():
    assert parse_override("train.lr=3e-4") == ("train.lr", 3e-4)
    assert parse_override("data.tokenizer=gpt2") == ("data.tokenizer", "gpt2")
    assert parse_override("model.attn_only=false") == ("model.attn_only", False)
    run = run_config("attn-only-2l", overrides=dict([parse_override("model.n_layers=3")]))
    assert run.model.n_layers == 3
    with pytest.raises(ConfigError, match="section.field=value"):
        parse_override("lr")


# ---- training noise (interp.train.noise) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "noise, fragment",
    [
        (dict(scale=0.1), "noise.where is 'none'"),
        (dict(where="dropout"), "where must be one of"),
        (dict(where="activation", scale=0.1), "needs noise.site"),
        (dict(where="activation", site="resid_pre9", scale=0.1), "layer 9 is out of range"),
        (dict(where="activation", site="z1h7", scale=0.1), "head 7 is out of range"),
        (dict(where="activation", site="mlp_post0", scale=0.1), "attention-only model has no MLP"),
        (dict(where="activation", site="resid_mid0", scale=0.1), "attention-only model has no MLP"),
        (dict(where="activation", site="blocks.0.attn.hook_pattern", scale=0.1), "future positions"),
        (dict(where="activation", site="head_out1h2", scale=0.1), "cannot perturb head_out"),
        (dict(where="activation", site="resid_pre", scale=0.1), "needs a layer"),
        (dict(where="activation", site="resid_pre0", kind="salt", scale=0.1), "kind must be one of"),
        (dict(where="activation", site="resid_pre0", scale=-0.5), "finite number >= 0"),
        (dict(where="attn_scores", site="resid_pre0", scale=0.1), "attention-score site"),
        (dict(where="weights", site="z0", scale=0.1), "takes no noise.site"),
        (dict(where="tokens", scale=1.5), "replacement probability in [0, 1]"),
        (dict(where="labels", kind="gaussian", scale=0.1), "must be 'uniform'"),
        (dict(where="tokens", scale=0.1, seed=-1), "noise.seed"),
    ],
)
def test_bad_noise_configs_are_one_line_errors(noise, fragment):
    model = dict(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4, attn_only=True)
    with pytest.raises(ConfigError) as error:
        RunConfig.from_dict({"model": model, "noise": noise})
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_noise_needs_the_training_forward_for_activations_and_scores():
    model = dict(n_layers=1, d_model=32, n_ctx=16, d_head=8, n_heads=4, positional_embedding_type="rotary")
    with pytest.raises(ConfigError, match="does not cover rotary"):
        RunConfig.from_dict({"model": model, "noise": dict(where="attn_scores", scale=0.1)})
    assert RunConfig.from_dict({"model": model, "noise": dict(where="weights", scale=0.1)}).noise.kind == "gaussian"


def test_noise_config_round_trips_and_spells_each_site_once():
    model = dict(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4)
    run = RunConfig.from_dict(
        {"model": model, "noise": dict(where="activation", site="blocks.1.hook_mlp_out", scale=0.2, seed=3)}
    )
    assert run.noise == NoiseConfig(where="activation", site="mlp_out1", kind="gaussian", scale=0.2, seed=3)
    assert RunConfig.from_dict(run.to_dict()) == run
    assert NoiseConfig(where="tokens", scale=0.1).kind == "uniform"
    assert NoiseConfig(where="attn_scores", site="scores1h2", scale=1).site == "attn_scores1h2"
    assert run_config("attn-only-2l", overrides={"noise.where": "labels", "noise.scale": 0.05}).noise.where == "labels"


def test_a_config_without_a_noise_section_means_no_noise():
    old = {"model": dict(n_layers=1, d_model=32, n_ctx=16, d_head=8, n_heads=4), "data": {}, "train": {}}
    run = RunConfig.from_dict(old)
    assert run.noise == NoiseConfig() and not run.noise.enabled
    assert run.to_dict()["noise"] == {"where": "none", "site": "", "kind": None, "scale": 0.0, "seed": 0}
