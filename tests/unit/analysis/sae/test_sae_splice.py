"""Splicing a dictionary into the forward pass, against hand-written hooks and dictionaries with known outputs."""

import pytest
import torch
from helpers.factories import tiny_config

from interp.analysis.core.cache import cache_activations
from interp.analysis.core.interventions import ZeroAblation, apply, run_with
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.files import load_dictionary, save_dictionary
from interp.analysis.sae.splice import Splice
from interp.core.errors import ConfigError, InterpError
from interp.model.build import build_model
from interp.model.sites import Site, SiteError

TOKENS = torch.randint(11, (3, 12), generator=torch.Generator().manual_seed(0))
ATOL = 1e-5


@pytest.fixture(scope="module")
def attn_model():
    return build_model(tiny_config())  # d_model 32, 4 heads of d_head 8


@pytest.fixture(scope="module")
def mlp_model():
    return build_model(tiny_config(attn_only=False, d_mlp=64))


def identity_dictionary(d: int, *, d_out_weights=None, b_dec=None, transcoder=False) -> SparseDictionary:
    """W_enc = [I, -I], ReLU, W_dec = [I; -I] (or [W; -W]): features [relu(x), relu(-x)], output x (or x @ W)."""
    w = torch.eye(d) if d_out_weights is None else d_out_weights
    sae = SparseDictionary(d_in=d, n_features=2 * d, kind="relu", d_out=w.shape[1], transcoder=transcoder)
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], dim=1))
        sae.b_enc.zero_()
        sae.W_dec.copy_(torch.cat([w, -w], dim=0))
        sae.b_dec.copy_(torch.zeros(w.shape[1]) if b_dec is None else b_dec)
    return sae


def random_dictionary(d_in: int, d_out: int | None = None, seed: int = 0) -> SparseDictionary:
    transcoder = d_out is not None
    sae = SparseDictionary(d_in=d_in, n_features=3 * d_in, kind="relu", d_out=d_out, transcoder=transcoder, seed=seed)
    with torch.no_grad():
        sae.b_dec.copy_(torch.randn(sae.d_out, generator=torch.Generator().manual_seed(seed + 1)) * 0.1)
    return sae


def no_hooks_left(model) -> bool:
    from transformer_lens.hook_points import HookPoint

    return not any(isinstance(m, HookPoint) and (m.fwd_hooks or m.bwd_hooks) for m in model.modules())


# ---- an exact reconstruction changes nothing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("which", "site", "width"),
    [
        ("attn", "resid_pre0", 32),
        ("attn", "resid_post1", 32),
        ("attn", "attn_out0", 32),
        ("attn", "z1", 32),  # 4 heads * d_head 8
        ("attn", "z1h2", 8),
        ("attn", "head_out1h2", 32),
        ("attn", "head_out0", 128),  # 4 heads * d_model 32
        ("mlp", "mlp_out0", 32),
        ("mlp", "mlp_post1", 64),
    ],
)
def test_an_exact_dictionary_spliced_in_leaves_the_logits_clean(attn_model, mlp_model, which, site, width):
    model = attn_model if which == "attn" else mlp_model
    spliced = run_with(model, TOKENS, Splice(identity_dictionary(width), site))
    torch.testing.assert_close(spliced, model(TOKENS), atol=ATOL, rtol=0)
    assert no_hooks_left(model)


# ---- against hand-written hooks -----------------------------------------------------------------------------


def _run_hooked(model, hooks):
    return model.run_with_hooks(TOKENS, fwd_hooks=hooks)


def test_a_residual_splice_equals_replacing_the_activation_by_hand(attn_model):
    sae = random_dictionary(32)
    spliced = run_with(attn_model, TOKENS, Splice(sae, Site.resid_pre(1)))
    by_hand = _run_hooked(attn_model, [("blocks.1.hook_resid_pre", lambda a, hook: sae(a))])
    torch.testing.assert_close(spliced, by_hand, atol=ATOL, rtol=0)
    assert not torch.allclose(spliced, attn_model(TOKENS), atol=1e-3)  # the dictionary does change the model


def test_a_splice_on_all_heads_of_z_reads_and_writes_them_as_one_vector(attn_model):
    sae = random_dictionary(32)
    by_hand = _run_hooked(attn_model, [("blocks.1.attn.hook_z", lambda z, hook: sae(z.flatten(2)).reshape(z.shape))])
    torch.testing.assert_close(run_with(attn_model, TOKENS, Splice(sae, "z1")), by_hand, atol=ATOL, rtol=0)


def test_a_splice_on_one_head_of_z_replaces_only_that_slice(attn_model):
    sae = random_dictionary(8)

    def replace_head_two(z, hook):
        z = z.clone()
        z[:, :, 2] = sae(z[:, :, 2])
        return z

    by_hand = _run_hooked(attn_model, [("blocks.1.attn.hook_z", replace_head_two)])
    torch.testing.assert_close(run_with(attn_model, TOKENS, Splice(sae, "z1h2")), by_hand, atol=ATOL, rtol=0)


