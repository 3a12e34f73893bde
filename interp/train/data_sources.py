"""The data-source registry: the names `data.corpus` may take, and how each one becomes training data.

Generic training (`interp.train.data.TrainingData.prepare`) looks `run.data.corpus` up here and knows nothing
about any particular source. The packaged text corpora ("shakespeare", "imdb", "prose") and "none" (synthetic
repeated spans only) register from `interp.train.data`, beside the code that packs them; a task registers its
own generator from its package (`import interp.tasks` registers "ioi"). Importing the package that defines a
source is all a user has to do: the CLI and `import interp` import `interp.tasks`.

Every other value that looks like a path, or "hf:NAME", goes to the one fallback source (`register_fallback`):
a corpus of one's own (`interp.text.user_corpus`), registered from `interp.train.data`.

A source may own options of `DataConfig` (e.g. `ioi_extra_names`): its `check` sees every data config, whatever
its corpus, so it can refuse its options under another corpus. This module imports nothing heavy, so a task can
register at import time without loading torch.

>>> def prepare_tiny(run, *, cache_dir=None, tokenizer=None):
...     raise NotImplementedError  # would return an interp.train.data.TrainingData
>>> register_source(DataSource(name="tiny-demo", prepare=prepare_tiny, summary="a demonstration"))
>>> data_source("tiny-demo").summary
'a demonstration'
>>> unregister_source("tiny-demo")
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from interp.core.errors import ConfigError
from interp.text.config import DataConfig


@dataclass(frozen=True)
class DataSource:
    """One value of `data.corpus`.

    `prepare(run, *, cache_dir, tokenizer)` returns the run's `TrainingData` (or a subclass with its own
    `batch(step)` and `val_batches()`); `check(data)`, if given, is called on every data config and raises
    `ConfigError` for options of this source that the config cannot use.
    """

    name: str
    prepare: Callable[..., Any]
    summary: str
    check: Callable[[DataConfig], None] | None = None


_SOURCES: dict[str, DataSource] = {}
_FALLBACK: list[tuple[DataSource, Callable[[str], bool]]] = []  # at most one: (source, which names it takes)


def register_source(source: DataSource, *, replace: bool = False) -> None:
    """Make `source.name` a valid `data.corpus`. Registering the same source again is a no-op (a module imported
    twice); another source under a taken name needs `replace=True`."""
    if not isinstance(source, DataSource) or not isinstance(source.name, str) or not source.name:
        raise ConfigError(f"register_source takes a DataSource with a non-empty name, got {source!r}")
    old = _SOURCES.get(source.name)
    if old is not None and not replace and not _same(old, source):
        raise ConfigError(f"data source {source.name!r} is already registered ({old.summary}); pass replace=True to replace it")
    _SOURCES[source.name] = source


def unregister_source(name: str) -> None:
    """Forget a registered source (a source defined in a notebook or a test)."""
    if _SOURCES.pop(name, None) is None:
        raise ConfigError(f"no data source {name!r} is registered; registered: {', '.join(source_names())}")


def register_fallback(source: DataSource, matches: Callable[[str], bool]) -> None:
    """The source for every unregistered `data.corpus` that `matches` accepts (a corpus path, "hf:NAME"); it is
    not listed by `source_names`. Registering again replaces it."""
    _FALLBACK[:] = [(source, matches)]


def data_source(name: str) -> DataSource:
    """The source registered as `name` (else the fallback, when it takes `name`), or a one-line ConfigError
    listing the registered names."""
    source = _SOURCES.get(name)
    if source is None and _FALLBACK and _FALLBACK[0][1](name):
        source = _FALLBACK[0][0]
    if source is None:
        more = ", a corpus file or folder (a path), or hf:NAME" if _FALLBACK else ""
        raise ConfigError(
            f"unknown corpus {name!r}; choose one of {', '.join(source_names())} (the data sources registered){more}"
        )
    return source


def source_names() -> tuple[str, ...]:
    """The registered names, sorted (registration order depends on what was imported first)."""
    return tuple(sorted(_SOURCES))


def check_data(data: DataConfig) -> None:
    """Let every registered source refuse options of its own that `data` cannot use (see `DataSource.check`)."""
    for source in [*_SOURCES.values(), *(fallback for fallback, _ in _FALLBACK)]:
        if source.check is not None:
            source.check(data)


def _same(a: DataSource, b: DataSource) -> bool:
    """One source defined twice by the same code (a re-imported module builds new function objects)."""

    def where(fn) -> tuple[str, str]:
        return getattr(fn, "__module__", ""), getattr(fn, "__qualname__", repr(fn))

    return a == b or (a.name, a.summary, where(a.prepare), where(a.check)) == (
        b.name,
        b.summary,
        where(b.prepare),
        where(b.check),
    )
