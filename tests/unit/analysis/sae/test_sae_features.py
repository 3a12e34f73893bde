"""Feature summaries against brute force: every token encoded at once, features sorted by argsort, logits by hand."""

import numpy as np
import pytest
import torch
from helpers.factories import tiny_config

from interp.analysis.core.cache import cache_activations
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.features import feature_summaries, logit_effects, residual_directions
from interp.analysis.sae.site_vectors import to_vectors, vector_width
from interp.core.errors import ConfigError, DataError
from interp.model.build import build_model
from interp.model.sites import Site
from interp.text.tokenizers import CharTokenizer

TOKENIZER = CharTokenizer("<script>&ab")  # 11 characters, the tiny model's vocabulary


def tokens_for(model, rows=10, seed=0):
    return torch.randint(model.cfg.d_vocab, (rows, model.cfg.n_ctx), generator=torch.Generator().manual_seed(seed))


def dictionary(model, site, n_features=48, kind="relu", seed=1, output_site=None, skip=0):
    width = vector_width(Site.parse(site), model.cfg)
    d_out = vector_width(Site.parse(output_site), model.cfg) if output_site else width
    sae = SparseDictionary(
        d_in=width,
        n_features=n_features,
        kind=kind,
        k=4 if kind == "topk" else None,
        d_out=d_out,
        transcoder=output_site is not None,
        seed=seed,
    )
    with torch.no_grad():  # a sparse, varied dictionary: some features rare, a few never active
        g = torch.Generator().manual_seed(seed)
        sae.W_enc.copy_(torch.randn(width, n_features, generator=g) * 4 / width**0.5)
        sae.b_enc.copy_(-(torch.rand(n_features, generator=g) ** 2) * 3)
        sae.b_enc[:3] = -1e4
        sae.W_dec.copy_(torch.randn(n_features, d_out, generator=g))
        sae.b_dec.copy_(torch.randn(d_out, generator=g) * 0.1)
    config = SAEConfig(site=site, kind=kind, n_features=n_features, k=4 if kind == "topk" else None,
                       output_site=output_site, skip_positions=skip)  # fmt: skip
    return sae.eval(), config


def all_features(model, sae, site, tokens, skip=0):
    site = Site.parse(site)
    acts = sae.encode(to_vectors(site, cache_activations(model, tokens, [site])[site]))
    acts[:, :skip] = 0
    return acts.detach()


@pytest.fixture(scope="module")
def model():
    return build_model(tiny_config())


@pytest.fixture(scope="module")
def mlp_model():
    return build_model(tiny_config(attn_only=False, d_mlp=64))


