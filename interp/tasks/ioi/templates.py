"""IOI sentence templates (Wang et al. 2022 style), single-name filler templates, places and objects.

An IOI template names its slots `{N1} and {N2}` (the two names introduced together), `{S}` (the subject
repeated: S2) and `{IO}` (the answer, always the last token), plus `{PLACE}` and `{OBJECT}`. In ABBA order
N1 is the indirect object and N2 the subject; in BABA order N1 is the subject. Filler templates hold one name,
`{A}`, one or more times: they put names (held-out ones too) and every template word into the training text
without two-name IOI structure.

Every slot is one token with a leading space ("... to Mary"), so a template fixes the position of every slot:
`compile_template` turns the text into GPT-2 token pieces and slot markers.

>>> t = compile_template(IOI_TEMPLATES[0])
>>> t.slot_offsets["N1"], t.slot_offsets["S"], t.slot_offsets["IO"], t.length
(2, 10, 15, 16)
"""

import re
from dataclasses import dataclass

from interp.core.errors import DataError
from interp.text.tokenizers import GPT2Tokenizer

IOI_SLOTS = ("N1", "N2", "S", "IO")
SLOT_PATTERN = re.compile(r"\{([A-Z0-9]+)\}")

IOI_TEMPLATES: tuple[str, ...] = (
    # The fifteen BABA templates of Wang et al. (2022), names renamed to slots.
    "Then, {N1} and {N2} went to the {PLACE}. {S} gave a {OBJECT} to {IO}",
    "Then, {N1} and {N2} had a lot of fun at the {PLACE}. {S} gave a {OBJECT} to {IO}",
    "Then, {N1} and {N2} were working at the {PLACE}. {S} decided to give a {OBJECT} to {IO}",
    "Then, {N1} and {N2} were thinking about going to the {PLACE}. {S} wanted to give a {OBJECT} to {IO}",
    "Then, {N1} and {N2} had a long argument, and afterwards {S} said to {IO}",
    "After {N1} and {N2} went to the {PLACE}, {S} gave a {OBJECT} to {IO}",
    "When {N1} and {N2} got a {OBJECT} at the {PLACE}, {S} decided to give it to {IO}",
    "When {N1} and {N2} got a {OBJECT} at the {PLACE}, {S} decided to give the {OBJECT} to {IO}",
    "While {N1} and {N2} were working at the {PLACE}, {S} gave a {OBJECT} to {IO}",
    "While {N1} and {N2} were commuting to the {PLACE}, {S} gave a {OBJECT} to {IO}",
    "After the lunch, {N1} and {N2} went to the {PLACE}. {S} gave a {OBJECT} to {IO}",
    "Afterwards, {N1} and {N2} went to the {PLACE}. {S} gave a {OBJECT} to {IO}",
    "Then, {N1} and {N2} had a long argument. Afterwards {S} said to {IO}",
    "The {PLACE} {N1} and {N2} went to had a {OBJECT}. {S} gave it to {IO}",
    "Friends {N1} and {N2} found a {OBJECT} at the {PLACE}. {S} gave it to {IO}",
    # More in the same spirit, for variety of structure and verbs.
    "Later, {N1} and {N2} walked to the {PLACE}. {S} handed a {OBJECT} to {IO}",
    "Yesterday, {N1} and {N2} met at the {PLACE}. {S} sent a {OBJECT} to {IO}",
    "Today, {N1} and {N2} visited the {PLACE}, and {S} brought a {OBJECT} to {IO}",
    "At the {PLACE}, {N1} and {N2} were talking. {S} threw a {OBJECT} to {IO}",
    "In the morning, {N1} and {N2} arrived at the {PLACE}. {S} passed the {OBJECT} to {IO}",
    "Once {N1} and {N2} reached the {PLACE}, {S} showed a {OBJECT} to {IO}",
    "Before {N1} and {N2} left the {PLACE}, {S} offered a {OBJECT} to {IO}",
    "So {N1} and {N2} stayed at the {PLACE}, where {S} gave a {OBJECT} to {IO}",
    "Then {N1} and {N2} sat in the {PLACE}. {S} read a story to {IO}",
    "Soon, {N1} and {N2} were playing at the {PLACE}. {S} kicked the {OBJECT} to {IO}",
    "After dinner, {N1} and {N2} cleaned the {PLACE}. {S} returned the {OBJECT} to {IO}",
    "Then, {N1} and {N2} got lost near the {PLACE}. {S} lent a {OBJECT} to {IO}",
    "When {N1} and {N2} came back from the {PLACE}, {S} wrote a letter to {IO}",
    "Since {N1} and {N2} were at the {PLACE}, {S} sold a {OBJECT} to {IO}",
    "One day, {N1} and {N2} went to the {PLACE}. {S} said goodbye to {IO}",
    "Later that day, {N1} and {N2} shopped at the {PLACE}. {S} gave a {OBJECT} to {IO}",
    "That evening, {N1} and {N2} ate at the {PLACE}. {S} offered the {OBJECT} to {IO}",
    "Then, {N1} and {N2} drove to the {PLACE}. {S} gave the keys to {IO}",
    "After school, {N1} and {N2} ran to the {PLACE}. {S} tossed a {OBJECT} to {IO}",
    "While {N1} and {N2} waited at the {PLACE}, {S} told a joke to {IO}",
    "Then, {N1} and {N2} had a picnic at the {PLACE}. {S} handed the {OBJECT} to {IO}",
)