def _head_out(model, layer):
    return cache_activations(model, TOKENS, [Site.head_out(layer)])[Site.head_out(layer)]  # [batch pos head d_model]


def test_a_head_out_splice_equals_zeroing_the_head_and_adding_its_reconstruction(attn_model):
    sae = random_dictionary(32)
    reconstruction = sae(_head_out(attn_model, 1)[:, :, 2])
    with apply(attn_model, ZeroAblation(Site.head_out(1, 2))):
        with attn_model.hooks(fwd_hooks=[("blocks.1.hook_attn_out", lambda a, hook: a + reconstruction)]):
            by_hand = attn_model(TOKENS)
    torch.testing.assert_close(run_with(attn_model, TOKENS, Splice(sae, "head_out1h2")), by_hand, atol=ATOL, rtol=0)


def test_a_head_out_splice_on_every_head_replaces_all_their_contributions(attn_model):
    sae = random_dictionary(128)
    head_out = _head_out(attn_model, 0)
    reconstruction = sae(head_out.flatten(2)).reshape(head_out.shape).sum(dim=2)
    with apply(attn_model, ZeroAblation(Site.head_out(0))):
        with attn_model.hooks(fwd_hooks=[("blocks.0.hook_attn_out", lambda a, hook: a + reconstruction)]):
            by_hand = attn_model(TOKENS)
    torch.testing.assert_close(run_with(attn_model, TOKENS, Splice(sae, "head_out0")), by_hand, atol=ATOL, rtol=0)


# ---- transcoders --------------------------------------------------------------------------------------------


def _z_to_attn_out(model, layer: int, scale: float = 1.0) -> SparseDictionary:
    """attn_out = flat(z) @ flat(W_O) + b_O exactly: an exact linear transcoder z{layer} -> attn_out{layer}."""
    w_out = model.W_O[layer].detach().reshape(-1, model.cfg.d_model)  # [head*d_head d_model]
    return identity_dictionary(w_out.shape[0], d_out_weights=scale * w_out, b_dec=model.b_O[layer].detach(), transcoder=True)


def test_an_exact_linear_transcoder_leaves_the_logits_clean(attn_model):
    splice = Splice(_z_to_attn_out(attn_model, 0), "z0", output_site="attn_out0")
    assert [name for name, _ in splice.hooks(attn_model)] == ["blocks.0.attn.hook_z", "blocks.0.hook_attn_out"]
    torch.testing.assert_close(run_with(attn_model, TOKENS, splice), attn_model(TOKENS), atol=ATOL, rtol=0)


def test_a_transcoder_writes_its_prediction_from_the_input_site(attn_model):
    # Half the decoder: the prediction is b_O + (attn_out - b_O) / 2, which a hook at attn_out can write alone.
    b_out = attn_model.b_O[0].detach()
    spliced = run_with(attn_model, TOKENS, Splice(_z_to_attn_out(attn_model, 0, scale=0.5), "z0", "attn_out0"))
    by_hand = _run_hooked(attn_model, [("blocks.0.hook_attn_out", lambda a, hook: b_out + (a - b_out) / 2)])
    torch.testing.assert_close(spliced, by_hand, atol=ATOL, rtol=0)


def test_an_mlp_transcoder_reads_resid_mid_and_replaces_mlp_out(mlp_model):
    Site.resid_mid(0).check(mlp_model)
    Site.mlp_out(0).check(mlp_model)
    transcoder = random_dictionary(32, d_out=32)
    seen = {}

    def read(a, hook):
        seen["x"] = a

    by_hand = _run_hooked(
        mlp_model, [("blocks.0.hook_resid_mid", read), ("blocks.0.hook_mlp_out", lambda a, hook: transcoder(seen["x"]))]
    )
    spliced = run_with(mlp_model, TOKENS, Splice(transcoder, "resid_mid0", output_site="mlp_out0"))
    torch.testing.assert_close(spliced, by_hand, atol=ATOL, rtol=0)
    assert not torch.allclose(spliced, mlp_model(TOKENS), atol=1e-3)


def test_splice_of_a_saved_dictionary_uses_its_sites(mlp_model, tmp_path):
    transcoder = random_dictionary(32, d_out=32)
    config = SAEConfig(site="resid_mid0", output_site="mlp_out0", kind="relu", n_features=96)
    saved = load_dictionary(save_dictionary(tmp_path / "tc", transcoder, config, source={}))
    splice = Splice.of(saved)
    assert (splice.site, splice.target_site) == (Site.resid_mid(0), Site.mlp_out(0))
    expected = run_with(mlp_model, TOKENS, Splice(transcoder, "resid_mid0", "mlp_out0"))
    torch.testing.assert_close(run_with(mlp_model, TOKENS, splice), expected, atol=ATOL, rtol=0)


