"""The interface every tokenizer implements (`interp.text.tokenizers` has the built-in ones and the factories).

>>> from interp.text.tokenizers import load_tokenizer
>>> isinstance(load_tokenizer("gpt2"), Tokenizer)
True
"""

import abc
from collections.abc import Sequence

import numpy as np


class Tokenizer(abc.ABC):
    """Text <-> token ids. `encode` never adds special tokens; packing and models add BOS/EOS themselves."""

    kind: str
    bos_token_id: int | None
    eos_token_id: int | None

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int: ...

    @abc.abstractmethod
    def encode(self, text: str) -> list[int]: ...

    @abc.abstractmethod
    def decode(self, ids: Sequence[int]) -> str: ...

    @abc.abstractmethod
    def token_strings(self, ids: Sequence[int]) -> list[str]:
        """One display string per id, for attention plots and tables."""

    @abc.abstractmethod
    def to_dict(self) -> dict:
        """JSON-serialisable description; `tokenizer_from_dict` rebuilds an equal tokenizer from it."""

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Encode many texts at once (int64 arrays); subclasses override this with a fast path."""
        return [np.asarray(self.encode(t), dtype=np.int64) for t in texts]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(sorted(self.to_dict().items())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"
