import pytest
import torch
from jaxtyping import Float
from torch import Tensor

from interp.analysis.core.cache import cache_activations
from interp.analysis.core.interventions import MeanAblation, ZeroAblation, apply, run_with
from interp.core.errors import CheckpointError, ConfigError, DataError
from interp.model.sites import Site
from interp.variants.perceiver_ar import PerceiverAR, PerceiverARConfig
from interp.variants.perceiver_ar_io import load_any_model, load_perceiver, save_perceiver

N, M, VOCAB = 12, 4, 11


def config(**changes) -> PerceiverARConfig:
    base = dict(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4, d_vocab=VOCAB, n_latents=M, seed=0, d_mlp=64)
    base.update(changes)
    return PerceiverARConfig(**base)


@pytest.fixture(scope="module")
def model():
    return PerceiverAR(config())


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(VOCAB, (3, N), generator=torch.Generator().manual_seed(0))


def test_cache_has_hooked_transformer_names_and_shapes(model, tokens):
    logits, cache = model.run_with_cache(tokens)
    assert isinstance(logits, Float[Tensor, "3 4 11"])
    heads, d_head, d_model = 4, 8, 32
    expected = {
        "hook_embed": (3, N, d_model),
        "hook_pos_embed": (3, N, d_model),
        "blocks.0.hook_resid_pre": (3, N, d_model),
        "blocks.0.attn.hook_q": (3, M, heads, d_head),
        "blocks.0.attn.hook_k": (3, N, heads, d_head),
        "blocks.0.attn.hook_v": (3, N, heads, d_head),
        "blocks.0.attn.hook_attn_scores": (3, heads, M, N),
        "blocks.0.attn.hook_pattern": (3, heads, M, N),
        "blocks.0.attn.hook_z": (3, M, heads, d_head),
        "blocks.0.hook_attn_out": (3, M, d_model),
        "blocks.0.hook_resid_mid": (3, M, d_model),
        "blocks.0.mlp.hook_post": (3, M, 64),
        "blocks.0.hook_resid_post": (3, M, d_model),
        "blocks.1.hook_resid_pre": (3, M, d_model),
        "blocks.1.attn.hook_pattern": (3, heads, M, M),
        "blocks.1.attn.hook_z": (3, M, heads, d_head),
        "blocks.1.hook_resid_post": (3, M, d_model),
        "ln_final.hook_normalized": (3, M, d_model),
    }
    for name, shape in expected.items():
        assert tuple(cache[name].shape) == shape, name
    assert set(expected) <= set(model.hook_dict)
    assert model.W_O.shape == (2, heads, d_head, d_model) and model.W_Q.shape == (2, heads, d_model, d_head)


def test_attention_is_causal_and_patterns_sum_to_one(model, tokens):
    _, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith("hook_pattern"))
    pattern = cache["blocks.0.attn.hook_pattern"]
    assert torch.allclose(pattern.sum(-1), torch.ones(3, 4, M))
    offset = N - M
    for i in range(M):  # latent i sits at absolute position offset + i and reads nothing later
        assert (pattern[..., i, offset + i + 1 :] == 0).all()
    changed = tokens.clone()
    changed[:, offset + 1] = (changed[:, offset + 1] + 1) % VOCAB
    diff = (model(changed) - model(tokens)).abs().amax(dim=(0, 2))
    assert diff[0] == 0 and (diff[1:] > 0).all()


def test_fast_attention_equals_the_explicit_path(model, tokens):
    fast = model(tokens)
    identity = [(f"blocks.{layer}.attn.hook_pattern", lambda x, hook: x) for layer in range(2)]
    explicit = model.run_with_hooks(tokens, fwd_hooks=identity)
    torch.testing.assert_close(fast, explicit, atol=1e-5, rtol=1e-5)


def test_short_inputs_make_an_ordinary_causal_transformer(model):
    short = torch.randint(VOCAB, (2, 3), generator=torch.Generator().manual_seed(1))
    logits, cache = model.run_with_cache(short)
    assert logits.shape == (2, 3, VOCAB) and cache["blocks.0.attn.hook_pattern"].shape == (2, 4, 3, 3)


def test_zero_ablation_through_interventions_and_hooks_removed(model, tokens):
    clean = model(tokens)
    ablated = run_with(model, tokens, ZeroAblation(Site.head_out(0), heads=[1]))
    assert not torch.allclose(clean, ablated)
    assert all(not hp.has_hooks() for hp in model.hook_dict.values())
    # zeroing every head of block 0 through z equals removing the attention output (b_O stays)
    all_z = run_with(model, tokens, ZeroAblation(Site.z(0)))
    with apply(model, ZeroAblation(Site.attn_out(0))):
        no_attn = model.run_with_hooks(
            tokens, fwd_hooks=[("blocks.0.hook_attn_out", lambda x, hook: x + model.blocks[0].attn.b_O)]
        )
    torch.testing.assert_close(all_z, no_attn, atol=1e-5, rtol=1e-5)
    with pytest.raises(RuntimeError):
        with apply(model, MeanAblation(Site.z(1), reference=tokens)):
            raise RuntimeError("boom")
    assert all(not hp.has_hooks() for hp in model.hook_dict.values())
    torch.testing.assert_close(model(tokens), clean)


def test_interp_activation_cache_and_stop_at_layer(model, tokens):
    acts = cache_activations(model, tokens, [Site.pattern(0), Site.head_out(0), "resid_pre1"], batch_size=2)
    assert acts["pattern0"].shape == (3, 4, M, N)
    assert acts["head_out0"].shape == (3, M, 4, 32)
    resid = model(tokens, stop_at_layer=1)
    torch.testing.assert_close(resid, acts["resid_pre1"])
    torch.testing.assert_close(model(resid, start_at_layer=1), model(tokens))


def test_save_load_round_trip_gives_identical_logits(model, tokens, tmp_path):
    trained = PerceiverAR(config(seed=5, attn_only=True, d_mlp=None))
    with torch.no_grad():
        trained.blocks[0].attn.b_O.add_(0.5)  # not the initial state
    path = save_perceiver(tmp_path / "ckpt", trained, step=7, tokenizer={"kind": "char", "alphabet": "abc"})
    for loaded in (load_perceiver(path), load_any_model(path)):
        assert isinstance(loaded, PerceiverAR) and loaded.cfg == trained.cfg
        assert torch.equal(loaded(tokens), trained(tokens))
    assert not any(p.suffix == ".pt" for p in path.iterdir())
    (path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError):
        load_perceiver(path)


def test_config_and_input_errors(model):
    with pytest.raises(ConfigError):
        config(n_latents=17)
    with pytest.raises(ConfigError):
        config(normalization_type="RMS")
    with pytest.raises(DataError):
        model(torch.zeros(1, 17, dtype=torch.long))
    assert PerceiverARConfig.from_hooked_transformer_dict(model.cfg.to_hooked_transformer_dict()) == model.cfg
