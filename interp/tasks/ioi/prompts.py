"""Indirect-object identification (IOI) prompts and training text, deterministic by seed, with held-out splits.

`IOISetup` fixes the recipe: census first names that are single GPT-2 tokens, split into training and held-out
names; the templates of `interp.tasks.ioi.templates`, split into training and held-out templates. Held-out names
never appear as IO or S in a training IOI sentence but do appear, at comparable frequency, in single-name filler
sentences (as inputs and as predicted tokens; half of them IOI-shaped, the other participant a non-name person
such as "the teacher", so held-out names are copied as an IO and passed over as a repeated subject): a name the model never saw anywhere has an untrained unembedding
and would fail for that reason alone (DESIGN.md, "IOI from scratch works, with traps"). Held-out template words
all occur in training text too (checked when the corpus is built).

Every row starts with BOS (`<|endoftext|>`) and is right-padded with it. Token ids are those of the corpus's
`CompactTokenizer` (a few hundred GPT-2 tokens renumbered), so a model over it has a small vocabulary.

Splits of evaluation prompts: "train" (training names and templates, fresh draws), "names" (held-out names,
training templates), "templates" (training names, held-out templates), "both" (held out on both axes).
Corruptions, each keeping template, place, object and every position: "abc" (N1, N2 and S2 all replaced by three
other names), "swap" (N1 and N2 exchanged: ABBA <-> BABA, so IO and S trade roles), "s2_io" (S2 replaced by the
IO name, so the repeated name is the IO).

>>> corpus = ioi_corpus(IOISetup(seed=0))
>>> batch = corpus.prompts(8, split="names", seed=1, corruption="abc")
>>> batch.clean.shape == batch.corrupted.shape, bool((batch.clean[range(8), batch.s2_pos] == batch.s).all())
(True, True)
"""

import functools
import random
from dataclasses import dataclass, field, replace

import torch
from jaxtyping import Bool, Int
from torch import Tensor

from interp.core.errors import DataError
from interp.tasks.ioi.templates import (
    FILLER_TEMPLATES,
    IOI_TEMPLATES,
    OBJECTS,
    PEOPLE,
    PLACES,
    CompiledTemplate,
    compile_ioi_template,
    compile_template,
)
from interp.tasks.ioi.vocab import GPT2_EOS, CompactTokenizer, census_names
from interp.text.tokenizers import GPT2Tokenizer

SPLITS = ("train", "names", "templates", "both")
HALVES = ("validation", "test")  # disjoint halves of the held-out names and templates: choose on one, report the other
CORRUPTIONS = ("abc", "swap", "s2_io")
ORDERS = ("ABBA", "BABA")


