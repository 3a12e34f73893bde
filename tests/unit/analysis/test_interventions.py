"""Interventions as values: reference comparisons against edited weights and plain TransformerLens hooks."""

import copy

import pytest
import torch

from interp.analysis.core.cache import cache_activations
from interp.analysis.core.interventions import (
    InterventionError,
    MeanAblation,
    Patch,
    ResampleAblation,
    ZeroAblation,
    apply,
    resample_rows,
    run_with,
)
from interp.model.sites import Site, SiteError


@pytest.fixture
def tokens():
    return torch.randint(0, 11, (6, 8), generator=torch.Generator().manual_seed(1))


@pytest.fixture
def other_tokens():
    return torch.randint(0, 11, (6, 8), generator=torch.Generator().manual_seed(2))


def no_hooks(model) -> bool:
    return model.list_hooks() == {} and all(not hp._forward_hooks for hp in model.hook_dict.values())


def model_without_head(model, layer: int, head: int):
    """A copy whose W_O rows for one head are zero: the reference for zero-ablating that head."""
    edited = copy.deepcopy(model)
    state = edited.state_dict()
    d_head = model.cfg.d_head
    state[f"blocks.{layer}.attn.o.weight"][:, head * d_head : (head + 1) * d_head] = 0
    edited.load_state_dict(state)
    return edited


