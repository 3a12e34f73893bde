"""Induction probes, losses, ICL score and per-head scores on planted patterns and a hand-wired model."""

import pytest
import torch
import torch.nn.functional as F
from helpers.planted_induction import planted_model

from interp.analysis.induction import head_scores as hs
from interp.analysis.induction.probes import (
    ICLPositions,
    duplicate_keys,
    icl_score,
    icl_score_from_losses,
    induction_loss,
    make_probe,
    prefix_match_keys,
    previous_occurrence,
    token_losses,
)
from interp.core.errors import DataError


def probe(**changes):
    args = dict(vocab=torch.arange(3, 19), n_ctx=16, batch=8, generator=torch.Generator().manual_seed(0))
    args.update(changes)
    return make_probe(**args)


def test_probe_rows_repeat_distinct_pool_tokens():
    p = probe(vocab=torch.arange(5, 40), n_ctx=21, bos=0)
    assert p.half == 10 and p.offset == 1 and p.repeated.shape == (8, 21)
    r = p.repeated[:, 1:11]
    assert torch.equal(p.repeated[:, 11:], r) and (p.repeated[:, 0] == 0).all()
    assert all(len(set(row.tolist())) == 10 for row in r)  # without replacement
    assert ((r >= 5) & (r < 40)).all()
    assert p.second_copy == slice(11, 21)
    # span rows: same length, BOS first, a copy of each row's span at a row-specific distance
    assert p.spans.shape == (8, 21) and (p.spans[:, 0] == 0).all()
    for b in range(8):
        a, c, n = int(p.span_first[b]), int(p.span_second[b]), int(p.span_length[b])
        assert 2 <= n <= 10 and a >= 1 and a + n <= c and c + n <= 21
        assert torch.equal(p.spans[b, a : a + n], p.spans[b, c : c + n])
        assert p.span_queries[b].sum() == n and p.span_queries[b, c : c + n].all()
    assert len(set((p.span_second - p.span_first).tolist())) > 1


def test_prefix_and_duplicate_keys():
    tokens = torch.tensor([[7, 1, 2, 7, 1]])
    prefix = prefix_match_keys(tokens)[0]
    assert prefix[3].nonzero().flatten().tolist() == [1]  # token 7 at q=3: key 1 follows the earlier 7
    assert prefix[4].nonzero().flatten().tolist() == [2]
    assert duplicate_keys(tokens)[0, 4].nonzero().flatten().tolist() == [1]


def test_probe_half_is_capped_by_the_pool_and_checked():
    assert probe(vocab=torch.arange(5), n_ctx=64).half == 5
    with pytest.raises(DataError, match="half=9"):
        probe(half=9)
    with pytest.raises(DataError, match="pool"):
        probe(half=6, vocab=torch.arange(4))
    with pytest.raises(DataError, match="at least 2"):
        probe(vocab=torch.tensor([3]))
    with pytest.raises(DataError, match="text rows"):
        probe(text=torch.zeros(2, 40, dtype=torch.long))
    with pytest.raises(DataError, match="span"):
        probe(span_min=3, span_max=9)


def test_token_losses_match_cross_entropy():
    logits = torch.randn(3, 6, 11, generator=torch.Generator().manual_seed(1))
    tokens = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(2))
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, 11), tokens[:, 1:].reshape(-1), reduction="none").view(3, 5)
    torch.testing.assert_close(token_losses(logits, tokens), expected)


def test_planted_induction_model_predicts_the_repeat_only():
    model = planted_model()
    loss = induction_loss(model, probe(vocab=torch.arange(16)))
    assert loss.repeated_half < 0.5 < loss.first_half
    assert loss.per_position.shape == (15,)


def test_icl_score_is_late_minus_early_loss():
    losses = torch.arange(12.0).view(2, 6)  # token k's loss is column k-1
    assert icl_score_from_losses(losses, ICLPositions(early=1, late=6)) == pytest.approx((5 + 11) / 2 - (0 + 6) / 2)
    # windows of 2: tokens 5-6 against tokens 2-3
    assert icl_score_from_losses(losses, ICLPositions(early=3, late=6, window=2)) == pytest.approx(3.0)
    assert ICLPositions.default(64) == ICLPositions(early=8, late=63, window=4)
    assert ICLPositions.default(4) == ICLPositions(early=1, late=3, window=1)
    with pytest.raises(DataError, match="early"):
        icl_score_from_losses(losses, ICLPositions(early=5, late=5))
    with pytest.raises(DataError, match="window"):
        icl_score_from_losses(losses, ICLPositions(early=2, late=6, window=3))
    # repeated rows are "text" the planted model learns from in context: late loss far below early loss
    p = probe(vocab=torch.arange(16))
    assert icl_score(planted_model(), p.repeated, ICLPositions(early=3, late=14)) < -1.0


