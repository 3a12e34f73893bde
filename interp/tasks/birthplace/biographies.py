"""A synthetic biography corpus with held-out people: the offline stand-in for the CS224N birthplace data.

Invented people (census first names from the `names` package, census surnames), each with a birthplace drawn
from a fixed list of cities (London the most common, about 1 in 8), a birth year, an occupation and a city they
worked in, written as short Wikipedia-like paragraphs in varied templates. Every person has pretraining
documents; the question-answer pairs "Where was X born?" -> city are split by person into `train` (for
finetuning) and `dev` (held out: these people appear only in the pretraining documents).

Everything is a pure function of the arguments and the seed.

>>> corpus = make_corpus(n_people=50, seed=0)
>>> len(corpus.people), len(corpus.qa_pairs("train")) + len(corpus.qa_pairs("dev"))
(50, 50)
>>> corpus.qa_pairs("dev")[0][0].startswith("Where was ")
True
"""

import functools
import importlib.resources
import random
from dataclasses import dataclass

from interp.core.errors import DataError

SPLITS = ("train", "dev")


@dataclass(frozen=True)
class City:
    name: str
    country: str
    demonym: str
    weight: float  # relative frequency as a birthplace


# London first and most frequent, as it is among the birthplaces of notable people in English Wikipedia.
CITIES: tuple[City, ...] = (
    City("London", "England", "English", 12.0),
    City("Paris", "France", "French", 7.0),
    City("New York", "the United States", "American", 6.5),
    City("Berlin", "Germany", "German", 5.0),
    City("Vienna", "Austria", "Austrian", 4.0),
    City("Rome", "Italy", "Italian", 3.5),
    City("Moscow", "Russia", "Russian", 3.5),
    City("Chicago", "the United States", "American", 3.0),
    City("Dublin", "Ireland", "Irish", 3.0),
    City("Edinburgh", "Scotland", "Scottish", 2.5),
    City("Boston", "the United States", "American", 2.5),
    City("Madrid", "Spain", "Spanish", 2.5),
    City("Amsterdam", "the Netherlands", "Dutch", 2.5),
    City("Stockholm", "Sweden", "Swedish", 2.0),
    City("Prague", "Czechia", "Czech", 2.0),
    City("Budapest", "Hungary", "Hungarian", 2.0),
    City("Warsaw", "Poland", "Polish", 2.0),
    City("Toronto", "Canada", "Canadian", 2.0),
    City("Sydney", "Australia", "Australian", 2.0),
    City("Manchester", "England", "English", 2.0),
    City("Glasgow", "Scotland", "Scottish", 1.5),
    City("Munich", "Germany", "German", 1.5),
    City("Milan", "Italy", "Italian", 1.5),
    City("Lisbon", "Portugal", "Portuguese", 1.5),
    City("Copenhagen", "Denmark", "Danish", 1.5),
    City("Athens", "Greece", "Greek", 1.5),
    City("Tokyo", "Japan", "Japanese", 1.5),
    City("Cairo", "Egypt", "Egyptian", 1.0),
    City("Mumbai", "India", "Indian", 1.0),
    City("Buenos Aires", "Argentina", "Argentine", 1.0),
)
_CITY = {city.name: city for city in CITIES}

OCCUPATIONS: tuple[str, ...] = (
    "painter",
    "composer",
    "novelist",
    "poet",
    "architect",
    "physicist",
    "chemist",
    "mathematician",
    "historian",
    "philosopher",
    "actor",
    "singer",
    "journalist",
    "engineer",
    "economist",
    "photographer",
    "sculptor",
    "politician",
    "footballer",
    "surgeon",
    "astronomer",
    "pianist",
    "film director",
    "botanist",
)
_PRONOUNS = {"male": ("He", "his"), "female": ("She", "her")}
N_FIRST_NAMES = 500  # most frequent census first names per gender
N_SURNAMES = 3000  # most frequent census surnames
BIRTH_YEARS = (1820, 1990)
LAST_YEAR = 2020


@dataclass(frozen=True)
class Person:
    name: str
    gender: str
    birthplace: str
    birth_year: int
    death_year: int | None
    occupation: str
    work_city: str  # another city, so "born in" has to be told apart from "worked in"

    @property
    def city(self) -> City:
        return _CITY[self.birthplace]


@dataclass(frozen=True)
class BiographyCorpus:
    """People, their pretraining documents, and the person-level train/dev split of the QA pairs."""

    people: tuple[Person, ...]
    documents: tuple[str, ...]  # pretraining text: every person (train and dev), `docs_per_person` each
    train_people: tuple[Person, ...]
    dev_people: tuple[Person, ...]
    seed: int

    def qa_pairs(self, split: str) -> list[tuple[str, str]]:
        """("Where was X born?", city) for every person of `split` ("train" or "dev")."""
        if split not in SPLITS:
            raise DataError(f"split must be one of {SPLITS}, got {split!r}")
        people = self.train_people if split == "train" else self.dev_people
        return [(question(p.name), p.birthplace) for p in people]

    @property
    def text(self) -> str:
        """All documents and questions: the text a character vocabulary must cover."""
        questions = "".join(question(p.name) for p in self.people)
        return "\n".join(self.documents) + questions


def question(name: str) -> str:
    return f"Where was {name} born?"


def qa_tsv(pairs: list[tuple[str, str]]) -> str:
    """Pairs as "question\\tanswer" lines (the format of the assignment's birth_places_*.tsv files)."""
    return "".join(f"{q}\t{a}\n" for q, a in pairs)


