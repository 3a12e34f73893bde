import random
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from interp.core.errors import DataError
from interp.tasks.birthplace.qa import answer_from, qa_rows
from interp.tasks.birthplace.span_corruption import (
    IGNORE,
    MASK_CHAR,
    PAD_CHAR,
    char_vocabulary,
    encode_rows,
    pad_text,
    span_corrupt,
    span_corruption_rows,
)

ALPHABET = "abcdefghij XYZ.,()0123"
TOKENIZER = char_vocabulary(ALPHABET)


@settings(max_examples=200, deadline=None)
@given(
    document=st.text(alphabet=ALPHABET, min_size=4, max_size=200),
    block_size=st.integers(8, 160),
    seed=st.integers(0, 2**32 - 1),
)
def test_span_corruption_keeps_every_character_of_the_truncated_document(document, block_size, seed):
    c = span_corrupt(document, block_size=block_size, rng=random.Random(seed))
    truncated = c.document
    assert document.startswith(truncated)
    assert 4 <= len(truncated) <= min(len(document), block_size * 7 // 8)
    assert 1 <= len(c.masked) <= max(1, len(truncated) // 2)
    # prefix MASK suffix MASK masked: the same characters, two masks, and nothing else
    assert c.text == c.prefix + MASK_CHAR + c.suffix + MASK_CHAR + c.masked
    assert Counter(c.text.replace(MASK_CHAR, "")) == Counter(truncated)
    assert c.text.count(MASK_CHAR) == 2
    row = pad_text(c.text, block_size + 1, side="right")
    assert len(row) == block_size + 1 and row.rstrip(PAD_CHAR) == c.text


def test_masked_span_is_a_quarter_of_the_document_on_average():
    rng = random.Random(0)
    ratios = []
    for _ in range(3000):
        c = span_corrupt("x" * 500, block_size=128, rng=rng)
        ratios.append(len(c.masked) / len(c.document))
    assert 0.2 < sum(ratios) / len(ratios) < 0.3


@pytest.mark.parametrize("side", ["left", "right"])
def test_rows_shift_by_one_and_ignore_padding(side):
    rows = span_corruption_rows(["abc def ghij", "XYZ.0123 (ab)"], TOKENIZER, block_size=16, rng=random.Random(1), side=side)
    assert rows.inputs.shape == rows.targets.shape == (2, 16)
    pad = TOKENIZER.encode(PAD_CHAR)[0]
    last = rows.targets[:, -1:].masked_fill(rows.targets[:, -1:] == IGNORE, pad)  # an ignored last target is a pad
    full = torch.cat([rows.inputs, last], dim=1)
    scored = rows.targets != IGNORE
    assert torch.equal(rows.targets[scored], full[:, 1:][scored])
    assert (full[:, 1:][~scored] == pad).all()
    if side == "left":
        assert rows.targets[:, -1].ne(IGNORE).all() and rows.inputs[:, 0].eq(pad).all()


def test_qa_rows_score_only_the_answer():
    pairs = [("Where was Ada born?", "Paris"), ("Where was Bo born?", "Rome")]
    tok = char_vocabulary("".join(q + a for q, a in pairs))
    for side in ("left", "right"):
        rows = qa_rows(pairs, tok, block_size=40, side=side)
        answers = [tok.decode([t for t in row.tolist() if t != IGNORE]) for row in rows.targets]
        assert answers == ["Paris" + MASK_CHAR, "Rome" + MASK_CHAR]
    assert answer_from("Rome" + MASK_CHAR + "junk") == "Rome"


def test_errors_are_one_line_data_errors():
    with pytest.raises(DataError):
        span_corrupt("abc", block_size=64, rng=random.Random(0))
    with pytest.raises(DataError):
        span_corrupt("abcdef", block_size=4, rng=random.Random(0))
    with pytest.raises(DataError):
        pad_text("abcdef", 3)
    with pytest.raises(DataError):
        char_vocabulary("ab" + MASK_CHAR)
    with pytest.raises(DataError):
        encode_rows(["ab"], TOKENIZER, block_size=8, side="middle")
