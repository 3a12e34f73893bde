"""A researcher's own tokenizer: a HuggingFace `tokenizers` JSON file (`data.tokenizer = "file:PATH"`).

The file's whole JSON text is kept in the tokenizer (and so in `to_dict()`, which every run saves in run.json and
each checkpoint's training.json): `tokenizer_from_dict` rebuilds it without the file, so `interp sample`, reports
and every later command decode with it even after the file is moved or deleted.

The EOS (document separator) and BOS ids are the first added special token named like one ("<|endoftext|>",
"</s>", "<eos>", "[SEP]", ...; BOS: "<s>", "<bos>", "[CLS]", ... or the EOS "<|endoftext|>"); a tokenizer without
one separates documents with the text "\\n\\n", as the char tokenizer does.

>>> import tempfile
>>> from pathlib import Path
>>> from tokenizers import Tokenizer as Backend, models, pre_tokenizers
>>> backend = Backend(models.WordLevel({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
>>> backend.pre_tokenizer = pre_tokenizers.Whitespace()
>>> path = Path(tempfile.mkdtemp()) / "tokenizer.json"
>>> backend.save(str(path))
>>> tok = FileTokenizer.from_file(path)
>>> tok.encode("hello world"), tok.vocab_size, tok.unk_token_id
([1, 2], 3, 0)
>>> path.unlink()
>>> from interp.text.tokenizers import tokenizer_from_dict
>>> tokenizer_from_dict(tok.to_dict()).encode("world hello")
[2, 1]
"""

import functools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer as Backend

from interp.core.errors import DataError
from interp.text.tokenizer_base import Tokenizer

FILE_PREFIX = "file:"
KIND = "file"
_EOS_NAMES = ("<|endoftext|>", "</s>", "<eos>", "<|eos|>", "[EOS]", "<|end_of_text|>", "[SEP]")
_BOS_NAMES = ("<s>", "<bos>", "<|bos|>", "[BOS]", "<|begin_of_text|>", "<|startoftext|>", "[CLS]", "<|endoftext|>")
MAX_UNKNOWN = 0.01  # a tokenizer "covers" text when at most this fraction of its non-space characters is lost


