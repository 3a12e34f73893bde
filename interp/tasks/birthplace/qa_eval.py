"""Greedy answers to questions and exact-match accuracy, for any model mapping tokens to (last-position) logits.

Prompts are laid out exactly as in training (`interp.tasks.birthplace.qa`): from position 0 (side="right", minGPT) or
ending a fixed answer slot before the row's end (side="left"), so every answer is decoded at the positions it
was trained at, and all questions decode as one batch.

>>> import interp
>>> from interp.tasks.birthplace.finetune import train_on_rows
>>> from interp.tasks.birthplace.qa import qa_rows
>>> from interp.tasks.birthplace.span_corruption import char_vocabulary
>>> from interp.train.config import TrainConfig
>>> pairs = [("Where was Ada born?", "London"), ("Where was Max born?", "Paris")]
>>> tokenizer = char_vocabulary("".join(q + a for q, a in pairs))
>>> cfg = interp.ModelConfig(n_layers=1, d_model=32, n_ctx=40, d_head=8, n_heads=4, d_vocab=tokenizer.vocab_size, attn_only=True)
>>> model = interp.build_model(cfg)
>>> rows = qa_rows(pairs, tokenizer, block_size=40, side="left")
>>> _ = train_on_rows(model, lambda step: rows, TrainConfig(steps=50, batch_size=2, lr=1e-2))   # memorise both
>>> result = exact_match(model, tokenizer, pairs, block_size=40, side="left")
>>> result.accuracy, result.predictions
(1.0, ('London', 'Paris'))
>>> constant_answer_accuracy(pairs, "London").accuracy             # the baseline: always the commonest city
0.5
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from interp.core.errors import DataError
from interp.tasks.birthplace.qa import QAPair, answer_from, prompt_offset, prompt_text
from interp.tasks.birthplace.span_corruption import MASK_CHAR, PAD_CHAR, place_text
from interp.text.tokenizers import CharTokenizer


@dataclass(frozen=True)
class QAResult:
    """Exact-match accuracy over `pairs`, with every prediction."""

    accuracy: float
    correct: int
    total: int
    predictions: tuple[str, ...]
    answers: tuple[str, ...]


@torch.no_grad()
def greedy_answers(
    model,
    tokenizer: CharTokenizer,
    questions: Sequence[str],
    *,
    block_size: int,
    side: str = "right",
    max_chars: int | None = None,
    batch_size: int = 256,
) -> list[str]:
    """The model's greedy answer to each question (text up to the first mask character).

    Rows are laid out as in training (`interp.tasks.birthplace.qa.prompt_offset`) and always block_size long, padded after
    what has been generated so far; causal attention makes the padding invisible to the position read. A model
    that predicts only the last positions (PerceiverAR) therefore sees the same latents as in training.
    """
    was_training = model.training
    model.eval()
    stop, pad = tokenizer.encode(MASK_CHAR + PAD_CHAR)
    answers: list[str] = []
    for first in range(0, len(questions), batch_size):
        chunk = questions[first : first + batch_size]
        texts = [place_text(prompt_text(q), block_size, prompt_offset(q, block_size=block_size, side=side)) for q in chunk]
        ids = torch.tensor([tokenizer.encode(t) for t in texts], dtype=torch.long)
        rows = torch.arange(len(chunk))
        # Position of each row's last real character: the prompt's closing mask, then each generated character.
        position = torch.tensor([prompt_offset(q, block_size=block_size, side=side) + len(prompt_text(q)) - 1 for q in chunk])
        limit = block_size - 1 - int(position.max()) if max_chars is None else max_chars
        generated = torch.full((len(chunk), max(limit, 0) + 1), stop)
        done = torch.zeros(len(chunk), dtype=torch.bool)
        for k in range(limit + 1):
            logits = model(ids)
            index = position - (block_size - logits.shape[1])
            if int(index.min()) < 0:
                raise DataError(
                    f"the model predicts only the last {logits.shape[1]} positions; a prompt ends earlier (raise n_latents)"
                )
            next_id = logits[rows, index].argmax(dim=-1)
            generated[:, k] = torch.where(done, stop, next_id)
            done |= next_id == stop
            position = position + 1
            if done.all() or int(position.max()) >= block_size:
                break
            ids[rows, position] = torch.where(done, pad, next_id)
        answers += [answer_from(tokenizer.decode(row.tolist())) for row in generated]
    model.train(was_training)
    return answers


def exact_match(
    model,
    tokenizer: CharTokenizer,
    pairs: Sequence[QAPair],
    *,
    block_size: int,
    side: str = "right",
    max_chars: int | None = None,
) -> QAResult:
    """Fraction of questions whose greedy answer equals the reference exactly."""
    predictions = greedy_answers(model, tokenizer, [q for q, _ in pairs], block_size=block_size, side=side, max_chars=max_chars)
    answers = [a for _, a in pairs]
    correct = sum(p == a for p, a in zip(predictions, answers))
    return QAResult(
        accuracy=correct / len(pairs) if pairs else 0.0,
        correct=correct,
        total=len(pairs),
        predictions=tuple(predictions),
        answers=tuple(answers),
    )


def constant_answer_accuracy(pairs: Sequence[QAPair], answer: str) -> QAResult:
    """The baseline that always answers `answer` (e.g. "London")."""
    answers = [a for _, a in pairs]
    correct = sum(a == answer for a in answers)
    return QAResult(
        accuracy=correct / len(pairs) if pairs else 0.0,
        correct=correct,
        total=len(pairs),
        predictions=tuple(answer for _ in pairs),
        answers=tuple(answers),
    )