# One name only: these teach names (as inputs and as predicted tokens) and the template words, never IOI.
FILLER_TEMPLATES: tuple[str, ...] = (
    "Then, {A} went to the {PLACE}.",
    "{A} went to the {PLACE} alone.",
    "The {OBJECT} was given to {A}.",
    "Everyone at the {PLACE} said hello to {A}.",
    "After the lunch, {A} had a lot of fun at the {PLACE}.",
    "When {A} got a {OBJECT}, {A} was happy.",
    "{A} was working at the {PLACE}, and later {A} bought a {OBJECT}.",
    "Yesterday, {A} found a {OBJECT} at the {PLACE}.",
    "The {OBJECT} at the {PLACE} belonged to {A}.",
    "Then, {A} had a long argument with the teacher, and afterwards {A} went home.",
    "While {A} was commuting to the {PLACE}, a friend gave a {OBJECT} to {A}.",
    "{A} was thinking about going to the {PLACE}. {A} wanted to give it away.",
    "Afterwards, {A} decided to give the {OBJECT} to the teacher.",
    "Later, {A} walked to the {PLACE} and met a friend.",
    "Today, {A} visited the {PLACE}, and the teacher sent a {OBJECT} to {A}.",
    "At the {PLACE}, {A} was talking. Friends threw a {OBJECT} to {A}.",
    "In the morning, {A} arrived at the {PLACE}. The teacher passed the {OBJECT} to {A}.",
    "Once {A} reached the {PLACE}, {A} showed a {OBJECT} to the teacher.",
    "Before {A} left the {PLACE}, a friend offered a {OBJECT} to {A}.",
    "So {A} stayed at the {PLACE}, where a friend gave a {OBJECT} to {A}.",
    "{A} sat in the {PLACE}. The teacher read a story to {A}.",
    "Soon, {A} was playing at the {PLACE}. A friend kicked the {OBJECT} to {A}.",
    "After dinner, {A} cleaned the {PLACE}. A friend returned the {OBJECT} to {A}.",
    "Then, {A} got lost near the {PLACE}. A friend lent a {OBJECT} to {A}.",
    "When {A} came back from the {PLACE}, the teacher wrote a letter to {A}.",
    "Since {A} was at the {PLACE}, {A} sold a {OBJECT} to the teacher.",
    "One day, {A} went to the {PLACE}. The teacher said goodbye to {A}.",
    "Later that day, {A} shopped at the {PLACE}. A friend gave a {OBJECT} to {A}.",
    "That evening, {A} ate at the {PLACE}. The teacher offered the {OBJECT} to {A}.",
    "Then, {A} drove to the {PLACE}. The teacher gave the keys to {A}.",
    "After school, {A} ran to the {PLACE}. A friend tossed a {OBJECT} to {A}.",
    "While {A} waited at the {PLACE}, a friend told a joke to {A}.",
    "Then, {A} had a picnic at the {PLACE}. A friend handed the {OBJECT} to {A}.",
    "The {PLACE} {A} went to had a {OBJECT}. {A} gave it to a friend.",
    "Friends of {A} found a {OBJECT} at the {PLACE}. They gave it to {A}.",
    "Then {A} and the teacher had a long argument. Afterwards the teacher said to {A}",
    "Afterwards, {A} and a friend went to the {PLACE}.",
    "After {A} went to the {PLACE}, {A} got a {OBJECT}.",
    "While {A} and the teacher were working at the {PLACE}, it got late.",
    "Then, {A} was thinking about going to the {PLACE} and decided to stay.",
    "Today, {A} visited the {PLACE} and brought a {OBJECT}.",
)