class FileTokenizer(Tokenizer):
    """A `tokenizers.Tokenizer` read from its JSON text; `source` is the path it came from (informational only)."""

    kind = KIND

    def __init__(self, json_text: str, *, source: str = ""):
        try:
            self._backend = _backend(json_text)
        except Exception as error:  # the Rust parser raises a bare Exception with a serde message
            where = f" {source}" if source else ""
            raise DataError(
                f"tokenizer file{where} is not a HuggingFace tokenizers JSON ({_first_line(error)}); "
                "save one with tokenizers.Tokenizer.save(path)"
            ) from None
        self.json_text = json_text
        self.source = source
        special = {t.content: i for i, t in sorted(self._backend.get_added_tokens_decoder().items()) if t.special}
        self.eos_token_id = next((special[name] for name in _EOS_NAMES if name in special), None)
        self.bos_token_id = next((special[name] for name in _BOS_NAMES if name in special), None)
        self.unk_token_id = _unk_id(json.loads(json_text), self._backend)

    @classmethod
    def from_file(cls, path: Path | str) -> "FileTokenizer":
        """Read a tokenizer JSON file (what `tokenizers.Tokenizer.save` writes)."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"tokenizer file {path} does not exist; data.tokenizer = 'file:PATH' needs a tokenizers JSON file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise DataError(f"cannot read tokenizer file {path} ({_first_line(error)}); it must be a UTF-8 JSON file") from None
        return cls(text, source=str(path))

    @classmethod
    def from_dict(cls, d: dict) -> "FileTokenizer":
        if not isinstance(d, dict) or d.get("kind") != KIND or not isinstance(d.get("json"), str):
            raise DataError(f"not a file tokenizer dict ({d!r:.80}); it must come from FileTokenizer.to_dict()")
        return cls(d["json"], source=str(d.get("source", "")))

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        return self._backend.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        encodings = self._encode_all(texts)
        return [np.asarray(e.ids, dtype=np.int64) for e in encodings]

    def _encode_all(self, texts: Sequence[str]):
        try:
            return self._backend.encode_batch(list(texts), add_special_tokens=False)
        except Exception as error:  # e.g. a WordLevel model without an unk token meeting an unknown word
            raise DataError(
                f"tokenizer {self.source or '(from dict)'} cannot encode the corpus ({_first_line(error)}); "
                "give it an unk token or train it on this corpus"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        return self._backend.decode(_int_list(ids), skip_special_tokens=False)

    def token_strings(self, ids: Sequence[int]) -> list[str]:
        return self._backend.decode_batch([[i] for i in _int_list(ids)], skip_special_tokens=False)

    def to_dict(self) -> dict:
        return {"kind": KIND, "source": self.source, "json": self.json_text}

    def check_covers(self, texts: Sequence[str], *, max_unknown: float = MAX_UNKNOWN) -> None:
        """DataError unless the tokenizer keeps (as tokens other than unk) all but `max_unknown` of the non-space
        characters of `texts`: a BPE without the corpus's characters drops them, a WordLevel maps words to unk.

        Characters are kept when some non-unk token's offsets cover them; whitespace is not counted (whitespace
        pre-tokenizers drop it by design)."""
        total, lost, examples = 0, 0, []
        for text, encoding in zip(texts, self._encode_all(texts)):
            ids, offsets = np.asarray(encoding.ids, dtype=np.int64), np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
            if ids.size and ids.max() >= self.vocab_size:
                raise DataError(f"tokenizer {self.source} produced id {ids.max()} >= its vocabulary size {self.vocab_size}")
            kept = np.zeros(len(text) + 1, dtype=np.int64)  # +1 at each kept token's start, -1 at its end
            known = offsets[ids != self.unk_token_id] if self.unk_token_id is not None else offsets
            np.add.at(kept, known[:, 0], 1)
            np.add.at(kept, known[:, 1], -1)
            covered = np.cumsum(kept)[: len(text)] > 0
            visible = ~np.char.isspace(np.array(list(text), dtype="<U1")) if text else np.zeros(0, dtype=bool)
            missing = visible & ~covered
            total, lost = total + int(visible.sum()), lost + int(missing.sum())
            if missing.any() and len(examples) < 10:
                examples += sorted({text[i] for i in np.flatnonzero(missing)[:200]})[: 10 - len(examples)]
        if total and lost / total > max_unknown:
            raise DataError(
                f"tokenizer {self.source or '(from dict)'} does not cover the corpus: {lost / total:.1%} of its characters "
                f"become the unk token or nothing (e.g. {''.join(examples)!r}); train the tokenizer on this corpus"
            )

    def __repr__(self) -> str:
        return f"FileTokenizer(source={self.source!r}, vocab_size={self.vocab_size})"


def load_file_tokenizer(spec: str) -> FileTokenizer:
    """`"file:PATH"` (the value of `data.tokenizer`) -> the tokenizer in that file."""
    if not spec.startswith(FILE_PREFIX) or not spec[len(FILE_PREFIX) :]:
        raise DataError(f"a tokenizer file is given as 'file:PATH', got {spec!r}")
    return FileTokenizer.from_file(Path(spec[len(FILE_PREFIX) :]).expanduser())


@functools.lru_cache(maxsize=4)
def _backend(json_text: str) -> Backend:
    # Parsing a large vocabulary takes a while; runs and workers rebuild the same tokenizer many times.
    return Backend.from_str(json_text)


def _unk_id(description: dict, backend: Backend) -> int | None:
    model = description.get("model") if isinstance(description, dict) else None
    if not isinstance(model, dict):
        return None
    if isinstance(model.get("unk_id"), int):  # Unigram
        return model["unk_id"]
    token = model.get("unk_token")
    return backend.token_to_id(token) if isinstance(token, str) else None


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:200]


def _int_list(ids: Sequence[int]) -> list[int]:
    return np.asarray(ids, dtype=np.int64).reshape(-1).tolist()
