"""Training data for `data.corpus = "ioi"`: generated IOI and filler sentences, a pure function of (seed, step).

The "ioi" data source (`interp.tasks.ioi.source`) prepares IOI runs with `IOITrainingData.prepare`; the training
loop then calls `batch(step)` and `val_batches()` as for any corpus. The name/template split is the default
`IOISetup()` (seed 0) whatever the training seed, so runs with different seeds are evaluated on the same held-out
names and templates; `data.ioi_extra_names` only adds training names (`ioi_setup`).

>>> from interp.train.presets import run_config
>>> data = IOITrainingData.prepare(run_config("ioi-attn-only-3l"))
>>> data.batch(0).shape, data.vocab_size
(torch.Size([64, 26]), 429)
"""

from dataclasses import dataclass

import torch
from torch import Tensor

from interp.core.errors import ConfigError
from interp.tasks.ioi.prompts import IOICorpus, IOISetup, ioi_corpus, mix_seeds
from interp.text.config import DataConfig
from interp.text.tokenizers import Tokenizer
from interp.train.config import RunConfig
from interp.train.data import TrainingData

VAL_SEED = 999_331  # validation rows come from a generator no training step uses


def ioi_setup(data: DataConfig) -> IOISetup:
    """The IOI recipe a run's data config trains on."""
    return IOISetup(n_extra_train_names=data.ioi_extra_names)


@dataclass(frozen=True)
class IOITrainingData(TrainingData):
    """TrainingData whose rows are generated IOI/filler sentences instead of a packed corpus."""

    corpus: IOICorpus | None = None

    @classmethod
    def prepare(cls, run: RunConfig, *, cache_dir=None, tokenizer: Tokenizer | None = None) -> "IOITrainingData":
        data = run.data
        if data.tokenizer != "gpt2":
            raise ConfigError(
                f"data.corpus = 'ioi' uses GPT-2 BPE (compacted): set data.tokenizer = 'gpt2', not {data.tokenizer!r}"
            )
        if data.repeated_fraction != 0:
            raise ConfigError("data.corpus = 'ioi' has no repeated-span rows: set data.repeated_fraction = 0")
        corpus = ioi_corpus(ioi_setup(data))
        if tokenizer is not None and tokenizer.to_dict() != corpus.tokenizer.to_dict():
            raise ConfigError("the tokenizer given does not match the IOI corpus's compact tokenizer")
        return cls(
            run=run,
            tokenizer=corpus.tokenizer,
            packed=None,
            synthetic_vocab=torch.arange(corpus.tokenizer.vocab_size),
            corpus=corpus,
        )

    def batch(self, step: int) -> Tensor:
        return self.corpus.training_rows(
            self.run.train.batch_size, self.run.model.n_ctx, seed=mix_seeds(self.run.train.seed, step)
        )

    def val_batches(self) -> dict[str, list[Tensor]]:
        cfg = self.run.train
        return {
            "val": [
                self.corpus.training_rows(cfg.batch_size, self.run.model.n_ctx, seed=mix_seeds(VAL_SEED, i))
                for i in range(cfg.eval_batches)
            ]
        }