@pytest.mark.parametrize("layer, head", [(0, 1), (1, 3)])
def test_zero_ablating_a_head_equals_zeroing_its_W_O_rows(tiny_model, tokens, layer, head):
    expected = model_without_head(tiny_model, layer, head)(tokens)
    for intervention in (
        ZeroAblation(Site.head_out(layer), heads=[head]),
        ZeroAblation(Site.head_out(layer, head)),
        ZeroAblation(Site.z(layer), heads=head),
    ):
        ablated = run_with(tiny_model, tokens, intervention)
        torch.testing.assert_close(ablated, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(expected, tiny_model(tokens), atol=1e-3)
    assert no_hooks(tiny_model)


def test_zero_ablation_matches_a_hand_written_hook_with_positions(tiny_mlp_model, tokens):
    def hook(z, hook):
        z = z.clone()
        z[:, [2, -1], 0] = 0
        return z

    expected = tiny_mlp_model.run_with_hooks(tokens, fwd_hooks=[("blocks.1.attn.hook_z", hook)])
    ablated = run_with(tiny_mlp_model, tokens, ZeroAblation(Site.z(1), heads=[0], positions=[2, -1]))
    torch.testing.assert_close(ablated, expected)


def test_whole_component_ablation(tiny_mlp_model, tokens):
    def hook(x, hook):
        return torch.zeros_like(x)

    for site in (Site.mlp_out(0), Site.attn_out(1), Site.resid_post(0), Site.pos_embed()):
        expected = tiny_mlp_model.run_with_hooks(tokens, fwd_hooks=[(site.hook_name, hook)])
        torch.testing.assert_close(run_with(tiny_mlp_model, tokens, ZeroAblation(site)), expected)
    # Zeroing every head's z leaves only b_O in the attention output.
    with apply(tiny_mlp_model, ZeroAblation(Site.head_out(1))):
        attn_out = cache_activations(tiny_mlp_model, tokens, [Site.attn_out(1)])[Site.attn_out(1)]
    torch.testing.assert_close(attn_out, tiny_mlp_model.b_O[1].expand_as(attn_out).detach())


def test_mean_ablation_with_the_batch_itself_keeps_the_mean(tiny_model, tokens):
    for site, heads, over in [
        (Site.z(0), [1, 2], "batch"),
        (Site.resid_pre(1), None, "batch"),
        (Site.pattern(1), [0], "batch"),
        (Site.z(1), None, "batch_pos"),
    ]:
        before = cache_activations(tiny_model, tokens, [site])[site]
        with apply(tiny_model, MeanAblation(site, reference=tokens, heads=heads, over=over)):
            after = cache_activations(tiny_model, tokens, [site])[site]
        dims = (0,) if over == "batch" else (0, 1)
        torch.testing.assert_close(after.mean(dims), before.mean(dims), atol=1e-6, rtol=1e-5)
        if over == "batch":  # every row now holds the mean at the selected heads
            selected = after if heads is None else after[:, :, heads] if site.kind == "z" else after[:, heads]
            torch.testing.assert_close(selected, selected[:1].expand_as(selected), atol=1e-6, rtol=1e-5)
        assert not torch.allclose(after, before)
    assert no_hooks(tiny_model)


def test_mean_ablation_accepts_a_precomputed_mean_and_shorter_inputs(tiny_model, tokens):
    mean = cache_activations(tiny_model, tokens, [Site.z(1)], reduce="mean")[Site.z(1)]
    short = tokens[:, :5]
    from_tokens = run_with(tiny_model, short, MeanAblation(Site.head_out(1), reference=tokens, heads=[2]))
    from_mean = run_with(tiny_model, short, MeanAblation(Site.head_out(1), reference=mean, heads=[2]))
    torch.testing.assert_close(from_tokens, from_mean)

    def hook(z, hook):
        z = z.clone()
        z[:, :, 2] = mean[:5, 2]
        return z

    torch.testing.assert_close(from_mean, tiny_model.run_with_hooks(short, fwd_hooks=[("blocks.1.attn.hook_z", hook)]))


def test_resample_with_the_clean_input_as_source_changes_nothing(tiny_model, tokens):
    same_rows = tokens[:1].expand(5, -1).contiguous()  # every source row is the clean row
    clean = tiny_model(same_rows)
    for site in (Site.head_out(0), Site.resid_pre(1), Site.pattern(1), Site.v(0)):
        resampled = run_with(tiny_model, same_rows, ResampleAblation(site, same_rows, seed=3))
        torch.testing.assert_close(resampled, clean)


def test_resample_equals_patching_the_drawn_source_rows(tiny_model, tokens, other_tokens):
    rows = resample_rows(len(other_tokens), len(tokens), seed=7)
    resampled = run_with(tiny_model, tokens, ResampleAblation(Site.z(1), other_tokens, heads=[3], seed=7))
    patched = run_with(tiny_model, tokens, Patch(Site.z(1), other_tokens[rows], heads=[3]))
    torch.testing.assert_close(resampled, patched)
    assert not torch.allclose(resampled, tiny_model(tokens))
    again = run_with(tiny_model, tokens, ResampleAblation(Site.z(1), other_tokens, heads=[3], seed=7))
    torch.testing.assert_close(resampled, again)  # seeded: same draw each time


def test_patch_sources_agree_and_full_patch_reproduces_the_source_run(tiny_model, tokens, other_tokens):
    site = Site.resid_pre(1)
    ours = cache_activations(tiny_model, other_tokens, [site])
    _, tl_cache = tiny_model.run_with_cache(other_tokens)
    from_tokens = run_with(tiny_model, tokens, Patch(site, other_tokens, positions=[3]))
    for source in (ours, tl_cache, ours[site]):
        torch.testing.assert_close(run_with(tiny_model, tokens, Patch(site, source, positions=[3])), from_tokens)
    # Patching the whole residual stream before the last layer gives the source run's logits.
    torch.testing.assert_close(
        run_with(tiny_model, tokens, Patch(site, other_tokens)), tiny_model(other_tokens), atol=1e-5, rtol=1e-5
    )

    def hook(resid, hook):
        resid = resid.clone()
        resid[:, 3] = ours[site][:, 3]
        return resid

    torch.testing.assert_close(from_tokens, tiny_model.run_with_hooks(tokens, fwd_hooks=[(site.hook_name, hook)]))


def test_several_interventions_at_once_match_hand_written_hooks(tiny_mlp_model, tokens, other_tokens):
    source = cache_activations(tiny_mlp_model, other_tokens, [Site.q(1)])[Site.q(1)]

    def zero_mlp(x, hook):
        return torch.zeros_like(x)

    def patch_q(q, hook):
        q = q.clone()
        q[:, :, 1] = source[:, :, 1]
        return q

    expected = tiny_mlp_model.run_with_hooks(
        tokens, fwd_hooks=[("blocks.0.hook_mlp_out", zero_mlp), ("blocks.1.attn.hook_q", patch_q)]
    )
    got = run_with(tiny_mlp_model, tokens, ZeroAblation(Site.mlp_out(0)), Patch(Site.q(1), other_tokens, heads=[1]))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_hooks_are_removed_even_when_the_body_raises(tiny_model, tokens):
    clean = tiny_model(tokens)
    with pytest.raises(RuntimeError, match="boom"):
        with apply(tiny_model, ZeroAblation(Site.z(0)), MeanAblation(Site.z(1), tokens)):
            assert tiny_model.list_hooks() != {}
            raise RuntimeError("boom")
    assert no_hooks(tiny_model)
    # A failure inside a hook (bad position for this input) also leaves nothing behind.
    with pytest.raises(InterventionError, match="out of range"):
        run_with(tiny_model, tokens, ZeroAblation(Site.z(0), positions=[20]))
    assert no_hooks(tiny_model)
    torch.testing.assert_close(tiny_model(tokens), clean)


def test_interventions_are_frozen_values():
    ablation = ZeroAblation(Site.z(0), heads=[1, 2])
    assert ablation.heads == (1, 2)
    assert ablation == ZeroAblation(Site.parse("z0"), heads=(1, 2))
    with pytest.raises(AttributeError):
        ablation.heads = (0,)  # type: ignore[misc]


def test_bad_interventions_are_clear_errors(tiny_model, tokens):
    with pytest.raises(InterventionError, match="no head axis"):
        ZeroAblation(Site.attn_out(0), heads=[1])
    with pytest.raises(InterventionError, match="contradicts"):
        ZeroAblation(Site.z(0, 1), heads=[2])
    with pytest.raises(SiteError, match="intervene on Site.pattern"):
        ZeroAblation(Site.attn_scores(0))
    with pytest.raises(SiteError, match=r"reaches only the MLP's input.*Site.attn_out\(1\) or Site.resid_pre\(2\)"):
        ZeroAblation(Site.resid_mid(1))
    with pytest.raises(SiteError, match="attention-only"):
        run_with(tiny_model, tokens, ZeroAblation(Site.mlp_out(0)))
    with pytest.raises(SiteError, match="out of range"):
        run_with(tiny_model, tokens, ZeroAblation(Site.z(0), heads=[9]))
    with pytest.raises(InterventionError, match="does not fit"):
        run_with(tiny_model, tokens, Patch(Site.z(0), tokens[:4]))
    with pytest.raises(InterventionError, match="not an intervention"):
        with apply(tiny_model, "z0"):
            pass
    assert no_hooks(tiny_model)


def test_resid_mid_edits_are_refused_because_the_bridge_hook_feeds_only_the_mlp(tiny_mlp_model, tokens):
    """Why Site.resid_mid is read-only: zeroing the bridge's hook_resid_mid leaves the residual stream as it was
    (in HookedTransformer, resid_post would then equal mlp_out). If a TransformerLens release changes this, this
    test fails and the refusal can go."""
    kept = {}

    def keep(name):
        def hook(x, hook):
            kept[name] = x.detach().clone()

        return hook

    zero = lambda x, hook: torch.zeros_like(x)  # noqa: E731
    tiny_mlp_model.run_with_hooks(
        tokens,
        fwd_hooks=[
            ("blocks.0.hook_resid_mid", zero),
            ("blocks.0.hook_attn_out", keep("attn")),
            ("blocks.0.hook_resid_pre", keep("pre")),
            ("blocks.0.hook_mlp_out", keep("mlp")),
            ("blocks.0.hook_resid_post", keep("post")),
        ],
    )
    assert not torch.allclose(kept["post"], kept["mlp"], atol=1e-3)  # the HookedTransformer result would be mlp_out
    assert torch.allclose(kept["post"], kept["pre"] + kept["attn"] + kept["mlp"], atol=1e-5)  # the stream went on untouched


def test_reading_attention_scores_from_the_bridge_is_refused(tiny_model, tokens):
    """The bridge's hook_attn_scores carries the pattern (rows sum to 1), so a read would silently return it."""
    _, cache = tiny_model.run_with_cache(tokens, names_filter=["blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern"])
    torch.testing.assert_close(cache["blocks.0.attn.hook_attn_scores"], cache["blocks.0.attn.hook_pattern"])
    with pytest.raises(SiteError, match="carries the softmaxed pattern"):
        cache_activations(tiny_model, tokens, [Site.attn_scores(0)])