@dataclass(frozen=True, kw_only=True)
class IOISetup:
    """The IOI recipe: name and template splits (by `seed`) and the training mix."""

    seed: int = 0
    n_names: int = 240
    n_heldout_names: int = 60
    n_heldout_templates: int = 6
    n_extra_train_names: int = 0  # census names ranked after the first n_names, added to the training names only
    filler_fraction: float = 0.4  # share of training rows that are single-name filler sentences
    heldout_filler_share: float = (
        0.8  # share of filler names drawn from the held-out names (per-name frequency near the training names')
    )
    shaped_filler_share: float = 0.5  # share of filler that is IOI-shaped with one name and one non-name person

    def __post_init__(self) -> None:
        if not 0 < self.n_heldout_names < self.n_names - 4:
            raise DataError(f"n_heldout_names must be in (0, {self.n_names - 4}), got {self.n_heldout_names}")
        if not isinstance(self.n_extra_train_names, int) or self.n_extra_train_names < 0:
            raise DataError(f"n_extra_train_names must be an integer >= 0, got {self.n_extra_train_names!r}")
        if not 0 < self.n_heldout_templates < len(IOI_TEMPLATES) - 1:
            raise DataError(f"n_heldout_templates must be in (0, {len(IOI_TEMPLATES) - 1}), got {self.n_heldout_templates}")
        for name in ("filler_fraction", "heldout_filler_share", "shaped_filler_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise DataError(f"IOISetup.{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass(frozen=True, eq=False)
class IOIPrompts:
    """Aligned clean/corrupted prompts (BOS + text up to the answer) with answers and slot positions per row.

    `end_pos` is the last prompt token, where the model predicts the IO; rows are right-padded, so read logits
    at `end_pos`, not at -1. Clean and corrupted rows have identical length and positions.
    """

    clean: Int[Tensor, "batch pos"]
    corrupted: Int[Tensor, "batch pos"]
    io: Int[Tensor, " batch"]  # answer token (compact id)
    s: Int[Tensor, " batch"]  # subject token
    io_pos: Int[Tensor, " batch"]  # first (only) mention of IO
    s1_pos: Int[Tensor, " batch"]
    s2_pos: Int[Tensor, " batch"]
    end_pos: Int[Tensor, " batch"]
    abba: Bool[Tensor, " batch"]  # True: IO named first
    template: Int[Tensor, " batch"]  # index into IOI_TEMPLATES
    split: str
    corruption: str

    def __len__(self) -> int:
        return self.clean.shape[0]

    def select(self, rows: Tensor) -> "IOIPrompts":
        """The prompts at `rows` (indices or a boolean mask)."""
        fields = ("clean", "corrupted", "io", "s", "io_pos", "s1_pos", "s2_pos", "end_pos", "abba", "template")
        return replace(self, **{name: getattr(self, name)[rows] for name in fields})

    @property
    def aligned(self) -> bool:
        """True when every row has one template layout (same N1, N2, S2 and end positions), so position-wise
        patching compares like with like. IO and S1 may still trade places between ABBA and BABA rows."""
        first = torch.minimum(self.io_pos, self.s1_pos)
        second = torch.maximum(self.io_pos, self.s1_pos)
        return all(bool((p == p[0]).all()) for p in (first, second, self.s2_pos, self.end_pos))

    def position_labels(self, tokenizer) -> list[str]:
        """Labels for the positions of aligned prompts: IO/S1 (or N1/N2 when orders are mixed), S2 and end at
        their slots, the first row's token elsewhere."""
        if not self.aligned:
            raise DataError(
                "position labels need aligned prompts (one template layout); build them with templates=corpus.layouts(split)[0]"
            )
        strings = tokenizer.token_strings(self.clean[0].tolist())
        one_order = bool((self.abba == self.abba[0]).all())
        io, s1 = int(self.io_pos[0]), int(self.s1_pos[0])
        slots = {int(self.s2_pos[0]): "S2", int(self.end_pos[0]): "end"}
        slots.update({io: "IO", s1: "S1"} if one_order else {min(io, s1): "N1", max(io, s1): "N2"})
        return [slots.get(i, f"{i}:{s.strip() or repr(s)}") for i, s in enumerate(strings)]


@dataclass(frozen=True, eq=False)
class IOICorpus:
    """Names, templates and tokenizer of one `IOISetup`; builds prompts and training rows."""

    setup: IOISetup
    tokenizer: CompactTokenizer
    train_names: tuple[int, ...]  # GPT-2 ids of " Name"
    heldout_names: tuple[int, ...]
    train_templates: tuple[int, ...]  # indices into IOI_TEMPLATES
    heldout_templates: tuple[int, ...]
    templates: tuple[CompiledTemplate, ...] = field(repr=False)
    fillers: tuple[CompiledTemplate, ...] = field(repr=False)
    places: tuple[int, ...] = field(repr=False)
    objects: tuple[int, ...] = field(repr=False)
    period: int = field(repr=False)
    people: tuple[tuple[int, ...], ...] = field(repr=False, default=())

    @property
    def bos(self) -> int:
        return self.tokenizer.bos_token_id

    def name_strings(self, heldout: bool) -> list[str]:
        ids = self.heldout_names if heldout else self.train_names
        return [s.strip() for s in GPT2Tokenizer().token_strings(list(ids))]

    def _pools(self, split: str, half: str | None = None) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if split not in SPLITS:
            raise DataError(f"unknown IOI split {split!r}; choose one of {', '.join(SPLITS)}")
        if half is not None and half not in HALVES:
            raise DataError(f"half must be one of {', '.join(HALVES)} or None (all held-out names and templates), got {half!r}")
        names = self.heldout_names if split in ("names", "both") else self.train_names
        templates = self.heldout_templates if split in ("templates", "both") else self.train_templates
        if half is not None:
            names = self._half(names, half, salt=3) if split in ("names", "both") else names
            templates = self._half(templates, half, salt=4) if split in ("templates", "both") else templates
        return names, templates

    def _half(self, ids: tuple[int, ...], half: str, salt: int) -> tuple[int, ...]:
        """One of two disjoint halves of held-out ids (a fixed shuffle by the setup's seed)."""
        shuffled = list(ids)
        random.Random(mix_seeds(self.setup.seed, salt)).shuffle(shuffled)
        cut = len(shuffled) // 2
        return tuple(sorted(shuffled[:cut] if half == HALVES[0] else shuffled[cut:]))

    def layouts(self, split: str) -> list[list[int]]:
        """Templates of a split grouped by identical slot positions (largest group first): aligned batches."""
        groups: dict[tuple, list[int]] = {}
        for index in self._pools(split)[1]:
            t = self.templates[index]
            key = (t.length, tuple(sorted(t.slot_offsets.items())))
            groups.setdefault(key, []).append(index)
        return sorted(groups.values(), key=lambda g: (-len(g), g))

    def prompts(
        self,
        n: int,
        *,
        split: str = "train",
        seed: int = 0,
        corruption: str = "abc",
        order: str | None = None,
        templates: list[int] | None = None,
        half: str | None = None,
    ) -> IOIPrompts:
        """`n` IOI prompts of `split`, half ABBA and half BABA (alternating) unless `order` is given.

        `templates` restricts the draw to some template indices (they must belong to the split); with one
        layout group (`layouts(split)[0]`) every row has the same positions. `half` ("validation" or "test")
        draws the held-out names and templates of a held-out split from one of two disjoint halves, so a
        checkpoint can be chosen on one and reported on the other.
        """
        if corruption not in CORRUPTIONS:
            raise DataError(f"unknown corruption {corruption!r}; choose one of {', '.join(CORRUPTIONS)}")
        if order is not None and order not in ORDERS:
            raise DataError(f"order must be ABBA, BABA or None (both), got {order!r}")
        if n < 1:
            raise DataError(f"ask for at least one prompt, got n={n}")
        names, pool = self._pools(split, half)
        if templates is not None:
            outside = sorted(set(templates) - set(pool))
            if outside or not templates:
                raise DataError(f"templates {outside or templates} are not in the {split!r} split's templates {list(pool)}")
            pool = tuple(templates)
        salts = (SPLITS.index(split),) if half is None else (SPLITS.index(split), 1 + HALVES.index(half))
        rng = random.Random(mix_seeds(self.setup.seed, seed, *salts))
        rows = [self._prompt(rng, i, names, pool, order, corruption) for i in range(n)]
        return self._collate(rows, split, corruption)

    def _prompt(self, rng: random.Random, index: int, names, pool, order: str | None, corruption: str) -> dict:
        template_index = rng.choice(pool)
        template = self.templates[template_index]
        io, s, *others = rng.sample(names, 5)
        abba = (index % 2 == 0) if order is None else order == "ABBA"
        place, obj = rng.choice(self.places), rng.choice(self.objects)
        first, second = (io, s) if abba else (s, io)
        clean = {"N1": first, "N2": second, "S": s, "IO": io, "PLACE": place, "OBJECT": obj}
        if corruption == "abc":
            corrupted = {**clean, "N1": others[0], "N2": others[1], "S": others[2]}
        elif corruption == "swap":
            corrupted = {**clean, "N1": second, "N2": first}
        else:  # s2_io
            corrupted = {**clean, "S": io}
        offsets = template.slot_offsets
        return {
            "clean": template.fill(clean)[:-1],  # the prompt stops before the answer
            "corrupted": template.fill(corrupted)[:-1],
            "io": io,
            "s": s,
            "io_pos": 1 + offsets["N1" if abba else "N2"],
            "s1_pos": 1 + offsets["N2" if abba else "N1"],
            "s2_pos": 1 + offsets["S"],
            "end_pos": template.length - 1,  # BOS + length-1 prompt tokens: last index is length-1
            "abba": abba,
            "template": template_index,
        }

    def _collate(self, rows: list[dict], split: str, corruption: str) -> IOIPrompts:
        width = 1 + max(len(r["clean"]) for r in rows)

        def pad(key: str) -> Tensor:
            out = torch.full((len(rows), width), self.bos, dtype=torch.long)
            for i, r in enumerate(rows):
                out[i, 1 : 1 + len(r[key])] = torch.tensor(self.tokenizer.to_compact(r[key]))
            return out

        def ints(key: str, compact: bool = False) -> Tensor:
            values = [r[key] for r in rows]
            return torch.tensor(self.tokenizer.to_compact(values) if compact else values, dtype=torch.long)

        return IOIPrompts(
            clean=pad("clean"),
            corrupted=pad("corrupted"),
            io=ints("io", compact=True),
            s=ints("s", compact=True),
            io_pos=ints("io_pos"),
            s1_pos=ints("s1_pos"),
            s2_pos=ints("s2_pos"),
            end_pos=ints("end_pos"),
            abba=torch.tensor([r["abba"] for r in rows]),
            template=ints("template"),
            split=split,
            corruption=corruption,
        )

    # ---- training text -------------------------------------------------------------------------------------

    def training_rows(self, n: int, n_ctx: int, *, seed: int) -> Int[Tensor, "batch pos"]:
        """`n` training rows: BOS, one sentence (IOI with training names and templates, or single-name filler,
        `setup.filler_fraction` of them), then BOS padding to n_ctx. A pure function of `seed`."""
        rng = random.Random(seed)
        out = torch.full((n, n_ctx), self.bos, dtype=torch.long)
        for i in range(n):
            ids = self._filler(rng) if rng.random() < self.setup.filler_fraction else self._ioi_sentence(rng)
            if len(ids) + 1 > n_ctx:
                raise DataError(
                    f"an IOI training sentence has {len(ids) + 1} tokens but n_ctx is {n_ctx}; use a larger model.n_ctx (26 fits every template)"
                )
            out[i, 1 : 1 + len(ids)] = torch.tensor(self.tokenizer.to_compact(ids))
        return out

    def _ioi_sentence(self, rng: random.Random) -> list[int]:
        template = self.templates[rng.choice(self.train_templates)]
        io, s = rng.sample(self.train_names, 2)
        first, second = (io, s) if rng.random() < 0.5 else (s, io)
        values = {
            "N1": first,
            "N2": second,
            "S": s,
            "IO": io,
            "PLACE": rng.choice(self.places),
            "OBJECT": rng.choice(self.objects),
        }
        return template.fill(values) + [self.period]

    def _filler(self, rng: random.Random) -> list[int]:
        names = self.heldout_names if rng.random() < self.setup.heldout_filler_share else self.train_names
        name, place, obj = rng.choice(names), rng.choice(self.places), rng.choice(self.objects)
        if rng.random() < self.setup.shaped_filler_share:
            # a training IOI template with one participant a non-name person: the name is the IO (copied at
            # the end) or the S (repeated, and the person is the answer)
            template = self.templates[rng.choice(self.train_templates)]
            person = rng.choice(self.people)
            io, s = (name, person) if rng.random() < 0.5 else (person, name)
            first, second = (io, s) if rng.random() < 0.5 else (s, io)
            return template.fill({"N1": first, "N2": second, "S": s, "IO": io, "PLACE": place, "OBJECT": obj}) + [self.period]
        return rng.choice(self.fillers).fill({"A": name, "PLACE": place, "OBJECT": obj})


def mix_seeds(*values: int) -> int:
    """One integer seed from several (stable across runs, unlike hash())."""
    out = 0
    for v in values:
        out = (out * 1_000_003 + int(v)) % (2**61 - 1)
    return out


@functools.lru_cache(maxsize=8)
def ioi_corpus(setup: IOISetup = IOISetup()) -> IOICorpus:
    """Build (once per setup) the names, templates and compact tokenizer of an IOI corpus."""
    gpt2 = GPT2Tokenizer()
    ranked = [gpt2.encode(" " + n)[0] for n in census_names(setup.n_names + setup.n_extra_train_names)]
    shuffled = ranked[: setup.n_names]
    random.Random(mix_seeds(setup.seed, 1)).shuffle(shuffled)
    heldout_names = tuple(sorted(shuffled[: setup.n_heldout_names]))  # the same whatever n_extra_train_names
    train_names = tuple(sorted(shuffled[setup.n_heldout_names :] + ranked[setup.n_names :]))
    order = list(range(len(IOI_TEMPLATES)))
    random.Random(mix_seeds(setup.seed, 2)).shuffle(order)
    heldout_templates = tuple(sorted(order[: setup.n_heldout_templates]))
    train_templates = tuple(sorted(order[setup.n_heldout_templates :]))
    templates = tuple(compile_ioi_template(t) for t in IOI_TEMPLATES)
    fillers = tuple(compile_template(t) for t in FILLER_TEMPLATES)
    places = tuple(gpt2.encode(" " + p)[0] for p in PLACES)
    objects = tuple(gpt2.encode(" " + o)[0] for o in OBJECTS)
    period = gpt2.encode(".")[0]
    people = tuple(tuple(gpt2.encode(" " + p)) for p in PEOPLE)

    def words(ts) -> set[int]:
        return {i for t in ts for p in t.pieces if not isinstance(p, str) for i in p}

    seen = words([templates[i] for i in train_templates]) | words(fillers)
    unseen = words([templates[i] for i in heldout_templates]) - seen
    if unseen:
        raise DataError(
            f"held-out template words {gpt2.token_strings(sorted(unseen))} never occur in training text; add a filler template with them"
        )
    vocab = words(templates) | words(fillers) | set(ranked) | set(places) | set(objects) | {period, GPT2_EOS}
    vocab |= {i for person in people for i in person}
    return IOICorpus(
        setup=setup,
        tokenizer=CompactTokenizer(sorted(vocab)),
        train_names=train_names,
        heldout_names=heldout_names,
        train_templates=train_templates,
        heldout_templates=heldout_templates,
        templates=templates,
        fillers=fillers,
        places=places,
        objects=objects,
        period=period,
        people=people,
    )
