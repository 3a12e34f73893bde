import pytest

from interp.core.errors import DataError
from interp.tasks.birthplace.biographies import (
    CITIES,
    census_names,
    make_corpus,
    make_people,
    most_common_birthplace,
    qa_tsv,
    question,
)


@pytest.fixture(scope="module")
def corpus():
    return make_corpus(n_people=300, docs_per_person=2, seed=3)


def test_same_seed_same_corpus_other_seed_other_corpus(corpus):
    again = make_corpus(n_people=300, docs_per_person=2, seed=3)
    assert again == corpus
    other = make_corpus(n_people=300, docs_per_person=2, seed=4)
    assert other.documents != corpus.documents
    assert [p.name for p in other.people] != [p.name for p in corpus.people]


def test_names_are_distinct_census_names(corpus):
    names = [p.name for p in corpus.people]
    assert len(set(names)) == len(names) == 300
    first = set(census_names("male", 500)) | set(census_names("female", 500))
    last = set(census_names("last", 3000))
    assert all(n.split()[0] in first and n.split()[1] in last for n in names)


def test_dev_people_are_held_out_of_qa_train_but_in_pretraining(corpus):
    train_q = {q for q, _ in corpus.qa_pairs("train")}
    dev = corpus.qa_pairs("dev")
    assert len(dev) == 60 and len(train_q) == 240
    assert not train_q & {q for q, _ in dev}
    assert not {p.name for p in corpus.train_people} & {p.name for p in corpus.dev_people}
    text = "\n".join(corpus.documents)
    for person in corpus.dev_people:
        assert person.name in text
        assert question(person.name) not in text  # the corpus never asks the question itself


def test_every_document_names_its_person_and_birthplace(corpus):
    by_name = {p.name: p for p in corpus.people}
    assert len(corpus.documents) == 600
    for doc in corpus.documents:
        person = next(p for name, p in by_name.items() if doc.startswith(name) or f", {name}" in doc[:80])
        assert person.birthplace in doc[:100]  # early: span corruption truncates documents


def test_london_is_the_most_common_birthplace():
    people = make_people(3000, seed=0)
    assert CITIES[0].name == "London"
    assert most_common_birthplace(people) == "London"
    share = sum(p.birthplace == "London" for p in people) / len(people)
    assert 0.08 < share < 0.2


def test_qa_pairs_and_tsv(corpus):
    pairs = corpus.qa_pairs("dev")
    q, a = pairs[0]
    assert q.startswith("Where was ") and q.endswith(" born?")
    assert a in {c.name for c in CITIES}
    assert qa_tsv(pairs[:2]).count("\n") == 2 and "\t" in qa_tsv(pairs[:1])


def test_bad_arguments_are_data_errors():
    with pytest.raises(DataError):
        make_corpus(n_people=1)
    with pytest.raises(DataError):
        make_corpus(n_people=10, dev_fraction=1.0)
    with pytest.raises(DataError):
        make_corpus(n_people=10).qa_pairs("test")
