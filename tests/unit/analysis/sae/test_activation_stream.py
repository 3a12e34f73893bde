"""The activation stream against a naive reference (cache_activations on the same rows), its bound and its errors."""

import dataclasses

import pytest
import torch

import interp
from interp.analysis.core.cache import cache_activations
from interp.analysis.sae.activations import ActivationStream
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.site_vectors import to_vectors
from interp.core.errors import ConfigError, DataError
from interp.model.sites import SiteError
from interp.text.packing import PackedTokens
from interp.text.tokenizers import tokenizer_from_dict
from interp.train.checkpoints import load_model
from interp.train.data import TrainingData


@pytest.fixture(scope="module")
def mlp_checkpoint(tmp_path_factory):
    """A tiny run with MLPs (for transcoders); corpus "none" (synthetic rows)."""
    overrides = {"model.attn_only": False, "model.d_mlp": 32}
    return interp.train_run("tiny", tmp_path_factory.mktemp("stream") / "run", overrides=overrides, progress=False).checkpoints[
        -1
    ]


def config(**values) -> SAEConfig:
    base = {"site": "resid_post0", "kind": "topk", "n_features": 32, "k": 4, "tokens": 2048, "batch_tokens": 128}
    return SAEConfig(**{**base, "buffer_tokens": 448, "model_rows": 3, **values})


def test_stream_vectors_equal_cache_activations_on_the_same_rows(mlp_checkpoint):
    cfg = config(site="resid_mid1", output_site="mlp_out1", skip_positions=2)
    stream = ActivationStream.from_checkpoint(mlp_checkpoint, cfg)
    model = load_model(mlp_checkpoint)
    for generation in (0, 1):
        rows = stream.rows(generation)
        acts = cache_activations(model, rows, ["resid_mid1", "mlp_out1"])
        want_in = to_vectors(cfg.input_site, acts["resid_mid1"])[:, 2:].reshape(-1, 16)
        want_out = to_vectors(cfg.target_site, acts["mlp_out1"])[:, 2:].reshape(-1, 16)
        inputs, targets = stream.generation(generation)
        assert torch.allclose(inputs, want_in, atol=1e-6) and torch.allclose(targets, want_out, atol=1e-6)
        # the batches of this generation are a permutation of its buffer: every vector used at most once
        per = stream.steps_per_generation
        batches = [stream.batch(generation * per + i) for i in range(per)]
        seen_in = torch.cat([b[0] for b in batches])
        seen_out = torch.cat([b[1] for b in batches])
        order = torch.cat([(inputs[None] == v[:, None]).all(-1).nonzero()[:, 1] for v in [seen_in]])
        assert len(set(order.tolist())) == len(seen_in)  # distinct positions
        assert torch.equal(targets[order], seen_out)  # targets travel with their inputs
    assert not torch.equal(stream.rows(0), stream.rows(1))


def test_stream_is_a_pure_function_of_config_and_step(mlp_checkpoint):
    cfg = config()
    first, second = ActivationStream.from_checkpoint(mlp_checkpoint, cfg), ActivationStream.from_checkpoint(mlp_checkpoint, cfg)
    late = first.batch(9)[0]
    assert torch.equal(second.batch(9)[0], late)  # straight to step 9 (a resume) == reached after others
    assert torch.equal(first.batch(0)[0], second.batch(0)[0])
    assert not torch.equal(first.batch(0)[0], first.batch(1)[0])
    other = ActivationStream.from_checkpoint(mlp_checkpoint, config(seed=1))
    assert not torch.equal(other.batch(0)[0], first.batch(0)[0])
    # rows drawn from a seed stream of our own, not the model's training batches
    data = TrainingData.prepare(mlp_checkpoint.run, tokenizer=tokenizer_from_dict(mlp_checkpoint.tokenizer))
    assert not any(torch.equal(first.rows(0)[:4], data.batch(s)[:4]) for s in range(10))


def test_the_buffer_never_holds_more_than_the_bound(mlp_checkpoint):
    cfg = config(site="resid_mid1", output_site="mlp_out1", buffer_tokens=300)
    stream = ActivationStream.from_checkpoint(mlp_checkpoint, cfg)
    for step in range(cfg.steps):
        stream.batch(step)
    assert stream.memory_bound_bytes == 300 * (16 + 16) * 4
    assert 0 < stream.peak_buffer_bytes <= stream.memory_bound_bytes
    assert stream.tokens_per_generation == 18 * 16  # whole rows of 16 positions


def test_bad_inputs_are_one_line_errors(mlp_checkpoint, tiny_checkpoint_data):
    with pytest.raises(SiteError, match="layer 5"):
        ActivationStream.from_checkpoint(mlp_checkpoint, config(site="resid_post5"))
    with pytest.raises(ConfigError, match="raise buffer_tokens to at least 144"):
        ActivationStream.from_checkpoint(mlp_checkpoint, config(batch_tokens=130, buffer_tokens=140))
    with pytest.raises(ConfigError, match="skip_positions"):
        ActivationStream.from_checkpoint(mlp_checkpoint, config(skip_positions=16))
    model, data = tiny_checkpoint_data
    with pytest.raises(DataError, match="distinct training tokens") as error:
        ActivationStream(model, data, config(tokens=20 * 10 * 16 + 256))
    assert "\n" not in str(error.value)
    ActivationStream(model, data, config(tokens=20 * 10 * 16))  # 20 passes over 10 rows: allowed


@pytest.fixture
def tiny_checkpoint_data(mlp_checkpoint):
    """The MLP model with a tiny packed corpus of 10 rows and no synthetic rows."""
    data = TrainingData.prepare(mlp_checkpoint.run, tokenizer=tokenizer_from_dict(mlp_checkpoint.tokenizer))
    rows = torch.randint(data.vocab_size, (10, 16), generator=torch.Generator().manual_seed(0))
    run = dataclasses.replace(
        mlp_checkpoint.run, data=dataclasses.replace(mlp_checkpoint.run.data, corpus="shakespeare", repeated_fraction=0.0)
    )
    return load_model(mlp_checkpoint), dataclasses.replace(data, run=run, packed=PackedTokens(train=rows, val=rows[:2]))
