"""Question-answer rows in the minGPT birthplace layout: `question MASK answer MASK`, loss on the answer only.

Where the prompt (`question MASK`) sits in a row never depends on the answer, so that greedy decoding sees
exactly the positions training saw and a row's layout cannot leak the answer's length:

- side="right" (minGPT): the prompt starts at position 0, padding follows the answer;
- side="left": the prompt ends `ANSWER_SLOT` characters before the row's end, and the answer and its closing
  mask fill that slot (then padding). The answer is near the end of the row, where a PerceiverAR-style model,
  which predicts only the last positions, can produce it.

>>> tok = char_vocabulary("Where was Ada born?London")
>>> rows = qa_rows([("Where was Ada born?", "London")], tok, block_size=48, side="left")
>>> tok.decode([t for t in rows.targets[0].tolist() if t != IGNORE])
'London⁇'
>>> prompt_offset("Where was Ada born?", block_size=48, side="left") + len(prompt_text("Where was Ada born?"))
33
>>> answer_from("London" + MASK_CHAR + "xyz")
'London'
"""

from collections.abc import Sequence

from interp.core.errors import DataError
from interp.tasks.birthplace.span_corruption import IGNORE, MASK_CHAR, Rows, char_vocabulary, encode_rows  # noqa: F401
from interp.text.tokenizers import CharTokenizer

QAPair = tuple[str, str]
ANSWER_SLOT = 16  # characters for an answer and its closing mask in the left layout


def prompt_text(question: str) -> str:
    """What the model reads before answering: the question and a mask character."""
    return question + MASK_CHAR


def qa_text(question: str, answer: str) -> str:
    return prompt_text(question) + answer + MASK_CHAR


def prompt_offset(question: str, *, block_size: int, side: str) -> int:
    """Index in a row of block_size + 1 characters where the prompt of `question` starts."""
    if side == "right":
        return 0
    offset = block_size + 1 - ANSWER_SLOT - len(prompt_text(question))
    if offset < 0:
        raise DataError(f"the question {question!r} and a {ANSWER_SLOT}-character answer slot do not fit block_size={block_size}")
    return offset


def qa_rows(pairs: Sequence[QAPair], tokenizer: CharTokenizer, *, block_size: int, side: str = "right") -> Rows:
    """Padded rows of `question MASK answer MASK`; only the answer and its closing mask are scored."""
    if not pairs:
        raise DataError("no question-answer pairs")
    if side == "left":
        too_long = [a for _, a in pairs if len(a) + 1 > ANSWER_SLOT]
        if too_long:
            raise DataError(f"answers longer than {ANSWER_SLOT - 1} characters do not fit the answer slot: {too_long[:3]}")
    return encode_rows(
        [qa_text(q, a) for q, a in pairs],
        tokenizer,
        block_size=block_size,
        side=side,
        score_from=[len(prompt_text(q)) for q, _ in pairs],
        offsets=[prompt_offset(q, block_size=block_size, side=side) for q, _ in pairs],
    )


def answer_from(generated: str) -> str:
    """The answer in generated text: everything before the first mask character."""
    return generated.split(MASK_CHAR, 1)[0]
