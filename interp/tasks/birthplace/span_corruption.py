"""Character-level span corruption (the minGPT birthplace assignment's pretraining objective) and padded rows.

A document is truncated to a random length in [4, 7/8 * block_size], split into prefix + masked + suffix with
the masked span 1/4 of the truncated length on average, and rearranged as

    prefix MASK suffix MASK masked

then padded to block_size + 1 characters. Inputs are the padded string without its last character, targets
without its first; targets that are padding (or, for QA rows, the question) are ignored by the loss.

Padding goes on the right (as in minGPT) or on the left. Left padding puts the text's end, where the masked span
is, at the last positions — the only positions a PerceiverAR-style model predicts. (QA rows have their own
left layout, see `interp.tasks.birthplace.qa`.)

>>> import random
>>> c = span_corrupt("Ada was born in London.", block_size=32, rng=random.Random(0))
>>> c.prefix + c.masked + c.suffix == "Ada was born in London."[: len(c.document)]
True
>>> c.text.count(MASK_CHAR)
2
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from interp.core.errors import DataError
from interp.text.tokenizers import CharTokenizer

MASK_CHAR = "\u2047"  # ⁇, as in the assignment
PAD_CHAR = "\u25a1"  # □
IGNORE = -100  # target id the loss skips (torch's cross_entropy default ignore_index)
PAD_SIDES = ("left", "right")
MIN_LENGTH = 4


def char_vocabulary(text: str) -> CharTokenizer:
    """A char tokenizer with PAD (id 0) and MASK (id 1) followed by the sorted characters of `text`.

    >>> tok = char_vocabulary("ba")
    >>> tok.encode(PAD_CHAR + MASK_CHAR + "ab")
    [0, 1, 2, 3]
    """
    if PAD_CHAR in text or MASK_CHAR in text:
        raise DataError("the text already contains the pad or mask character; they must be reserved")
    return CharTokenizer(PAD_CHAR + MASK_CHAR + "".join(sorted(set(text))))


@dataclass(frozen=True)
class Corruption:
    """One corrupted document: the truncated document is prefix + masked + suffix."""

    prefix: str
    masked: str
    suffix: str

    @property
    def document(self) -> str:
        """The truncated document the corruption was made from."""
        return self.prefix + self.masked + self.suffix

    @property
    def text(self) -> str:
        """prefix MASK suffix MASK masked: what the model reads and predicts (before padding)."""
        return f"{self.prefix}{MASK_CHAR}{self.suffix}{MASK_CHAR}{self.masked}"


def span_corrupt(document: str, *, block_size: int, rng: random.Random) -> Corruption:
    """Truncate `document` to a random length and move a random span of it to the end (see module doc).

    The result's text has at most 7/8 * block_size + 2 characters, so it fits a row of block_size + 1.
    """
    longest = block_size * 7 // 8
    if longest < MIN_LENGTH:
        raise DataError(f"block_size={block_size} is too small for span corruption; use at least 8")
    if len(document) < MIN_LENGTH:
        raise DataError(f"documents must have at least {MIN_LENGTH} characters, got {document!r}")
    length = rng.randint(MIN_LENGTH, min(longest, len(document)))
    truncated = document[:length]
    # Uniform on [1, length/2]: a quarter of the truncated document on average, never empty.
    masked_length = rng.randint(1, max(1, length // 2))
    start = rng.randint(0, length - masked_length)
    end = start + masked_length
    return Corruption(prefix=truncated[:start], masked=truncated[start:end], suffix=truncated[end:])


def pad_text(text: str, length: int, *, side: str = "right") -> str:
    """`text` padded with PAD_CHAR to exactly `length` characters, on the given side."""
    if side not in PAD_SIDES:
        raise DataError(f"pad side must be one of {PAD_SIDES}, got {side!r}")
    if len(text) > length:
        raise DataError(f"a text of {len(text)} characters does not fit a row of {length}; raise block_size")
    padding = PAD_CHAR * (length - len(text))
    return text + padding if side == "right" else padding + text


@dataclass(frozen=True)
class Rows:
    """Model inputs and next-character targets; targets equal to IGNORE carry no loss."""

    inputs: Int[Tensor, "batch pos"]
    targets: Int[Tensor, "batch pos"]

    def __len__(self) -> int:
        return self.inputs.shape[0]


def place_text(text: str, length: int, offset: int) -> str:
    """`text` starting at index `offset` of a row of `length` characters, padded on both sides."""
    if offset < 0 or offset + len(text) > length:
        raise DataError(f"a text of {len(text)} characters at offset {offset} does not fit a row of {length}; raise block_size")
    return PAD_CHAR * offset + text + PAD_CHAR * (length - offset - len(text))


def encode_rows(
    texts: Sequence[str],
    tokenizer: CharTokenizer,
    *,
    block_size: int,
    side: str = "right",
    score_from: Sequence[int] | None = None,
    offsets: Sequence[int] | None = None,
) -> Rows:
    """Pad each text to block_size + 1 characters and split it into inputs and targets.

    A text starts at index 0 of its row (side="right"), ends at the row's end (side="left"), or starts at its
    entry of `offsets`. Targets that are padding are ignored; with `score_from`, so are targets before that
    index of each text (a QA row scores only its answer).
    """
    if not texts:
        raise DataError("no texts to encode")
    if side not in PAD_SIDES:
        raise DataError(f"pad side must be one of {PAD_SIDES}, got {side!r}")
    width = block_size + 1
    starts = [0] * len(texts) if score_from is None else list(score_from)
    if offsets is None:
        offsets = [0 if side == "right" else width - len(t) for t in texts]
    if not len(starts) == len(offsets) == len(texts):
        raise DataError(f"score_from / offsets need one entry per text ({len(texts)})")
    ids = torch.tensor([tokenizer.encode(place_text(t, width, o)) for t, o in zip(texts, offsets)], dtype=torch.long)
    # Character index (within its text) of every padded position; pads fall outside [0, len(text)).
    lengths = torch.tensor([len(t) for t in texts]).unsqueeze(1)
    char_index = torch.arange(width).unsqueeze(0) - torch.tensor(list(offsets)).unsqueeze(1)
    scored = (char_index >= torch.tensor(starts).unsqueeze(1)) & (char_index < lengths)
    targets = torch.where(scored[:, 1:], ids[:, 1:], torch.full_like(ids[:, 1:], IGNORE))
    return Rows(inputs=ids[:, :-1], targets=targets)


def span_corruption_rows(
    documents: Sequence[str],
    tokenizer: CharTokenizer,
    *,
    block_size: int,
    rng: random.Random,
    side: str = "right",
) -> Rows:
    """One freshly corrupted row per document (the rng decides truncation and span)."""
    texts = [span_corrupt(d, block_size=block_size, rng=rng).text for d in documents]
    return encode_rows(texts, tokenizer, block_size=block_size, side=side)
