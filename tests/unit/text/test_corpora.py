import re
import socket

import pytest

from interp.text.corpora import CORPORA, corpus_text, load_corpus


def _no_network(*args, **kwargs):
    raise AssertionError("corpus loading tried to open a network connection")


@pytest.fixture(scope="module")
def corpora():
    # Both loads run with sockets disabled, so a hub call would fail loudly instead of hanging offline.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        return {name: load_corpus(name) for name in CORPORA}


def test_shakespeare_rows(corpora):
    plays = corpora["shakespeare"]
    assert plays.column_names == ["text", "title"]
    assert len(plays) == 38
    titles = list(plays["title"])
    assert titles[0] == "A Midsummer Night's Dream"  # sorted by path: comedies/ first
    assert {"Hamlet", "Macbeth", "Measure for Measure", "The Tempest"} <= set(titles)
    assert all(text.startswith(title + "\n") for text, title in zip(plays["text"], titles))
    total = sum(len(t) for t in plays["text"])
    assert 4_700_000 < total < 5_200_000


def test_shakespeare_markdown_is_gone(corpora):
    text = "\n".join(corpora["shakespeare"]["text"])
    # Headings (#), speaker names in bold (**), stage directions in italics (_ or *), escapes (\[).
    assert not set("#*_\\") & set(text)
    assert not re.search(r" +\n", text), "Markdown's trailing-space line breaks should be stripped"
    assert "\n\n\n" not in text


def test_shakespeare_reads_as_a_play(corpora):
    hamlet = corpora["shakespeare"]["text"][list(corpora["shakespeare"]["title"]).index("Hamlet")]
    assert "\nBERNARDO:\nWho's there?\n" in hamlet
    assert "HAMLET:\nTo be, or not to be: that is the question:\n" in hamlet
    assert "\nEnter Ghost\n" in hamlet
    assert "\nACT III\n" in hamlet and "\nSCENE I. Elsinore. A platform before the castle.\n" in hamlet
    assert "[Aside]" in hamlet


def test_imdb_rows(corpora):
    reviews = corpora["imdb"]
    assert reviews.column_names == ["text", "label"]
    assert len(reviews) == 25_000
    labels = list(reviews["label"])
    assert set(labels) == {0, 1} and sum(labels) == 12_500
    assert labels[:6] == [0, 1, 0, 1, 0, 1]  # interleaved, so prefixes are balanced
    assert reviews[0]["text"].startswith("I rented I AM CURIOUS-YELLOW")  # a negative review
    assert all(len(t) > 0 for t in reviews["text"])


def test_imdb_html_is_gone(corpora):
    text = "\n".join(corpora["imdb"]["text"])
    assert "<br" not in text.lower()
    assert not re.search(r" \n|\n ", text), "a line break should not leave spaces at line ends"
    assert not re.search(r"</?(i|em|hr)\b", text, re.IGNORECASE)
    assert "\n\nThe plot is centered" in corpora["imdb"][0]["text"]  # <br /><br /> became a paragraph break


def test_max_documents():
    assert len(load_corpus("shakespeare", max_documents=3)) == 3
    few = load_corpus("imdb", max_documents=10)
    assert len(few) == 10 and sum(few["label"]) == 5
    with pytest.raises(ValueError, match="max_documents"):
        load_corpus("imdb", max_documents=0)


def test_unknown_corpus():
    with pytest.raises(ValueError, match="shakespeare, imdb"):
        load_corpus("wikitext")


def test_corpus_text(corpora):
    text = corpus_text("shakespeare")
    assert text == "\n\n".join(corpora["shakespeare"]["text"])
    assert corpus_text("shakespeare", max_chars=100) == text[:100]
    assert corpus_text("shakespeare", max_chars=10**9) == text
    short = corpus_text("imdb", max_chars=5000, separator="<SEP>")
    assert len(short) == 5000 and "<SEP>" in short
    with pytest.raises(ValueError, match="max_chars"):
        corpus_text("imdb", max_chars=0)
