import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from jaxtyping import Int
from torch import Tensor

from interp.text.synthetic import (
    RepeatedSpans,
    repeated_random_tokens,
    repeated_span_batch,
    repeated_tokens_dataset,
)


def _spans(*, batch=64, n_ctx=64, vocab=None, span_min=8, span_max=32, seed=0) -> RepeatedSpans:
    vocab = torch.arange(64) if vocab is None else vocab
    generator = torch.Generator().manual_seed(seed)
    return repeated_span_batch(batch=batch, n_ctx=n_ctx, vocab=vocab, span_min=span_min, span_max=span_max, generator=generator)


def _check_invariants(s: RepeatedSpans, *, batch, n_ctx, vocab, span_min, span_max) -> None:
    assert isinstance(s.tokens, Int[Tensor, "batch pos"]) and s.tokens.shape == (batch, n_ctx)
    for field in (s.first_start, s.second_start, s.length):
        assert isinstance(field, Int[Tensor, " batch"]) and field.shape == (batch,)
    assert s.tokens.dtype == torch.int64
    assert ((span_min <= s.length) & (s.length <= span_max)).all()
    assert (s.first_start >= 0).all()
    assert (s.first_start + s.length <= s.second_start).all(), "the copies must not overlap"
    assert (s.second_start + s.length <= n_ctx).all()
    assert torch.isin(s.tokens, vocab).all()
    for row, a, b, n in zip(s.tokens, s.first_start.tolist(), s.second_start.tolist(), s.length.tolist()):
        assert torch.equal(row[a : a + n], row[b : b + n])


@settings(max_examples=80, deadline=None)
@given(
    batch=st.integers(1, 8),
    n_ctx=st.integers(2, 80),
    span=st.data(),
    vocab_size=st.integers(1, 50),
    seed=st.integers(0, 2**32),
)
def test_span_invariants(batch, n_ctx, span, vocab_size, seed):
    span_max = span.draw(st.integers(1, n_ctx // 2))
    span_min = span.draw(st.integers(1, span_max))
    vocab = torch.arange(100, 100 + vocab_size)
    s = _spans(batch=batch, n_ctx=n_ctx, vocab=vocab, span_min=span_min, span_max=span_max, seed=seed)
    _check_invariants(s, batch=batch, n_ctx=n_ctx, vocab=vocab, span_min=span_min, span_max=span_max)


def test_spans_vary_across_rows():
    # A fixed period or offset teaches a positional shortcut instead of induction (DESIGN.md).
    s = _spans()
    assert len(s.length.unique()) > 10
    assert len(s.first_start.unique()) > 10
    assert len((s.second_start - s.first_start).unique()) > 10


def test_every_placement_is_reachable():
    # n_ctx 8, span 2: the first copy starts at 0..4, the second 2..6, never overlapping: 15 placements.
    s = _spans(batch=2000, n_ctx=8, span_min=2, span_max=2)
    seen = set(zip(s.first_start.tolist(), s.second_start.tolist()))
    assert seen == {(a, b) for a in range(5) for b in range(a + 2, 7)}


def test_spans_are_deterministic():
    a, b, c = _spans(seed=1), _spans(seed=1), _spans(seed=2)
    for field in ("tokens", "first_start", "second_start", "length"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.tokens, c.tokens)


def test_spans_fill_from_given_vocab_only():
    vocab = torch.tensor([5, 7, 11])
    s = _spans(vocab=vocab, n_ctx=32, span_min=2, span_max=16)
    assert set(s.tokens.unique().tolist()) == {5, 7, 11}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n_ctx=20, span_max=11), "span_max <= 10"),
        (dict(span_min=9, span_max=8), "span_max"),
        (dict(span_min=0), "span_min must be a positive"),
        (dict(batch=0), "batch must be a positive"),
        (dict(vocab=torch.tensor([], dtype=torch.long)), "non-empty 1-D"),
        (dict(vocab=torch.arange(6).reshape(2, 3)), "non-empty 1-D"),
        (dict(vocab=torch.rand(5)), "integer token ids"),
    ],
)
def test_span_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _spans(**kwargs)


def test_span_batch_is_fast():
    import time

    start = time.perf_counter()
    _spans(batch=4096, n_ctx=256, span_min=8, span_max=64)
    assert time.perf_counter() - start < 0.5  # vectorised: ~10 ms here


# --- repeated_random_tokens ----------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 6), vocab_size=st.integers(1, 40), data=st.data(), seed=st.integers(0, 2**32))
def test_repeated_random_tokens(batch, vocab_size, data, seed):
    half = data.draw(st.integers(1, vocab_size))
    vocab = torch.arange(3, 3 + vocab_size)
    g = torch.Generator().manual_seed(seed)
    tokens = repeated_random_tokens(batch=batch, half=half, vocab=vocab, generator=g, bos=0)
    assert isinstance(tokens, Int[Tensor, "batch pos"]) and tokens.shape == (batch, 1 + 2 * half)
    assert (tokens[:, 0] == 0).all()
    first, second = tokens[:, 1 : 1 + half], tokens[:, 1 + half :]
    assert torch.equal(first, second)
    assert torch.isin(first, vocab).all()
    for row in first:
        assert len(row.unique()) == half, "a half must not repeat a token"


def test_repeated_random_tokens_without_bos_and_determinism():
    kwargs = dict(batch=4, half=10, vocab=torch.arange(50))
    a = repeated_random_tokens(**kwargs, generator=torch.Generator().manual_seed(0))
    b = repeated_random_tokens(**kwargs, generator=torch.Generator().manual_seed(0))
    assert a.shape == (4, 20) and torch.equal(a, b)
    assert not torch.equal(a[0], a[1])  # rows are drawn independently


def test_repeated_random_tokens_errors():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="half=11 distinct tokens cannot be drawn from a vocab of 10"):
        repeated_random_tokens(batch=1, half=11, vocab=torch.arange(10), generator=g)
    with pytest.raises(ValueError, match="half must be a positive"):
        repeated_random_tokens(batch=1, half=0, vocab=torch.arange(10), generator=g)


# --- repeated_tokens_dataset ---------------------------------------------------------------------


def test_repeated_tokens_dataset():
    kwargs = dict(n=50, n_ctx=64, vocab_size=16, span_min=4, span_max=20)
    ds = repeated_tokens_dataset(**kwargs, seed=3)
    assert len(ds) == 50 and ds.column_names == ["tokens", "first_start", "second_start", "length"]
    t = ds.with_format("torch")[:]
    s = RepeatedSpans(**{field: t[field] for field in ("tokens", "first_start", "second_start", "length")})
    _check_invariants(s, batch=50, n_ctx=64, vocab=torch.arange(16), span_min=4, span_max=20)
    assert ds["tokens"] == repeated_tokens_dataset(**kwargs, seed=3)["tokens"]
    assert ds["tokens"] != repeated_tokens_dataset(**kwargs, seed=4)["tokens"]
    with pytest.raises(ValueError, match="vocab_size must be a positive"):
        repeated_tokens_dataset(**{**kwargs, "vocab_size": 0}, seed=0)


def test_annotations_hold_at_runtime():
    from beartype import beartype
    from jaxtyping import jaxtyped

    checked = jaxtyped(typechecker=beartype)(repeated_random_tokens)
    tokens = checked(batch=3, half=4, vocab=torch.arange(10), generator=torch.Generator().manual_seed(0))
    assert tokens.shape == (3, 8)