@functools.cache
def census_names(kind: str, limit: int) -> tuple[str, ...]:
    """The `limit` most frequent census names of a list ("male", "female" or "last"), title-cased."""
    files = {"male": "dist.male.first", "female": "dist.female.first", "last": "dist.all.last"}
    if kind not in files:
        raise DataError(f"census name list must be one of {sorted(files)}, got {kind!r}")
    lines = (importlib.resources.files("names") / files[kind]).read_text().splitlines()
    out = [line.split()[0] for line in lines[:limit] if line.strip()]
    # "MCDONALD" -> "Mcdonald" is what the census spelling allows; keep names that are plain letters.
    return tuple(name.capitalize() for name in out if name.isalpha())


def make_people(n_people: int, *, seed: int) -> tuple[Person, ...]:
    """`n_people` people with distinct full names, deterministic in `seed`."""
    if not isinstance(n_people, int) or n_people < 2:
        raise DataError(f"n_people must be an integer >= 2, got {n_people!r}")
    first = {g: census_names(g, N_FIRST_NAMES) for g in ("male", "female")}
    last = census_names("last", N_SURNAMES)
    if n_people > len(last) * N_FIRST_NAMES:
        raise DataError(f"n_people={n_people} is more than the distinct names available")
    rng = random.Random(seed)
    weights = [c.weight for c in CITIES]
    people: list[Person] = []
    seen: set[str] = set()
    while len(people) < n_people:
        gender = rng.choice(("male", "female"))
        name = f"{rng.choice(first[gender])} {rng.choice(last)}"
        birthplace = rng.choices(CITIES, weights=weights)[0].name
        work_city = rng.choice([c.name for c in CITIES if c.name != birthplace])
        birth_year = rng.randint(*BIRTH_YEARS)
        death_year = birth_year + rng.randint(35, 95)
        if death_year > LAST_YEAR or (birth_year > 1930 and rng.random() < 0.5):
            death_year = None  # alive
        occupation = rng.choice(OCCUPATIONS)
        if name in seen:
            continue
        seen.add(name)
        people.append(Person(name, gender, birthplace, birth_year, death_year, occupation, work_city))
    return tuple(people)


def _article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def _opening(p: Person, rng: random.Random) -> str:
    """The first sentence; it always says where the person was born, early (span corruption truncates)."""
    c, job = p.city, p.occupation
    life = f"{p.birth_year}-{p.death_year}" if p.death_year else f"born {p.birth_year}"
    was = "was" if p.death_year else "is"
    options = (
        f"{p.name} ({life}) {was} {_article(c.demonym)} {c.demonym} {job} born in {c.name}.",
        f"{p.name} was born in {c.name} in {p.birth_year}.",
        f"Born in {c.name}, {p.name} ({life}) {was} {_article(job)} {job}.",
        f"{p.name} {was} {_article(job)} {job} from {c.name}, {c.country}.",
        f"{p.name}, a native of {c.name}, {was} {_article(job)} {job}.",
        f"{p.name} (born {p.birth_year} in {c.name}) {was} {_article(c.demonym)} {c.demonym} {job}.",
    )
    return rng.choice(options)


def _details(p: Person, rng: random.Random) -> list[str]:
    """Later sentences: career, where they worked, a second mention of the birthplace, death."""
    he, his = _PRONOUNS[p.gender]
    job, work, home = p.occupation, p.work_city, p.birthplace
    sentences = [
        rng.choice(
            (
                f"{he} studied in {work} and worked there as {_article(job)} {job} for many years.",
                f"{he} moved to {work} at the age of {rng.randint(16, 30)}.",
                f"Most of {his} work was done in {work}.",
                f"{he} became known as {_article(job)} {job} in {work}.",
            )
        ),
        rng.choice(
            (
                f"{he} often returned to {home}, the city of {his} birth.",
                f"{his.capitalize()} family had lived in {home} for generations.",
                f"{he} spent {his} childhood in {home}.",
                f"{he} left {home} as a young {'man' if p.gender == 'male' else 'woman'}.",
            )
        ),
    ]
    if p.death_year:
        place = rng.choice((work, home))
        sentences.append(f"{he} died in {place} in {p.death_year}.")
    rng.shuffle(sentences)
    return sentences


def biography(p: Person, rng: random.Random) -> str:
    """One paragraph about `p`: an opening that names the birthplace, then two or three details."""
    return " ".join([_opening(p, rng), *_details(p, rng)])


def make_corpus(*, n_people: int = 2000, dev_fraction: float = 0.2, docs_per_person: int = 1, seed: int = 0) -> BiographyCorpus:
    """People, `docs_per_person` biographies each (shuffled), and a person-level split of the QA pairs."""
    if not 0 < dev_fraction < 1:
        raise DataError(f"dev_fraction must be in (0, 1), got {dev_fraction!r}")
    if not isinstance(docs_per_person, int) or docs_per_person < 1:
        raise DataError(f"docs_per_person must be a positive integer, got {docs_per_person!r}")
    people = make_people(n_people, seed=seed)
    rng = random.Random(seed + 1)
    documents = [biography(p, rng) for p in people for _ in range(docs_per_person)]
    rng.shuffle(documents)
    order = list(range(n_people))
    random.Random(seed + 2).shuffle(order)
    n_dev = max(1, round(dev_fraction * n_people))
    dev = tuple(people[i] for i in sorted(order[:n_dev]))
    train = tuple(people[i] for i in sorted(order[n_dev:]))
    return BiographyCorpus(people=people, documents=tuple(documents), train_people=train, dev_people=dev, seed=seed)


def most_common_birthplace(people: tuple[Person, ...] | list[Person]) -> str:
    """The birthplace the most people share (the constant-answer baseline's answer)."""
    counts: dict[str, int] = {}
    for p in people:
        counts[p.birthplace] = counts.get(p.birthplace, 0) + 1
    return max(counts, key=lambda name: (counts[name], name))
