"""Greedy answers to questions and exact-match accuracy, for any model mapping tokens to (last-position) logits.

Prompts are laid out as in training: left padding puts every prompt's end at the last position of a
block_size window (all prompts decode as one batch); right padding, as in minGPT, runs each prompt length
unpadded from position 0 (one batch per length).

>>> result = exact_match(model, tokenizer, pairs, block_size=128, side="left")   # doctest: +SKIP
>>> result.accuracy, result.predictions[:2]                                    # doctest: +SKIP
(0.41, ('London', 'Paris'))
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Int
from torch import Tensor

from interp.data.qa import QAPair, answer_from, prompt_text
from interp.data.span_corruption import MASK_CHAR, pad_text
from interp.tokenizers import CharTokenizer


@dataclass(frozen=True)
class QAResult:
    """Exact-match accuracy over `pairs`, with every prediction."""

    accuracy: float
    correct: int
    total: int
    predictions: tuple[str, ...]
    answers: tuple[str, ...]


@torch.no_grad()
def _greedy(model, ids: Int[Tensor, "batch pos"], *, steps: int, window: int, stop: int) -> Int[Tensor, "batch new_pos"]:
    out = []
    done = torch.zeros(ids.shape[0], dtype=torch.bool)
    for _ in range(steps):
        next_id = model(ids[:, -window:])[:, -1].argmax(dim=-1)
        out.append(next_id)
        done |= next_id == stop
        if done.all():
            break
        ids = torch.cat([ids, next_id[:, None]], dim=1)
    return torch.stack(out, dim=1)


def greedy_answers(
    model,
    tokenizer: CharTokenizer,
    questions: Sequence[str],
    *,
    block_size: int,
    side: str = "right",
    max_chars: int = 24,
    batch_size: int = 256,
) -> list[str]:
    """The model's greedy answer to each question (text up to the first mask character)."""
    was_training = model.training
    model.eval()
    stop = tokenizer.encode(MASK_CHAR)[0]
    prompts = [prompt_text(q) for q in questions]
    answers: list[str] = [""] * len(prompts)
    if side == "left":
        groups = [list(range(len(prompts)))]
    else:
        by_length: dict[int, list[int]] = {}
        for i, p in enumerate(prompts):
            by_length.setdefault(len(p), []).append(i)
        groups = list(by_length.values())
    for group in groups:
        for start in range(0, len(group), batch_size):
            chunk = group[start : start + batch_size]
            texts = [pad_text(prompts[i], block_size, side="left") if side == "left" else prompts[i] for i in chunk]
            ids = torch.tensor([tokenizer.encode(t) for t in texts], dtype=torch.long)
            generated = _greedy(model, ids, steps=max_chars + 1, window=block_size, stop=stop)
            for row, i in enumerate(chunk):
                answers[i] = answer_from(tokenizer.decode(generated[row].tolist()))
    model.train(was_training)
    return answers


def exact_match(
    model, tokenizer: CharTokenizer, pairs: Sequence[QAPair], *, block_size: int, side: str = "right", max_chars: int = 24
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
