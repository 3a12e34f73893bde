"""Question-answer rows in the minGPT birthplace layout: `question MASK answer MASK`, loss on the answer only.

>>> tok = char_vocabulary("Where was Ada born?London")
>>> rows = qa_rows([("Where was Ada born?", "London")], tok, block_size=32)
>>> tok.decode([t for t in rows.targets[0].tolist() if t != IGNORE])
'London⁇'
>>> answer_from("London" + MASK_CHAR + "xyz")
'London'
"""

from collections.abc import Sequence

from interp.data.span_corruption import IGNORE, MASK_CHAR, Rows, char_vocabulary, encode_rows  # noqa: F401
from interp.errors import DataError
from interp.tokenizers import CharTokenizer

QAPair = tuple[str, str]


def prompt_text(question: str) -> str:
    """What the model reads before answering: the question and a mask character."""
    return question + MASK_CHAR


def qa_text(question: str, answer: str) -> str:
    return prompt_text(question) + answer + MASK_CHAR


def qa_rows(pairs: Sequence[QAPair], tokenizer: CharTokenizer, *, block_size: int, side: str = "right") -> Rows:
    """Padded rows of `question MASK answer MASK`; only the answer and its closing mask are scored."""
    if not pairs:
        raise DataError("no question-answer pairs")
    texts = [qa_text(q, a) for q, a in pairs]
    return encode_rows(
        texts, tokenizer, block_size=block_size, side=side, score_from=[len(prompt_text(q)) for q, _ in pairs]
    )


def answer_from(generated: str) -> str:
    """The answer in generated text: everything before the first mask character."""
    return generated.split(MASK_CHAR, 1)[0]
