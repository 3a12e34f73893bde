"""The data config: `DataConfig`, what a run is trained on (corpus, tokenizer, synthetic repeated spans)."""

from dataclasses import dataclass

from interp.core.config import fraction, is_int, one_of, positive_int, require

TOKENIZERS = ("char", "gpt2", "bert")
TOKENIZER_FILE_PREFIX = "file:"  # data.tokenizer = "file:PATH": a HuggingFace tokenizers JSON (interp.text.file_tokenizer)


def compact_vocab_refusal(data: "DataConfig") -> str:
    """The one-line reason `data.compact_vocab = true` does not fit `data`; a data source whose corpus is not
    packed text (e.g. "ioi", `interp.tasks.ioi.source`) refuses the option with the same words."""
    return (
        "data.compact_vocab = true keeps the GPT-2/BERT ids a text corpus uses: it needs data.tokenizer = 'gpt2' "
        f"or 'bert' and a text corpus (got tokenizer {data.tokenizer!r}, corpus {data.corpus!r})"
    )


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """What the model is trained on.

    Each batch holds `repeated_fraction` synthetic sequences (random tokens from the tokenizer's vocabulary with
    one span repeated at a random offset — the data that makes induction heads form quickly) and the rest are
    rows of the packed `corpus`. `corpus = "none"` trains on synthetic sequences alone. `corpus` may also be a
    corpus of one's own (`interp.text.user_corpus`): a text file, a folder of text files, a JSONL/Parquet/CSV file
    or a `datasets.save_to_disk` folder whose `text_field` column holds the documents, or "hf:NAME" (the hub).
    `tokenizer` is "char", "gpt2", "bert" or "file:PATH" (a HuggingFace tokenizers JSON, saved with the run).
    `compact_vocab = true` (GPT-2/BERT only) keeps just the token ids the corpus uses, renumbered and saved
    with the run (`interp.text.tokenizers.CompactTokenizer`): a far smaller embedding and unembedding on a CPU.
    `ioi_extra_names` is an option of the "ioi" data source, which gives it its meaning and refuses it under
    other corpora (`interp.tasks.ioi.source`); it stays a field here so that every run.json reads back. That
    source also refuses `compact_vocab` (its sentences are not a packed text corpus).
    """

    corpus: str = "shakespeare"
    tokenizer: str = "char"
    repeated_fraction: float = 0.0
    span_min: int = 8
    span_max: int = 32
    val_fraction: float = 0.05
    max_documents: int | None = None
    compact_vocab: bool = False
    ioi_extra_names: int = 0
    text_field: str = "text"

    def __post_init__(self) -> None:
        require(
            isinstance(self.corpus, str) and bool(self.corpus),
            f"data.corpus must be a corpus name such as 'shakespeare', or 'none'; got {self.corpus!r}",
        )
        if not (isinstance(self.tokenizer, str) and self.tokenizer.startswith(TOKENIZER_FILE_PREFIX)):
            one_of(self, "tokenizer", TOKENIZERS)
        require(
            self.tokenizer != TOKENIZER_FILE_PREFIX,
            "data.tokenizer = 'file:PATH' needs the path of a tokenizers JSON file after 'file:'",
        )
        require(
            isinstance(self.text_field, str) and bool(self.text_field),
            f"data.text_field must be the name of a text column, got {self.text_field!r}",
        )
        fraction(self, "repeated_fraction")
        fraction(self, "val_fraction", low_open=True, high_open=True)
        positive_int(self, "span_min", "span_max")
        require(self.span_min <= self.span_max, f"data.span_min ({self.span_min}) must be <= data.span_max ({self.span_max})")
        require(
            self.corpus != "none" or self.repeated_fraction == 1.0,
            "data.corpus = 'none' needs data.repeated_fraction = 1.0 (nothing else to train on)",
        )
        if self.max_documents is not None:
            positive_int(self, "max_documents")
        require(isinstance(self.compact_vocab, bool), f"data.compact_vocab must be true or false, got {self.compact_vocab!r}")
        require(
            is_int(self.ioi_extra_names) and self.ioi_extra_names >= 0,
            f"data.ioi_extra_names must be an integer >= 0, got {self.ioi_extra_names!r}",
        )
        # Generic checks only: "none" is this config's own corpus; a registered source that is not packed text
        # refuses compact_vocab itself (`interp.train.data_sources.check_data`).
        require(
            not self.compact_vocab or (self.tokenizer in ("gpt2", "bert") and self.corpus != "none"),
            compact_vocab_refusal(self),
        )
