"""Training batches as a pure function of (seed, step), so a resumed run sees exactly the same data.

>>> data = TrainingData.prepare(run_config, cache_dir=Path("models/cache"))   # doctest: +SKIP
>>> data.batch(step=0).shape                                                 # doctest: +SKIP
torch.Size([64, 64])
"""

import string
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from interp.train.config import RunConfig
from interp.text.corpora import load_corpus
from interp.text.packing import PackedTokens, pack
from interp.text.synthetic import repeated_span_batch
from interp.text.tokenizers import CharTokenizer, Tokenizer, load_tokenizer

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
        """Load the tokenizer and corpus named by `run.data` and pack it into n_ctx rows (cached on disk)."""
        data = run.data
        packed = None
        if data.corpus == "ioi":  # generated IOI sentences (interp.tasks.ioi.prompts), not a packed text corpus
            from interp.tasks.ioi.training_data import IOITrainingData

            return IOITrainingData.prepare(run, cache_dir=cache_dir, tokenizer=tokenizer)
        if data.corpus == "none":
            tokenizer = tokenizer or (
                CharTokenizer(SYNTHETIC_ALPHABET) if data.tokenizer == "char" else load_tokenizer(data.tokenizer)
            )
        elif data.compact_vocab:  # pack with the full tokenizer (cached), then keep only the ids the corpus uses
            from interp.text.compact_tokenizer import compact_packed

            corpus = load_corpus(data.corpus, max_documents=data.max_documents)
            full = pack(corpus, load_tokenizer(data.tokenizer), n_ctx=run.model.n_ctx, val_fraction=data.val_fraction, cache_dir=cache_dir)
            tokenizer, packed = compact_packed(data.tokenizer, full, tokenizer)
        else:
            corpus = load_corpus(data.corpus, max_documents=data.max_documents)
            if tokenizer is None:
                text = "\n\n".join(corpus["text"]) if data.tokenizer == "char" else None
                tokenizer = load_tokenizer(data.tokenizer, text=text)
            packed = pack(corpus, tokenizer, n_ctx=run.model.n_ctx, val_fraction=data.val_fraction, cache_dir=cache_dir)
        if packed is not None and data.tokenizer != "char":
            # Only tokens the corpus uses: the rest of a 50k vocabulary would never be trained as inputs.
            vocab = torch.unique(packed.train)
        else:
            vocab = torch.arange(tokenizer.vocab_size)
        return cls(run=run, tokenizer=tokenizer, packed=packed, synthetic_vocab=vocab)

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
            out["val"] = [
                rows[(torch.arange(cfg.batch_size) + i * cfg.batch_size) % len(rows)] for i in range(cfg.eval_batches)
            ]
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
