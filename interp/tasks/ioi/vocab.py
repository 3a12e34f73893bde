"""IOI vocabulary: single-token first names from the census lists, and a compact GPT-2 tokenizer.

Names come from the `names` package's census files (`dist.male.first`, `dist.female.first`), most frequent
first, title-cased, and kept only when " Name" (with the leading space it has mid-sentence) is one GPT-2 token
and the name is not an ordinary English word (Will, May, Mark, Rose, ...): a word whose lower-case form is a
frequent GPT-2 token is dropped, as are the words in `NOT_NAMES`.

`CompactTokenizer` is GPT-2 BPE restricted to the few hundred GPT-2 tokens a generated corpus uses, renumbered
0..n-1 (in GPT-2 id order, so `<|endoftext|>` is last). A model over it has a small embedding and unembedding,
none of it untrained. Its `to_dict()` stores the GPT-2 ids, so a checkpoint's tokenizer is rebuilt exactly by
`CompactTokenizer.from_dict` (or `ioi_tokenizer_from_dict`, which also accepts the built-in kinds).

>>> names = census_names(limit=20)
>>> names[:3]
['James', 'John', 'Robert']
>>> tok = CompactTokenizer.from_texts([" James and John"])
>>> tok.vocab_size, tok.encode(" John and James"), tok.decode(tok.encode(" John"))
(3, [1, 0, 2], ' John')
"""

import functools
import importlib.resources
from collections.abc import Iterable, Sequence

from interp.core.errors import DataError
from interp.text.compact_tokenizer import CompactTokenizer as BaseCompactTokenizer
from interp.text.tokenizers import GPT2Tokenizer, Tokenizer, tokenizer_from_dict

COMPACT_KIND = "gpt2-compact"
GPT2_EOS = 50256
# A name whose lower-case form is a GPT-2 token below this id is a common word ("will" 481, "rose" 8278).
COMMON_WORD_ID = 30000
NOT_NAMES = frozenset(
    "Will May Mark Rose June April Hope Faith Joy Grace Art Bill Don Guy Ray Rich Sue Jack Dawn Summer Autumn "
    "Holly Ivy Iris Lily Daisy Violet Ruby Pearl Crystal Amber Jade Robin Drew Chase Hunter Gene Eve Sky Angel "
    "Page Rusty Sandy Misty Penny Candy Cherry Olive Fern Heather Harmony Destiny Precious Mercy Star Love King "
    "Major Royal Earl Duke Prince Sterling Price Miles Frank Bob Pat Carol Chance Christian Jean Young Jesus".split()
)


@functools.lru_cache(maxsize=4)
def census_names(limit: int = 240) -> list[str]:
    """The `limit` most frequent census first names (both lists merged by frequency) that are single GPT-2
    tokens with a leading space and not ordinary words. Deterministic: no randomness involved."""
    folder = importlib.resources.files("names")
    counted: dict[str, float] = {}
    for file in ("dist.male.first", "dist.female.first"):
        for line in (folder / file).read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                name = parts[0].title()
                counted[name] = max(counted.get(name, 0.0), float(parts[1]))
    gpt2 = GPT2Tokenizer()
    ranked = sorted(counted, key=lambda n: (-counted[n], n))
    kept: list[str] = []
    for name in ranked:
        if name in NOT_NAMES or not name.isalpha():
            continue
        if len(gpt2.encode(" " + name)) != 1:
            continue
        lower = gpt2.encode(" " + name.lower())
        if len(lower) == 1 and lower[0] < COMMON_WORD_ID:
            continue
        kept.append(name)
        if len(kept) == limit:
            break
    if len(kept) < limit:
        raise DataError(f"only {len(kept)} census names pass the single-token filter; ask for at most that many")
    return kept


class CompactTokenizer(BaseCompactTokenizer):
    """GPT-2 BPE restricted to a fixed set of GPT-2 ids, renumbered 0..n-1 in GPT-2 id order
    (`interp.text.compact_tokenizer.CompactTokenizer` with base "gpt2", under the names the IOI code uses).

    Text that needs a GPT-2 token outside the set is an error (the model has no embedding for it).
    """

    def __init__(self, gpt2_ids: Sequence[int]):
        super().__init__("gpt2", gpt2_ids)

    @property
    def gpt2_ids(self) -> tuple[int, ...]:
        return self.base_ids

    @classmethod
    def from_texts(cls, texts: Iterable[str], *, with_eos: bool = False) -> "CompactTokenizer":
        """The compact tokenizer covering every GPT-2 token of `texts` (plus `<|endoftext|>` if asked)."""
        base = GPT2Tokenizer()
        ids = {i for text in texts for i in base.encode(text)}
        if with_eos:
            ids.add(GPT2_EOS)
        return cls(sorted(ids))

    @classmethod
    def from_dict(cls, d: dict) -> "CompactTokenizer":
        if d.get("kind") != COMPACT_KIND or "gpt2_ids" not in d:
            raise DataError(
                f"not a compact tokenizer dict (kind {d.get('kind')!r}); it must come from CompactTokenizer.to_dict()"
            )
        return cls(d["gpt2_ids"])

    def to_gpt2(self, ids: Sequence[int]) -> list[int]:
        return self.to_base(ids)


def ioi_tokenizer_from_dict(d: dict) -> Tokenizer:
    """`interp.text.tokenizers.tokenizer_from_dict` that also rebuilds compact tokenizers (checkpoints of IOI runs).

    >>> ioi_tokenizer_from_dict({"kind": "gpt2-compact", "base": "gpt2", "gpt2_ids": [1757, 5335]}).encode(" Mary")
    [1]
    """
    if isinstance(d, dict) and d.get("kind") == COMPACT_KIND:
        return CompactTokenizer.from_dict(d)
    return tokenizer_from_dict(d)