# ---- per-head scores on planted patterns -------------------------------------------------------------------


def one_hot_pattern(targets: torch.Tensor, n: int) -> torch.Tensor:
    """[batch query key] attention putting everything on key targets[b, q] (q itself when the target is < 0)."""
    q = torch.arange(n).expand_as(targets)
    return F.one_hot(torch.where(targets >= 0, targets, q), n).float()


def test_planted_previous_token_pattern_scores_one_on_previous_token_only():
    p = probe()
    n = p.repeated.shape[1]
    prev = one_hot_pattern(torch.arange(n).expand(8, n) - 1, n)
    patterns = prev[None, :, None]  # [layer batch head query key]
    assert hs.previous_token_scores(patterns, offset=0).item() == pytest.approx(1.0)
    assert hs.after_previous_occurrence_scores(patterns, p.repeated).item() == pytest.approx(0.0)
    assert hs.duplicate_token_scores(patterns, p.repeated).item() == pytest.approx(0.0)


def test_planted_induction_pattern_scores_one_on_induction():
    p = probe()
    n, h = p.repeated.shape[1], p.half
    q = torch.arange(n).expand(8, n)
    induction = one_hot_pattern(torch.where(q >= h, q - h + 1, -1), n)[None, :, None]
    assert hs.after_previous_occurrence_scores(induction, p.repeated).item() == pytest.approx(1.0)
    assert hs.previous_token_scores(induction, offset=0).item() < 0.1
    duplicate = one_hot_pattern(torch.where(q >= h, q - h, -1), n)[None, :, None]
    assert hs.duplicate_token_scores(duplicate, p.repeated).item() == pytest.approx(1.0)


def test_a_fixed_offset_head_fakes_induction_but_not_prefix_matching():
    p = probe(batch=32, vocab=torch.arange(65), n_ctx=64)  # spans of 8..32 tokens at varying distances
    n, h = p.repeated.shape[1], p.half
    q = torch.arange(n).expand(32, n)
    offset_head = one_hot_pattern(torch.where(q >= h, q - h + 1, -1), n)[None, :, None]
    assert hs.after_previous_occurrence_scores(offset_head, p.repeated).item() == pytest.approx(1.0)
    assert hs.attention_mass_on(offset_head, p.span_prefix_keys, p.span_queries).item() < 0.3
    # the true induction head on span rows: attend to the key after the span's first copy
    target = torch.where(p.span_queries, q - (p.span_second - p.span_first)[:, None] + 1, -1)
    span_induction = one_hot_pattern(target, n)[None, :, None]
    assert hs.attention_mass_on(span_induction, p.span_prefix_keys, p.span_queries).item() == pytest.approx(1.0)


def test_previous_occurrence_and_uniform_attention_baseline():
    assert previous_occurrence(torch.tensor([[1, 2, 1, 1, 2]])).tolist() == [[-1, -1, 0, 2, 1]]
    n = 6
    uniform = torch.tril(torch.ones(n, n)) / torch.arange(1, n + 1)[:, None]
    score = hs.previous_token_scores(uniform[None, None, None], offset=0)
    assert score.item() == pytest.approx(sum(1 / (q + 1) for q in range(1, n)) / (n - 1))


def test_planted_model_head_scores():
    from interp.analysis.induction.series import evaluate_model

    scores = evaluate_model(planted_model(), probe(vocab=torch.arange(16))).heads
    assert scores.previous_token[0, 0] > 0.99 and scores.induction[0, 0] < 0.05
    assert scores.induction[1, 0] > 0.9 and scores.prefix_matching[1, 0] > 0.9
    assert scores.previous_token[1, 0] < 0.2
    assert scores.copying[1, 0] == pytest.approx(1.0)
    assert abs(scores.copying[0, 0]) < 0.1  # writes to a subspace W_U does not read
    anti = evaluate_model(planted_model(copy_sign=-1.0), probe(vocab=torch.arange(16))).heads
    assert anti.copying[1, 0] == pytest.approx(-1.0)