# ---- the error term and skipped positions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("site", "width", "output"), [("resid_pre1", 32, None), ("head_out1h2", 32, None), ("z0", 32, "attn_out0")]
)
def test_with_the_error_term_the_logits_are_clean_and_gradients_reach_the_features(attn_model, site, width, output):
    sae = random_dictionary(width, d_out=32 if output else None)
    logits = run_with(attn_model, TOKENS, Splice(sae, site, output, with_error=True))
    torch.testing.assert_close(logits, attn_model(TOKENS), atol=ATOL, rtol=0)
    logits.logsumexp(-1).sum().backward()
    assert sae.W_enc.grad is not None and sae.W_enc.grad.abs().sum() > 0
    attn_model.zero_grad(set_to_none=True)


def test_skipped_positions_keep_their_clean_activation(attn_model):
    sae = random_dictionary(32)
    spliced = run_with(attn_model, TOKENS, Splice(sae, "resid_pre1", skip_positions=3))

    def from_three(a, hook):
        return torch.cat([a[:, :3], sae(a[:, 3:])], dim=1)

    torch.testing.assert_close(spliced, _run_hooked(attn_model, [("blocks.1.hook_resid_pre", from_three)]), atol=ATOL, rtol=0)
    torch.testing.assert_close(spliced[:, :3], attn_model(TOKENS)[:, :3], atol=ATOL, rtol=0)


# ---- hooks always removed -----------------------------------------------------------------------------------


class Boom(Exception):
    pass


class FailingDictionary(SparseDictionary):
    def forward(self, x):
        raise Boom("the dictionary failed inside the forward pass")


@pytest.mark.parametrize(("site", "output"), [("resid_pre1", None), ("head_out1h2", None), ("z0", "attn_out0")])
def test_no_hook_remains_when_the_body_or_the_dictionary_raises(attn_model, site, output):
    sae = random_dictionary(32, d_out=32 if output else None)
    with pytest.raises(Boom), apply(attn_model, Splice(sae, site, output)):
        attn_model(TOKENS)
        raise Boom("body failed")
    assert no_hooks_left(attn_model)
    failing = FailingDictionary(d_in=32, n_features=64, kind="relu", d_out=32, transcoder=output is not None)
    with pytest.raises(Boom):
        run_with(attn_model, TOKENS, Splice(failing, site, output))
    assert no_hooks_left(attn_model)
    with pytest.raises(SiteError):  # the second intervention is refused after the splice resolved its hooks
        run_with(attn_model, TOKENS, Splice(sae, site, output), ZeroAblation(Site.z(5)))
    assert no_hooks_left(attn_model)
    attn_model(TOKENS)


# ---- refusals -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error", "says"),
    [
        (lambda m: Splice(random_dictionary(16), "resid_pre0").hooks(m), ConfigError, "width 16"),
        (lambda m: Splice(random_dictionary(32), "z1h0").hooks(m), ConfigError, "z1h0 on this model has width 8"),
        (lambda m: Splice(random_dictionary(32, d_out=16), "z0", "attn_out0").hooks(m), ConfigError, "width 16"),
        (lambda m: Splice(random_dictionary(32), "resid_pre5").hooks(m), SiteError, "layer 5 is out of range"),
        (lambda m: Splice(random_dictionary(32), "head_out1h7").hooks(m), SiteError, "head 7 is out of range"),
        (lambda m: Splice(random_dictionary(32), "mlp_out0").hooks(m), SiteError, "attention-only"),
        (lambda m: Splice(random_dictionary(32, d_out=32), "resid_mid0", "mlp_out0").hooks(m), SiteError, "no hook"),
        (lambda m: Splice(random_dictionary(32), "resid_mid0"), SiteError, "resid_mid"),
        (lambda m: Splice(random_dictionary(32), "pattern0"), ConfigError, "one vector per token"),
        (lambda m: Splice(random_dictionary(32, d_out=32), "resid_pre0"), ConfigError, "pass output_site"),
        (lambda m: Splice(random_dictionary(32), "resid_pre0", "attn_out0"), ConfigError, "drop output_site"),
        (lambda m: Splice(random_dictionary(32, d_out=32), "resid_post1", "attn_out0"), ConfigError, "runs after"),
        (lambda m: Splice(torch.nn.Linear(32, 32), "resid_pre0"), ConfigError, "SparseDictionary"),
        (lambda m: Splice(random_dictionary(32), "resid_pre0", skip_positions=-1), ConfigError, "skip_positions"),
        (lambda m: Splice(random_dictionary(32), "resid_pre0", with_error=1), ConfigError, "with_error"),
        (lambda m: Splice(random_dictionary(32), "bogus0"), SiteError, "bogus"),
    ],
)
def test_bad_splices_are_refused_in_one_line(attn_model, make, error, says):
    with pytest.raises(error) as raised:
        make(attn_model)
    assert isinstance(raised.value, InterpError)
    assert says in str(raised.value) and "\n" not in str(raised.value)
    assert no_hooks_left(attn_model)
