"""The training fast path computes the bridge's function, with the bridge's parameters."""

import pytest
import torch
from helpers.factories import tiny_config

from interp.model.build import build_model
from interp.model.engine.fast_forward import FastForward, fast_forward
from interp.train.loop import next_token_loss

CONFIGS = {
    "attn-only LN": tiny_config(),
    "mlp gelu": tiny_config(attn_only=False, d_mlp=48),
    "mlp gelu_new RMS": tiny_config(attn_only=False, d_mlp=48, act_fn="gelu_new", normalization_type="RMS"),
    "mlp relu LNPre": tiny_config(attn_only=False, d_mlp=48, act_fn="relu", normalization_type="LNPre"),
    "solu RMSPre": tiny_config(attn_only=False, d_mlp=48, act_fn="solu", normalization_type="RMSPre"),
    "no norm": tiny_config(normalization_type=None, n_layers=1),
}


def perturbed(cfg):
    model = build_model(cfg).train()
    with torch.no_grad():
        generator = torch.Generator().manual_seed(2)
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.2)
    return model


@pytest.mark.parametrize("name", CONFIGS)
def test_logits_and_gradients_match_the_bridge(name):
    cfg = CONFIGS[name]
    model = perturbed(cfg)
    tokens = torch.randint(0, cfg.d_vocab, (3, cfg.n_ctx), generator=torch.Generator().manual_seed(0))
    fast = FastForward(model, cfg)
    assert torch.allclose(fast(tokens), model(tokens), atol=1e-5)

    next_token_loss(model(tokens), tokens).backward()
    reference = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    next_token_loss(fast(tokens), tokens).backward()
    for n, p in model.named_parameters():
        assert torch.allclose(p.grad, reference[n], atol=1e-5), n


def test_it_reads_live_parameters_not_copies():
    cfg = CONFIGS["attn-only LN"]
    model = perturbed(cfg)
    fast = FastForward(model, cfg)
    tokens = torch.randint(0, cfg.d_vocab, (2, cfg.n_ctx))
    with torch.no_grad():
        model.blocks[1].attn.o.weight.mul_(0.5)
    assert torch.allclose(fast(tokens), model(tokens), atol=1e-5)


def test_rotary_falls_back_to_the_bridge():
    cfg = tiny_config(positional_embedding_type="rotary")
    model = build_model(cfg)
    assert fast_forward(model, cfg) is model
