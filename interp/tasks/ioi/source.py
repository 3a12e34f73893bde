"""The "ioi" data source: generated IOI and filler sentences as training data (`data.corpus = "ioi"`).

`import interp.tasks` registers it with `interp.train.data_sources`. It owns `data.ioi_extra_names` (census names
added to the training names, `IOISetup.n_extra_train_names`; the held-out names and templates stay the same) and
refuses that option under any other corpus. This module is light: the sentence generator, torch and the GPT-2
BPE files load only when an IOI run prepares its data.

>>> IOI_SOURCE.name
'ioi'
"""

from pathlib import Path
from typing import TYPE_CHECKING

from interp.core.config import require
from interp.text.config import DataConfig, compact_vocab_refusal
from interp.train.data_sources import DataSource

if TYPE_CHECKING:  # annotations only: the tokenizers import numpy and the BPE library
    from interp.text.tokenizers import Tokenizer
    from interp.train.config import RunConfig


def check_ioi_options(data: DataConfig) -> None:
    """Refuse `data.ioi_extra_names` under a corpus other than "ioi" (it would silently mean nothing there), and
    `data.compact_vocab` under "ioi" (the generated sentences are not a packed text corpus to compact).

    >>> check_ioi_options(DataConfig(corpus="ioi", tokenizer="gpt2", compact_vocab=True))
    Traceback (most recent call last):
    interp.core.errors.ConfigError: data.compact_vocab = true keeps the GPT-2/BERT ids a text corpus uses: it needs data.tokenizer = 'gpt2' or 'bert' and a text corpus (got tokenizer 'gpt2', corpus 'ioi')
    """
    require(
        data.ioi_extra_names == 0 or data.corpus == "ioi",
        f"data.ioi_extra_names (more training names for data.corpus = 'ioi') must be 0 for other corpora; got {data.ioi_extra_names!r} with corpus {data.corpus!r}",
    )
    require(not (data.compact_vocab and data.corpus == "ioi"), compact_vocab_refusal(data))


def prepare_ioi(run: "RunConfig", *, cache_dir: Path | None = None, tokenizer: "Tokenizer | None" = None):
    """The run's `IOITrainingData` (`interp.tasks.ioi.training_data`)."""
    # Imported here, not at the top: registering the source must not load torch for `interp --help`.
    from interp.tasks.ioi.training_data import IOITrainingData

    return IOITrainingData.prepare(run, cache_dir=cache_dir, tokenizer=tokenizer)


IOI_SOURCE = DataSource(
    name="ioi", prepare=prepare_ioi, summary="generated IOI and filler sentences (interp.tasks.ioi)", check=check_ioi_options
)
