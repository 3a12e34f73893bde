"""GPT-2 encoding for large corpora: GPT-2's pre-tokenizer regex in Python, each distinct word encoded once.

The `tokenizers` backend spends most of its time in its ByteLevel pre-tokenizer; splitting with the same pattern
(the `regex` module, which has \\p{L} and \\p{N}) and encoding only the words not seen before (a bounded cache per
process) gives the same ids several times faster on natural text, where words repeat. A literal "<|endoftext|>" is
the special token 50256, as in the backend. Used by `interp.text.token_file` for the "gpt2" tokenizer; without the
`regex` module it falls back to the backend.

>>> from interp.text.tokenizers import load_tokenizer
>>> gpt2 = load_tokenizer("gpt2")
>>> text = "Hello world!\\n\\n  It's 2024<|endoftext|>ünï"
>>> [ids.tolist() for ids in CachedGPT2(gpt2).encode_batch([text])] == [gpt2.encode(text)]
True
"""

from collections.abc import Sequence
from itertools import chain

import numpy as np

from interp.text.tokenizers import GPT2Tokenizer

try:
    import regex
except ImportError:  # pragma: no cover - regex comes with transformers
    regex = None

END_OF_TEXT = "<|endoftext|>"
# GPT-2's own pattern (openai/gpt-2 encoder.py), as the ByteLevel pre-tokenizer applies it
_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""") if regex else None
MAX_CACHED_WORDS = 1_000_000


class CachedGPT2:
    """`encode_batch` of `tokenizer` (GPT-2) through a word cache; the ids are the backend's own."""

    def __init__(self, tokenizer: GPT2Tokenizer):
        self._tokenizer = tokenizer
        self._cache: dict[str, list[int]] = {END_OF_TEXT: [tokenizer.eos_token_id]}

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        if _PATTERN is None:
            return self._tokenizer.encode_batch(texts)
        out = []
        for text in texts:
            words: list[str] = []
            for number, part in enumerate(text.split(END_OF_TEXT)):
                if number:
                    words.append(END_OF_TEXT)
                words += _PATTERN.findall(part)
            new = [w for w in dict.fromkeys(words) if w not in self._cache]
            if len(self._cache) + len(new) > MAX_CACHED_WORDS:
                self._cache = {END_OF_TEXT: [self._tokenizer.eos_token_id]}
            for word, ids in zip(new, self._tokenizer.encode_batch(new)):
                self._cache[word] = ids.tolist()
            out.append(np.fromiter(chain.from_iterable(map(self._cache.__getitem__, words)), dtype=np.int64))
        return out
