"""Path patching: the stacked computation equals a naive two-pass implementation with hooks on the bridge."""

import pytest
import torch
from helpers.factories import tiny_config
from helpers.patching_pairs import pair

from interp.analysis.patching.activation import PatchingError
from interp.analysis.patching.path import path_patching
from interp.model.build import build_model


def naive_path_patching(model, clean, corrupted, metric, receivers, component):
    """Per sender: clean run with that head corrupted and every other head frozen clean, receivers' inputs
    recorded; then a clean run with only the receivers' inputs replaced (the IOI paper's definition)."""
    _, clean_cache = model.run_with_cache(clean)
    _, corrupted_cache = model.run_with_cache(corrupted)
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    out = torch.zeros(n_layers, n_heads)
    for sender_layer in range(n_layers):
        for sender_head in range(n_heads):

            def freeze(activation, hook, sender_layer=sender_layer, sender_head=sender_head):
                new = clean_cache[hook.name].clone()
                if int(hook.name.split(".")[1]) == sender_layer:
                    new[:, :, sender_head] = corrupted_cache[hook.name][:, :, sender_head]
                return new

            frozen = [(f"blocks.{layer}.attn.hook_z", freeze) for layer in range(n_layers)]
            if receivers == "logits":
                logits = model.run_with_hooks(clean, fwd_hooks=frozen)
            else:
                names = sorted({f"blocks.{layer}.attn.hook_{component}" for layer, _ in receivers})
                kept = {}

                def keep(activation, hook, kept=kept):
                    kept[hook.name] = activation.detach().clone()

                model.run_with_hooks(clean, fwd_hooks=frozen + [(name, keep) for name in names])

                def patch(activation, hook, kept=kept):
                    activation = activation.clone()
                    for layer, head in receivers:
                        if int(hook.name.split(".")[1]) == layer:
                            activation[:, :, head] = kept[hook.name][:, :, head]
                    return activation

                logits = model.run_with_hooks(clean, fwd_hooks=[(name, patch) for name in names])
            out[sender_layer, sender_head] = metric(logits)
    return out


CASES = [("logits", "q"), ([(2, 1)], "q"), ([(2, 1), (1, 0)], "k"), ([(2, 3)], "v")]


@pytest.mark.parametrize("attn_only", [True, False])
@pytest.mark.parametrize("receivers,component", CASES)
def test_stacked_equals_naive(attn_only, receivers, component):
    model = build_model(tiny_config(n_layers=3, attn_only=attn_only, d_mlp=None if attn_only else 64, seed=2))
    clean, corrupted, metric = pair(seed=3)
    ours = path_patching(model, clean, corrupted, metric, receivers=receivers, component=component)
    theirs = naive_path_patching(model, clean, corrupted, metric, receivers, component)
    assert (ours.values - theirs).abs().max() <= 1e-5


def test_senders_that_cannot_reach_the_receivers_keep_the_clean_value():
    model = build_model(tiny_config(n_layers=3, seed=2))
    clean, corrupted, metric = pair(seed=3)
    result = path_patching(model, clean, corrupted, metric, receivers=[(1, 2)], component="v")
    assert torch.equal(result.values[1:], torch.full((2, 4), result.clean))
    assert torch.allclose(result.normalised[1:], torch.tensor(1.0))
    only = path_patching(model, clean, corrupted, metric, receivers="logits", senders=[(0, 1)])
    assert torch.equal(only.values[1:], torch.full((2, 4), only.clean)) and only.values[0, 1] != only.clean


def test_bad_receivers_are_refused():
    model = build_model(tiny_config(n_layers=2))
    clean, corrupted, metric = pair()
    with pytest.raises(PatchingError, match="receiver"):
        path_patching(model, clean, corrupted, metric, receivers=[(5, 0)])
    with pytest.raises(PatchingError, match="component"):
        path_patching(model, clean, corrupted, metric, receivers=[(1, 0)], component="z")
    with pytest.raises(PatchingError, match="logits"):
        path_patching(model, clean, corrupted, metric, receivers="resid")