@pytest.mark.parametrize("kind", ["relu", "topk"])
def test_statistics_and_top_contexts_equal_brute_force(model, kind):
    tokens, skip, n, before, after = tokens_for(model), 2, 5, 4, 2
    sae, config = dictionary(model, "resid_post0", kind=kind, skip=skip)
    s = feature_summaries(model, sae, config, tokens, TOKENIZER, n_examples=n, context=(before, after), batch_size=3)
    acts = all_features(model, sae, "resid_post0", tokens, skip)
    kept = acts[:, skip:].reshape(-1, sae.n_features)
    assert s.n_tokens == kept.shape[0] == 10 * (16 - skip)
    torch.testing.assert_close(s.density, (kept > 0).float().mean(0))
    expected_mean = torch.where((kept > 0).any(0), kept.sum(0) / (kept > 0).sum(0).clamp_min(1), 0.0)
    torch.testing.assert_close(s.mean_active, expected_mean)
    assert s.n_dead == int(((kept > 0).sum(0) == 0).sum()) >= 3 and s.n_dead < sae.n_features // 2
    for f in range(sae.n_features):
        column = kept[:, f]
        order = np.argsort(-column.numpy(), kind="stable")[:n]
        order = [i for i in order if column[i] > 0]
        shown = int((s.top_rows[f] >= 0).sum())
        assert shown == len(order) and (s.top_rows[f, shown:] == -1).all() and (s.top_values[f, shown:] == 0).all()
        torch.testing.assert_close(s.top_values[f, :shown], column[order])
        rows, pos = [i // (16 - skip) for i in order], [i % (16 - skip) + skip for i in order]
        assert s.top_rows[f, :shown].tolist() == rows and s.top_pos[f, :shown].tolist() == pos  # ties: earliest token first
        for e in range(shown):  # the window: tokens and this feature's activation, -1 / 0 outside the row
            r, p = int(s.top_rows[f, e]), int(s.top_pos[f, e])
            for w, offset in enumerate(range(-before, after + 1)):
                q = p + offset
                inside = 0 <= q < 16
                assert int(s.context_tokens[f, e, w]) == (int(tokens[r, q]) if inside else -1)
                assert float(s.context_acts[f, e, w]) == pytest.approx(float(acts[r, q, f]) if inside else 0.0, abs=1e-5)
        if shown:
            assert float(s.max_activation[f]) == pytest.approx(float(column.max()), abs=1e-6)
            nonzero = column[column > 0].double().numpy()
            edges = s.histogram_edges[f].double().numpy()
            counts, _ = np.histogram(nonzero, bins=edges)
            assert s.histogram_counts[f].tolist() == counts.tolist() and counts.sum() == len(nonzero)
            assert edges[0] <= nonzero.min() and nonzero.max() < edges[-1] and (np.diff(np.log10(edges)) > 0).all()
        else:
            assert s.histogram_counts[f].sum() == 0


def test_streaming_in_small_batches_gives_the_one_batch_result(model):
    tokens = tokens_for(model, rows=12, seed=3)
    sae, config = dictionary(model, "z1", seed=4)
    small = feature_summaries(model, sae, config, tokens, TOKENIZER, batch_size=1, n_examples=6)
    big = feature_summaries(model, sae, config, tokens, TOKENIZER, batch_size=12, n_examples=6)
    for name in ("top_rows", "top_pos", "context_tokens", "histogram_counts", "top_logit_ids", "bottom_logit_ids"):
        assert torch.equal(getattr(small, name), getattr(big, name)), name
    for name in ("density", "mean_active", "top_values", "context_acts", "histogram_edges", "top_logit_values"):
        torch.testing.assert_close(getattr(small, name), getattr(big, name))
    assert small.token_text == big.token_text


def check_logits(model, sae, config, by_hand, n_logits=5):
    effects = by_hand @ model.W_U.detach()  # [feature d_vocab]
    top_ids, top_values, bottom_ids, bottom_values = logit_effects(model, sae, config, n_logits=n_logits, chunk=7)
    sorted_effects = effects.sort(dim=-1, descending=True)
    torch.testing.assert_close(top_values, sorted_effects.values[:, :n_logits])
    torch.testing.assert_close(bottom_values, sorted_effects.values.flip(-1)[:, :n_logits])
    torch.testing.assert_close(effects.gather(1, top_ids), top_values)
    torch.testing.assert_close(effects.gather(1, bottom_ids), bottom_values)


def test_logit_effects_of_residual_writers_are_the_decoder_through_the_unembedding(model):
    sae, config = dictionary(model, "resid_post1")
    check_logits(model, sae, config, sae.W_dec.detach())


def test_logit_effects_of_a_z_dictionary_go_through_each_heads_w_o(model):
    sae, config = dictionary(model, "z1")
    decoder = sae.W_dec.detach().reshape(-1, 4, 8)  # [feature head d_head]
    by_hand = torch.zeros(sae.n_features, 32)
    for h in range(4):
        by_hand += decoder[:, h] @ model.W_O[1, h].detach()
    check_logits(model, sae, config, by_hand)
    one_head, one_config = dictionary(model, "z1h2")
    check_logits(model, one_head, one_config, one_head.W_dec.detach() @ model.W_O[1, 2].detach())
    heads, heads_config = dictionary(model, "head_out0")
    check_logits(model, heads, heads_config, heads.W_dec.detach().reshape(-1, 4, 32).sum(1))


def test_logit_effects_through_the_mlp_and_of_a_transcoder(mlp_model):
    sae, config = dictionary(mlp_model, "mlp_post1")
    check_logits(mlp_model, sae, config, sae.W_dec.detach() @ mlp_model.W_out[1].detach())
    transcoder, t_config = dictionary(mlp_model, "resid_mid0", output_site="mlp_out0")
    check_logits(mlp_model, transcoder, t_config, transcoder.W_dec.detach())
    s = feature_summaries(mlp_model, transcoder, t_config, tokens_for(mlp_model, rows=3), TOKENIZER)
    assert s.target_site == "mlp_out0" and s.logit_note == "" and s.top_logit_ids.shape == (48, 8)


def test_sites_without_a_linear_path_to_the_logits_are_refused_with_a_reason(model, mlp_model):
    sae, config = dictionary(model, "v0")
    with pytest.raises(ConfigError, match="does not write the residual stream linearly"):
        residual_directions(model, sae, config)
    s = feature_summaries(model, sae, config, tokens_for(model, rows=3), TOKENIZER)
    assert s.top_logit_ids is None and s.logit_effect is None and "v0" in s.logit_note
    pre, pre_config = dictionary(mlp_model, "mlp_pre1")
    with pytest.raises(ConfigError, match="mlp_pre1"):
        logit_effects(mlp_model, pre, pre_config)


def test_token_text_holds_every_shown_id_with_its_string(model):
    sae, config = dictionary(model, "resid_post0")
    s = feature_summaries(model, sae, config, tokens_for(model), TOKENIZER)
    shown = set(s.context_tokens[s.context_tokens >= 0].tolist()) | set(s.top_logit_ids.flatten().tolist())
    assert shown <= set(s.token_text) and all(s.token_text[i] == TOKENIZER.alphabet[i] for i in s.token_text)


def test_bad_input_is_refused_in_one_line(model):
    tokens = tokens_for(model, rows=2)
    sae, config = dictionary(model, "resid_post0")
    other, _ = dictionary(model, "z1h0")  # width 8, not 32
    with pytest.raises(ConfigError, match="width 8"):
        feature_summaries(model, other, config, tokens, TOKENIZER)
    _, skipping = dictionary(model, "resid_post0", skip=16)
    with pytest.raises(DataError, match="skip_positions=16"):
        feature_summaries(model, sae, skipping, tokens, TOKENIZER)
    with pytest.raises(ConfigError, match="context"):
        feature_summaries(model, sae, config, tokens, TOKENIZER, context=(3,))
    with pytest.raises(ConfigError, match="n_examples"):
        feature_summaries(model, sae, config, tokens, TOKENIZER, n_examples=0)
