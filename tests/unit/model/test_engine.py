"""The engine (interp.model.engine) computes the native bridge's function: logits, gradients and attention
patterns, for every normalisation, attention-only and with an MLP, and every MLP activation."""

import pytest
import torch
from helpers.factories import tiny_config
from transformer_lens.model_bridge.sources.native.model import _ACTIVATIONS as NATIVE_ACTIVATIONS

from interp.model.build import build_model
from interp.model.config import ACT_FNS, NORMALIZATION_TYPES
from interp.model.engine.activations import ACTIVATIONS, ActivationError, activation
from interp.model.engine.attention import attend, attention_scores, causal_pattern, causal_z, heads_first, mix
from interp.model.engine.forward import Recorder, forward, run_blocks
from interp.model.engine.norms import NormalizationError, normalize
from interp.model.engine.weights import Weights
from interp.train.loop import next_token_loss

ARCHITECTURES = {
    **{f"attn-only {norm}": dict(normalization_type=norm) for norm in NORMALIZATION_TYPES},
    **{f"mlp {norm}": dict(normalization_type=norm, attn_only=False, d_mlp=48) for norm in NORMALIZATION_TYPES},
    **{f"mlp {act}": dict(act_fn=act, attn_only=False, d_mlp=48) for act in ACT_FNS},
}


def moved(changes: dict):
    """A tiny bridge whose weights (norm weights and biases included) are moved off their initial values."""
    model = build_model(tiny_config(**changes)).train()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model


def tokens_for(model, batch: int = 3) -> torch.Tensor:
    return torch.randint(0, model.cfg.d_vocab, (batch, model.cfg.n_ctx), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_logits_gradients_and_patterns_match_the_bridge(name):
    model = moved(ARCHITECTURES[name])
    tokens = tokens_for(model)
    reference = model(tokens)
    live = Weights.live(model)
    logits = forward(live, tokens)
    torch.testing.assert_close(logits, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(forward(Weights.of(model), tokens), reference, atol=1e-5, rtol=1e-5)

    next_token_loss(reference, tokens).backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    next_token_loss(logits, tokens).backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[n], atol=1e-5, rtol=1e-4, msg=n)

    names = [f"blocks.{layer}.attn.hook_{kind}" for layer in range(model.cfg.n_layers) for kind in ("pattern", "z", "q")]
    kept = Recorder(names)
    with torch.no_grad():
        explicit_logits = forward(Weights.of(model), tokens, kept)
        _, cache = model.run_with_cache(tokens)
    torch.testing.assert_close(explicit_logits, reference.detach(), atol=1e-5, rtol=1e-5)
    for hook in names:
        torch.testing.assert_close(kept.kept[hook], cache[hook], atol=1e-5, rtol=1e-5, msg=hook)


@pytest.mark.parametrize("start", [0, 1, 2])
def test_running_from_a_block_continues_the_bridge_stream(start):
    model = moved(dict(attn_only=False, d_mlp=48, normalization_type="RMS"))
    tokens = tokens_for(model)
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
        w = Weights.of(model)
        resid = cache[f"blocks.{start}.hook_resid_pre"] if start < 2 else cache["blocks.1.hook_resid_post"]
        torch.testing.assert_close(w.unembed(w.norm(run_blocks(w, resid, start), "ln_final")), logits, atol=1e-5, rtol=1e-5)


def test_the_activation_table_is_the_native_bridges():
    assert set(ACT_FNS) <= set(ACTIVATIONS)
    x = torch.linspace(-4, 4, 33).view(3, 11)
    for name, function in ACTIVATIONS.items():
        torch.testing.assert_close(function(x), NATIVE_ACTIVATIONS[name](x), atol=0, rtol=0, msg=name)
    assert activation("GELU") is ACTIVATIONS["gelu"]
    with pytest.raises(ActivationError, match="unknown MLP activation 'tanh'"):
        activation("tanh")


def test_norms_against_their_definitions():
    x = torch.randn(4, 5, 16, generator=torch.Generator().manual_seed(1)) * 3 + 1
    weight, bias = torch.randn(16), torch.randn(16)
    centred = x - x.mean(-1, keepdim=True)
    ln = centred / (centred.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
    rms = x / (x.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
    expected = {"LN": ln * weight + bias, "LNPre": ln, "RMS": rms * weight, "RMSPre": rms, None: x}
    for kind, value in expected.items():
        torch.testing.assert_close(normalize(x, kind, weight, bias, 1e-5), value, atol=1e-5, rtol=1e-5, msg=str(kind))
    with pytest.raises(NormalizationError, match="unknown normalization"):
        normalize(x, "batch")


@pytest.mark.parametrize("offset", [0, 2, 5])
def test_fused_and_explicit_attention_agree_with_query_offsets(offset):
    q, k, v = torch.randn(3, 2, 4, 7, 8, generator=torch.Generator().manual_seed(offset)).unbind(0)  # batch head pos d_head
    full = mix(causal_pattern(attention_scores(q, k, 8**0.5)), v)
    late = q[:, :, offset:]
    torch.testing.assert_close(attend(late, k, v, 8**0.5, offset), full[:, :, offset:], atol=1e-6, rtol=1e-5)
    z = causal_z(heads_first(late), heads_first(k), heads_first(v), 8**0.5, query_offset=offset)
    torch.testing.assert_close(z, heads_first(full[:, :, offset:]), atol=1e-6, rtol=1e-5)


def test_selected_unembedding_columns_equal_the_full_unembedding():
    model = moved(dict())
    w = Weights.of(model)
    x = torch.randn(2, 3, model.cfg.d_model)  # unit batch d_model
    columns = torch.tensor([[1, 4], [0, 0], [10, 2]])
    expected = w.unembed(x).gather(-1, columns.expand(2, -1, -1))
    torch.testing.assert_close(w.unembed_columns(x, columns), expected, atol=1e-5, rtol=1e-5)
