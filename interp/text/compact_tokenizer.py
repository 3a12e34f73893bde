"""Packed rows in a compact vocabulary: GPT-2 or BERT ids remapped to the ones a corpus uses (`CompactTokenizer`).

>>> import torch
>>> tok, rows = compact_packed("gpt2", PackedTokens(train=torch.tensor([[262, 995]]), val=torch.tensor([[995, 262]])))
>>> tok.kind, tok.vocab_size
('gpt2-compact', 3)
"""

import torch

from interp.core.errors import DataError
from interp.text.packing import PackedTokens
from interp.text.tokenizers import CompactTokenizer, Tokenizer, load_tokenizer


def compact_packed(base: str, packed: PackedTokens, tokenizer: Tokenizer | None = None) -> tuple[CompactTokenizer, PackedTokens]:
    """Rows packed with the `base` tokenizer -> (compact tokenizer, the same rows in compact ids).

    Without `tokenizer`, the compact vocabulary is every id in the train and val rows plus the base BOS/EOS; a
    given `tokenizer` (e.g. a checkpoint's) must be a compact tokenizer over `base` that covers the rows.

    >>> import torch
    >>> tok, rows = compact_packed("gpt2", PackedTokens(train=torch.tensor([[262, 995]]), val=torch.tensor([[995, 262]])))
    >>> tok.vocab_size, rows.train.tolist(), rows.val.tolist()     # the ids of " the", " world" and <|endoftext|>
    (3, [[0, 1]], [[1, 0]])
    """
    if tokenizer is None:
        ids = torch.cat([packed.train.flatten(), packed.val.flatten()]).unique().tolist()
        base_tokenizer = load_tokenizer(base)
        special = {i for i in (base_tokenizer.bos_token_id, base_tokenizer.eos_token_id) if i is not None}
        tokenizer = CompactTokenizer(base, set(ids) | special)
    if not isinstance(tokenizer, CompactTokenizer) or tokenizer.base_kind != base:
        raise DataError(
            f"data.compact_vocab needs a compact {base} tokenizer, got {tokenizer!r}; retrain, or set data.compact_vocab = false"
        )

    def remap(rows):
        return torch.from_numpy(tokenizer.to_compact_array(rows.numpy()))

    return tokenizer, PackedTokens(train=remap(packed.train), val=remap(packed.val))
