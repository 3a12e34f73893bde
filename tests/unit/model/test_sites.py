"""Typed hook sites: names match TransformerLens hooks, and typos or impossible sites are errors."""

import pytest

from interp.model.sites import KINDS, Site, SiteError


def test_constructors_map_to_transformer_lens_hook_names(tiny_mlp_model):
    expected = {
        Site.resid_pre(1): "blocks.1.hook_resid_pre",
        Site.resid_mid(0): "blocks.0.hook_resid_mid",
        Site.resid_post(1): "blocks.1.hook_resid_post",
        Site.attn_out(0): "blocks.0.hook_attn_out",
        Site.mlp_out(1): "blocks.1.hook_mlp_out",
        Site.q(0): "blocks.0.attn.hook_q",
        Site.k(0): "blocks.0.attn.hook_k",
        Site.v(1): "blocks.1.attn.hook_v",
        Site.z(1): "blocks.1.attn.hook_z",
        Site.pattern(0): "blocks.0.attn.hook_pattern",
        Site.attn_scores(1): "blocks.1.attn.hook_attn_scores",
        Site.embed(): "hook_embed",
        Site.pos_embed(): "hook_pos_embed",
        Site.head_out(1, 2): "blocks.1.attn.hook_z",  # computed from z: hook_result never fires
    }
    for site, name in expected.items():
        assert site.hook_name == name
        assert site.check(tiny_mlp_model) is site
        assert name in tiny_mlp_model.hook_dict


def test_every_kind_exists_on_a_model_with_mlps(tiny_mlp_model):
    for kind, spec in KINDS.items():
        site = Site(kind, 1 if spec.layered else None)
        site.check(tiny_mlp_model)


@pytest.mark.parametrize(
    "text, site",
    [
        ("blocks.1.attn.hook_z", Site.z(1)),
        ("z1", Site.z(1)),
        ("pattern0", Site.pattern(0)),
        ("blocks.0.hook_resid_pre", Site.resid_pre(0)),
        ("resid_post1", Site.resid_post(1)),
        ("head_out1h3", Site.head_out(1, 3)),
        ("hook_embed", Site.embed()),
        ("pos_embed", Site.pos_embed()),
        ("scores0", Site.attn_scores(0)),
        ("blocks.1.mlp.hook_post", Site.mlp_post(1)),
    ],
)
def test_parse(text, site):
    assert Site.parse(text) == site


def test_str_round_trips_through_parse():
    for kind, spec in KINDS.items():
        site = Site(kind, 0 if spec.layered else None, 1 if spec.head_axis is not None else None)
        assert Site.parse(str(site)) == site


@pytest.mark.parametrize("text", ["zz1", "z", "blocks.1.attn.hook_zz", "embed1", "resid_pre1h2", "", "blocks.x.hook_resid_pre"])
def test_parse_rejects_typos(text):
    with pytest.raises(SiteError):
        Site.parse(text)


def test_layer_and_head_out_of_range(tiny_model):
    with pytest.raises(SiteError, match="layer 2 is out of range; the model has layers 0..1"):
        Site.z(2).check(tiny_model)
    with pytest.raises(SiteError, match="head 4 is out of range"):
        Site.head_out(0, 4).check(tiny_model)


def test_missing_hook_on_attention_only_model(tiny_model):
    for site in (Site.mlp_out(0), Site.resid_mid(1), Site.mlp_post(0)):
        with pytest.raises(SiteError, match="attention-only"):
            site.check(tiny_model)


def test_missing_positional_embedding_on_a_rotary_model():
    from helpers.factories import tiny_config

    from interp.model.build import build_model

    with pytest.raises(SiteError, match="rotary"):
        Site.pos_embed().check(build_model(tiny_config(positional_embedding_type="rotary")))


def test_bad_constructor_arguments():
    with pytest.raises(SiteError, match="needs a layer"):
        Site.z(-1)
    with pytest.raises(SiteError, match="no head axis"):
        Site("attn_out", 0, 1)
    with pytest.raises(SiteError, match="unknown site kind"):
        Site("zee", 0)
    with pytest.raises(SiteError, match="has no layer"):
        Site("embed", 0)


def test_shapes_and_axes(tiny_model):
    cfg = tiny_model.cfg
    assert Site.z(0).shape(cfg, pos=5) == (5, 4, 8)
    assert Site.pattern(0).shape(cfg, pos=5) == (4, 5, 5)
    assert Site.pattern(0, 2).shape(cfg, pos=5) == (5, 5)
    assert Site.head_out(0).shape(cfg, pos=5) == (5, 4, 32)
    assert Site.head_out(0, 1).axes == ("batch", "pos", "d_model")
    assert Site.head_out(1, 1).target == Site.z(1)


def test_sites_are_frozen_and_hashable():
    site = Site.z(0)
    with pytest.raises(AttributeError):
        site.layer = 1  # type: ignore[misc]
    assert {Site.z(0): 1}[Site.parse("z0")] == 1
