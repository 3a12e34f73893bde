"""Caching chosen sites: exactly the requested sites, batch-invariant values, exact memory estimate."""

import pytest
import torch

from interp.analysis.core.cache import Activations, cache_activations, estimate_bytes, head_out_from_z
from interp.core.errors import DataError
from interp.model.sites import Site, SiteError


@pytest.fixture
def tokens():
    return torch.randint(0, 11, (10, 9), generator=torch.Generator().manual_seed(0))


SITES = [Site.z(0), Site.pattern(1), Site.resid_pre(1), Site.head_out(1), Site.head_out(0, 2), Site.embed()]


def test_filtered_cache_has_exactly_the_requested_sites_and_matches_run_with_cache(tiny_model, tokens):
    acts = cache_activations(tiny_model, tokens, SITES + ["z0"])  # a repeat is cached once
    assert isinstance(acts, Activations)
    assert list(acts) == SITES
    _, reference = tiny_model.run_with_cache(tokens)
    for site in SITES:
        if site.is_derived:
            continue
        torch.testing.assert_close(acts[site], reference[site.hook_name])
    assert acts["blocks.0.attn.hook_z"] is acts[Site.z(0)]


def test_head_out_sums_with_b_O_to_attn_out(tiny_model, tokens):
    acts = cache_activations(tiny_model, tokens, [Site.head_out(1), Site.attn_out(1), Site.head_out(1, 3), Site.z(1)])
    summed = acts[Site.head_out(1)].sum(dim=2) + tiny_model.b_O[1]
    torch.testing.assert_close(summed, acts[Site.attn_out(1)], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(acts[Site.head_out(1, 3)], acts[Site.head_out(1)][:, :, 3])
    torch.testing.assert_close(acts[Site.head_out(1)], head_out_from_z(tiny_model, 1, acts[Site.z(1)]))


def test_batching_gives_the_same_values_as_one_big_batch(tiny_mlp_model, tokens):
    sites = [Site.z(0), Site.mlp_out(1), Site.pattern(0), Site.resid_mid(1)]
    whole = cache_activations(tiny_mlp_model, tokens, sites)
    batched = cache_activations(tiny_mlp_model, tokens, sites, batch_size=3)
    for site in sites:
        assert batched[site].shape == whole[site].shape
        torch.testing.assert_close(batched[site], whole[site], atol=1e-6, rtol=1e-5)


def test_mean_reduction_and_dtype_cast(tiny_model, tokens):
    full = cache_activations(tiny_model, tokens, SITES)
    mean = cache_activations(tiny_model, tokens, SITES, batch_size=4, reduce="mean")
    total = cache_activations(tiny_model, tokens, SITES, batch_size=4, reduce="sum")
    half = cache_activations(tiny_model, tokens, SITES, batch_size=4, dtype=torch.float16)
    for site in SITES:
        torch.testing.assert_close(mean[site], full[site].mean(0), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(total[site], full[site].sum(0), atol=1e-5, rtol=1e-5)
        assert half[site].dtype == torch.float16
        torch.testing.assert_close(half[site].float(), full[site], atol=2e-3, rtol=2e-3)


@pytest.mark.parametrize("dtype, reduce", [(None, None), (torch.float16, None), (None, "mean"), (torch.float64, "sum")])
def test_estimate_bytes_is_exact(tiny_mlp_model, tokens, dtype, reduce):
    sites = SITES + [Site.mlp_post(0), Site.resid_mid(0)]
    acts = cache_activations(tiny_mlp_model, tokens, sites, batch_size=4, dtype=dtype, reduce=reduce)
    expected = estimate_bytes(tiny_mlp_model, sites, n_rows=10, pos=9, dtype=dtype, reduce=reduce)
    assert acts.nbytes == expected
    assert sum(t.numel() * t.element_size() for t in acts.values()) == expected


def test_no_hooks_left_behind(tiny_model, tokens):
    cache_activations(tiny_model, tokens, SITES, batch_size=3)
    assert tiny_model.list_hooks() == {}


def test_clear_errors(tiny_model, tokens):
    with pytest.raises(SiteError):
        cache_activations(tiny_model, tokens, ["mlp_out0"])
    with pytest.raises(SiteError):
        cache_activations(tiny_model, tokens, ["z7"])
    with pytest.raises(DataError, match="no sites"):
        cache_activations(tiny_model, tokens, [])
    with pytest.raises(DataError, match="token ids"):
        cache_activations(tiny_model, tokens + 20, ["z0"])
    with pytest.raises(DataError, match="batch pos"):
        cache_activations(tiny_model, tokens[0], ["z0"])
    with pytest.raises(DataError, match="batch_size"):
        cache_activations(tiny_model, tokens, ["z0"], batch_size=0)
    with pytest.raises(KeyError, match="was not cached"):
        cache_activations(tiny_model, tokens, ["z0"])["z1"]
