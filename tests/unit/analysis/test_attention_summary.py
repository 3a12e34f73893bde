"""Per-head attention summaries: hand-made patterns with known answers, a naive per-head loop, batching."""

import math

import pytest
import torch

from interp.analysis.summaries.attention import SUMMARY_NAMES, attention_summary, summarise_patterns
from interp.core.errors import DataError

N = 6


def _tokens(batch: int = 1, n: int = N) -> torch.Tensor:
    return torch.arange(n).repeat(batch, 1)  # no repeated token: same_token undefined


def test_uniform_pattern_has_entropy_log_k_plus_one_per_query():
    uniform = torch.ones(N, N).tril() / torch.arange(1, N + 1)[:, None]
    summary = summarise_patterns(uniform[None, None, None], _tokens())
    expected_entropy = sum(math.log(k + 1) for k in range(N)) / N
    assert summary.entropy.item() == pytest.approx(expected_entropy, rel=1e-6)
    # queries 1..N-1 put 1/(q+1) on the previous key and on key 0
    expected = sum(1 / (q + 1) for q in range(1, N)) / (N - 1)
    assert summary.previous_token.item() == pytest.approx(expected, rel=1e-6)
    assert summary.first_token.item() == pytest.approx(expected, rel=1e-6)
    assert math.isnan(summary.same_token.item())


def test_one_hot_previous_token_pattern():
    previous = torch.zeros(N, N)
    previous[0, 0] = 1
    previous[torch.arange(1, N), torch.arange(N - 1)] = 1
    summary = summarise_patterns(previous[None, None, None], _tokens())
    assert summary.previous_token.item() == pytest.approx(1.0)
    assert summary.entropy.item() == pytest.approx(0.0, abs=1e-12)
    assert summary.first_token.item() == pytest.approx(1 / (N - 1))  # only query 1's previous key is key 0


def test_one_hot_first_token_and_same_token_patterns():
    first = torch.zeros(N, N)
    first[:, 0] = 1
    tokens = torch.tensor([[7, 3, 7, 3, 7, 9]])
    same = torch.zeros(N, N)
    same[:, 0] = 1
    same[3, :] = 0
    same[3, 1] = 1  # query 3 (token 3) -> key 1 (token 3); queries 2, 4 (token 7) -> key 0 (token 7)
    patterns = torch.stack([first, same])[:, None, None]  # two "layers"
    summary = summarise_patterns(patterns, tokens)
    assert summary.first_token[0, 0].item() == pytest.approx(1.0)
    assert summary.same_token[1, 0].item() == pytest.approx(1.0)
    # the first-token head: queries 2 and 4 hit an earlier 7 at key 0, query 3's earlier 3 is at key 1
    assert summary.same_token[0, 0].item() == pytest.approx(2 / 3)


def _naive(patterns: torch.Tensor, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
    n_layers, batch, n_heads, n_pos, _ = patterns.shape
    out = {name: torch.zeros(n_layers, n_heads, dtype=torch.float64) for name in SUMMARY_NAMES}
    for layer in range(n_layers):
        for head in range(n_heads):
            values = {name: [] for name in SUMMARY_NAMES}
            for b in range(batch):
                for q in range(n_pos):
                    p = patterns[layer, b, head, q, : q + 1].double()
                    values["entropy"].append(-sum(float(x) * math.log(float(x)) for x in p if x > 0))
                    if q >= 1:
                        values["previous_token"].append(float(p[q - 1]))
                        values["first_token"].append(float(p[0]))
                    same = [k for k in range(q) if tokens[b, k] == tokens[b, q]]
                    if same:
                        values["same_token"].append(sum(float(p[k]) for k in same))
            for name in SUMMARY_NAMES:
                out[name][layer, head] = sum(values[name]) / len(values[name])
    return out


def test_matches_a_naive_per_head_loop_on_random_patterns():
    generator = torch.Generator().manual_seed(0)
    layers, batch, heads, n = 2, 3, 3, 7
    scores = torch.randn(layers, batch, heads, n, n, generator=generator) * 2
    scores = scores.masked_fill(~torch.ones(n, n, dtype=torch.bool).tril(), float("-inf"))
    patterns = scores.softmax(-1)
    tokens = torch.randint(0, 4, (batch, n), generator=generator)  # small vocabulary: many repeats
    summary = summarise_patterns(patterns, tokens)
    naive = _naive(patterns, tokens)
    for name in SUMMARY_NAMES:
        torch.testing.assert_close(getattr(summary, name).double(), naive[name], rtol=1e-5, atol=1e-6)


def test_model_summary_is_batch_invariant_and_matches_the_cached_patterns(tiny_model):
    model = tiny_model.eval()
    tokens = torch.randint(0, 5, (7, 12), generator=torch.Generator().manual_seed(1))
    _, cache = model.run_with_cache(tokens)
    patterns = torch.stack([cache[f"blocks.{layer}.attn.hook_pattern"] for layer in range(model.cfg.n_layers)])
    reference = summarise_patterns(patterns, tokens)
    batched = attention_summary(model, tokens, batch_size=3)  # uneven mini-batches: 3 + 3 + 1 rows
    for name in SUMMARY_NAMES:
        torch.testing.assert_close(getattr(batched, name), getattr(reference, name), rtol=1e-5, atol=1e-6)
    assert len(batched.rows()) == model.cfg.n_layers * model.cfg.n_heads


def test_bad_input_is_a_one_line_error(tiny_model):
    with pytest.raises(DataError, match="layer batch head query key"):
        summarise_patterns(torch.ones(1, 2, 3, 4), _tokens())
    with pytest.raises(DataError, match="batch_size"):
        attention_summary(tiny_model, _tokens(), batch_size=0)
