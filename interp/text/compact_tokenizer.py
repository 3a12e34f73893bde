"""A GPT-2 or BERT tokenizer restricted to the ids a corpus uses, renumbered 0..n-1 (in base-id order).

A small model over the full GPT-2 (50257) or BERT (30522) vocabulary spends most of a CPU step in the
unembedding, and most of those rows are never trained. Compacting keeps only the base ids that occur in the
corpus (plus the base tokenizer's BOS/EOS when asked), so embedding and unembedding shrink to what is used.
Encoding is the base tokenizer's followed by a lookup; text needing a base token outside the set is a DataError.
`to_dict()` stores the base ids (key "<base>_ids"), so a checkpoint's tokenizer is rebuilt exactly by
`interp.text.tokenizers.tokenizer_from_dict`.

>>> tok = CompactTokenizer.from_texts("gpt2", [" James and John"])
>>> tok.kind, tok.vocab_size, tok.encode(" John and James"), tok.decode(tok.encode(" John"))
('gpt2-compact', 3, [1, 0, 2], ' John')
>>> tok.to_dict()
{'kind': 'gpt2-compact', 'base': 'gpt2', 'gpt2_ids': [290, 1757, 3700]}
"""

from collections.abc import Iterable, Sequence

import numpy as np

from interp.core.errors import DataError
from interp.text.tokenizers import Tokenizer, load_tokenizer

BASE_KINDS: tuple[str, ...] = ("gpt2", "bert")
COMPACT_SUFFIX = "-compact"


class CompactTokenizer(Tokenizer):
    """`base` ("gpt2" or "bert") restricted to `base_ids`, renumbered 0..n-1 in base-id order."""

    def __init__(self, base: str, base_ids: Iterable[int]):
        if base not in BASE_KINDS:
            raise DataError(f"a compact tokenizer's base must be one of {BASE_KINDS}, got {base!r}")
        ids = sorted({int(i) for i in base_ids})
        self._base = load_tokenizer(base)
        if not ids:
            raise DataError(f"a compact {base} tokenizer needs at least one {base} id")
        if ids[0] < 0 or ids[-1] >= self._base.vocab_size:
            raise DataError(f"{base} ids must be in [0, {self._base.vocab_size}), got {ids[0]}..{ids[-1]}")
        self.base_kind = base
        self.kind = base + COMPACT_SUFFIX
        self.base_ids = tuple(ids)
        self._to_compact = np.full(self._base.vocab_size, -1, dtype=np.int64)
        self._to_compact[ids] = np.arange(len(ids))
        self._to_base = np.asarray(ids, dtype=np.int64)
        self.bos_token_id = self._mapped(self._base.bos_token_id)
        self.eos_token_id = self._mapped(self._base.eos_token_id)

    def _mapped(self, base_id: int | None) -> int | None:
        if base_id is None:
            return None
        compact = int(self._to_compact[base_id])
        return compact if compact >= 0 else None

    @classmethod
    def from_texts(cls, base: str, texts: Iterable[str], *, with_special: bool = False) -> "CompactTokenizer":
        """The compact tokenizer covering every base token of `texts` (and the base BOS/EOS if `with_special`)."""
        tokenizer = load_tokenizer(base)
        arrays = tokenizer.encode_batch(list(texts))
        ids = set(np.unique(np.concatenate(arrays)).tolist()) if arrays else set()
        if with_special:
            ids |= {i for i in (tokenizer.bos_token_id, tokenizer.eos_token_id) if i is not None}
        return cls(base, ids)

    @classmethod
    def from_dict(cls, d: dict) -> "CompactTokenizer":
        base = d.get("base") if isinstance(d, dict) else None
        if base not in BASE_KINDS or d.get("kind") != base + COMPACT_SUFFIX or f"{base}_ids" not in d:
            raise DataError(f"not a compact tokenizer dict ({d!r:.80}); it must come from CompactTokenizer.to_dict()")
        return cls(base, d[f"{base}_ids"])

    @property
    def vocab_size(self) -> int:
        return len(self.base_ids)

    def to_compact_array(self, base_ids) -> np.ndarray:
        """Base ids (any shape) -> compact ids of the same shape; an id outside the set is a DataError naming it."""
        arr = np.asarray(base_ids, dtype=np.int64)
        if arr.size and (arr.min() < 0 or arr.max() >= len(self._to_compact)):
            raise DataError(f"{self.base_kind} ids must be in [0, {len(self._to_compact)}), got {arr.min()}..{arr.max()}")
        out = self._to_compact[arr]
        if arr.size and (out < 0).any():
            missing = sorted(set(arr[out < 0].tolist()))
            shown = self._base.token_strings(missing[:10])
            raise DataError(
                f"tokens {shown} ({len(missing)} distinct) are not in this compact vocabulary ({self.vocab_size} "
                "tokens); use text from the corpus it was built from, or build it from more text"
            )
        return out

    def to_compact(self, base_ids: Sequence[int]) -> list[int]:
        return self.to_compact_array(np.asarray(base_ids, dtype=np.int64).reshape(-1)).tolist()

    def to_base(self, ids: Sequence[int]) -> list[int]:
        arr = np.asarray(ids, dtype=np.int64).reshape(-1)
        if arr.size and (arr.min() < 0 or arr.max() >= self.vocab_size):
            raise DataError(f"token ids must be in [0, {self.vocab_size}) for this compact tokenizer; got {arr.min()}..{arr.max()}")
        return self._to_base[arr].tolist()

    def encode(self, text: str) -> list[int]:
        return self.to_compact(self._base.encode(text))

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.to_compact_array(ids) for ids in self._base.encode_batch(texts)]

    def decode(self, ids: Sequence[int]) -> str:
        return self._base.decode(self.to_base(ids))

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        return self._base.token_strings(self.to_base(ids))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "base": self.base_kind, f"{self.base_kind}_ids": list(self.base_ids)}


def compact_packed(base: str, packed, tokenizer: Tokenizer | None = None):
    """Rows packed with the `base` tokenizer -> (compact tokenizer, the same rows in compact ids).

    Without `tokenizer`, the compact vocabulary is every id in the train and val rows plus the base BOS/EOS; a
    given `tokenizer` (e.g. a checkpoint's) must be a compact tokenizer over `base` that covers the rows.

    >>> import torch
    >>> from interp.text.packing import PackedTokens
    >>> tok, rows = compact_packed("gpt2", PackedTokens(train=torch.tensor([[262, 995]]), val=torch.tensor([[995, 262]])))
    >>> tok.vocab_size, rows.train.tolist(), rows.val.tolist()     # the ids of " the", " world" and <|endoftext|>
    (3, [[0, 1]], [[1, 0]])
    """
    import torch

    from interp.text.packing import PackedTokens

    if tokenizer is None:
        ids = torch.cat([packed.train.flatten(), packed.val.flatten()]).unique().tolist()
        base_tokenizer = load_tokenizer(base)
        special = {i for i in (base_tokenizer.bos_token_id, base_tokenizer.eos_token_id) if i is not None}
        tokenizer = CompactTokenizer(base, set(ids) | special)
    if not isinstance(tokenizer, CompactTokenizer) or tokenizer.base_kind != base:
        raise DataError(f"data.compact_vocab needs a compact {base} tokenizer, got {tokenizer!r}; retrain, or set data.compact_vocab = false")

    def remap(rows):
        return torch.from_numpy(tokenizer.to_compact_array(rows.numpy()))

    return tokenizer, PackedTokens(train=remap(packed.train), val=remap(packed.val))