# Non-name people for single-name IOI-shaped filler ("Then, Mary and the teacher went to the store. The
# teacher gave a ring to Mary"): they give held-out names the IO role (copied) and the S role (not copied,
# the repeated participant) without two names ever meeting in a training sentence.
PEOPLE: tuple[str, ...] = (
    "the teacher",
    "a friend",
    "the doctor",
    "the neighbor",
    "his mother",
    "her father",
    "the boss",
    "the driver",
)

PLACES: tuple[str, ...] = tuple(
    "store park school house garden station office hospital restaurant market beach library church bank "
    "hotel museum airport farm lake river forest mall theater gym kitchen zoo cafe bakery harbor village".split()
)
OBJECTS: tuple[str, ...] = tuple(
    "ring kiss bone basketball computer necklace drink snack book key flower ball cake hat bag phone coin "
    "gift pen cup apple map toy box shirt watch camera ticket candle guitar".split()
)


@dataclass(frozen=True)
class CompiledTemplate:
    """A template as GPT-2 token pieces: each piece is a tuple of token ids (fixed text) or a slot name."""

    text: str
    pieces: tuple[tuple[int, ...] | str, ...]

    @property
    def length(self) -> int:
        """Tokens in the filled template (every slot is one token)."""
        return sum(1 if isinstance(p, str) else len(p) for p in self.pieces)

    @property
    def slot_offsets(self) -> dict[str, int]:
        """Token offset of the first occurrence of each slot within the template (no BOS)."""
        out: dict[str, int] = {}
        offset = 0
        for piece in self.pieces:
            if isinstance(piece, str):
                out.setdefault(piece, offset)
                offset += 1
            else:
                offset += len(piece)
        return out

    def fill(self, values: dict[str, int | tuple[int, ...]]) -> list[int]:
        """GPT-2 token ids with every slot replaced by `values[slot]`: one GPT-2 id, or several (a phrase, which
        shifts the positions after it)."""
        out: list[int] = []
        for piece in self.pieces:
            if isinstance(piece, str):
                value = values[piece]
                out.extend(value) if isinstance(value, tuple) else out.append(value)
            else:
                out.extend(piece)
        return out


def compile_template(text: str) -> CompiledTemplate:
    """Split a template into tokenized fixed text and slots; a slot takes the space before it, as names do
    mid-sentence (" Mary"), so the text before each slot must end in a space (or the slot start the text)."""
    gpt2 = GPT2Tokenizer()
    pieces: list[tuple[int, ...] | str] = []
    cursor = 0
    for match in SLOT_PATTERN.finditer(text):
        fixed = text[cursor : match.start()]
        if match.start() > 0:
            if not fixed.endswith(" ") and not (cursor > 0 and fixed == ""):
                raise DataError(f"template {text!r}: slot {match.group(0)} must follow a space")
            fixed = fixed[:-1] if fixed.endswith(" ") else fixed
        if fixed:
            pieces.append(tuple(gpt2.encode(fixed)))
        pieces.append(match.group(1))
        cursor = match.end()
    if text[cursor:]:
        pieces.append(tuple(gpt2.encode(text[cursor:])))
    return CompiledTemplate(text=text, pieces=tuple(pieces))


def compile_ioi_template(text: str) -> CompiledTemplate:
    """An IOI template, checked: N1, N2, S and IO exactly once each, IO the last token."""
    template = compile_template(text)
    slots = [p for p in template.pieces if isinstance(p, str)]
    for slot in IOI_SLOTS:
        if slots.count(slot) != 1:
            raise DataError(f"IOI template {text!r} must hold {{{slot}}} exactly once")
    if template.pieces[-1] != "IO":
        raise DataError(f"IOI template {text!r} must end with {{IO}} (the answer is the next token)")
    if template.pieces[0] in IOI_SLOTS:
        raise DataError(f"IOI template {text!r} must not start with a name (it would lack its leading space)")
    return template
