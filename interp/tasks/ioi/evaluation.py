"""How well a model does IOI: logit difference (IO - S) and accuracy per split and per name order.

Accuracy is the fraction of prompts where the IO logit beats the S logit (the IOI paper's task accuracy);
`top1` is the stricter fraction where the IO is the model's top prediction over the whole vocabulary.
Logits are read at each prompt's `end_pos` (prompts are right-padded).

>>> import interp
>>> from interp.tasks.ioi.prompts import ioi_corpus
>>> corpus = ioi_corpus()
>>> cfg = interp.ModelConfig(n_layers=1, d_model=16, n_ctx=32, d_head=8, n_heads=2, d_vocab=corpus.tokenizer.vocab_size,
...     attn_only=True)
>>> scores = evaluate_ioi(interp.build_model(cfg), corpus, n=16)     # an untrained model of the corpus's vocabulary
>>> list(scores), list(scores["names"]), scores["names"]["BABA"]["n"]
(['train', 'names', 'templates', 'both'], ['all', 'ABBA', 'BABA'], 8)
>>> sorted(scores["names"]["BABA"])
['accuracy', 'logit_diff', 'n', 'top1']
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor

from interp.tasks.ioi.prompts import ORDERS, SPLITS, IOICorpus, IOIPrompts

EVAL_SEED = 12_345  # evaluation prompts: a seed no training step uses (training draws with other seeds)


@dataclass(frozen=True)
class IOIScores:
    """Per-prompt results on a batch of IOI prompts."""

    logit_diff: Float[Tensor, " batch"]
    io_beats_s: Float[Tensor, " batch"]
    top1: Float[Tensor, " batch"]

    def summary(self, rows: Tensor | None = None) -> dict[str, float]:
        pick = (lambda t: t) if rows is None else (lambda t: t[rows])
        return {
            "logit_diff": float(pick(self.logit_diff).mean()),
            "accuracy": float(pick(self.io_beats_s).mean()),
            "top1": float(pick(self.top1).mean()),
            "n": int(pick(self.logit_diff).numel()),
        }


def final_logits(logits: Float[Tensor, "batch pos vocab"], prompts: IOIPrompts) -> Float[Tensor, "batch vocab"]:
    """Logits at each prompt's end position."""
    return logits[torch.arange(logits.shape[0]), prompts.end_pos]


@torch.no_grad()
def score_prompts(model, prompts: IOIPrompts, *, corrupted: bool = False, batch_size: int = 256) -> IOIScores:
    """Logit difference and accuracies of `model` on the clean (or corrupted) prompts."""
    tokens = prompts.corrupted if corrupted else prompts.clean
    finals = torch.cat(
        [
            model(tokens[i : i + batch_size])[torch.arange(len(tokens[i : i + batch_size])), prompts.end_pos[i : i + batch_size]]
            for i in range(0, len(tokens), batch_size)
        ]
    )
    rows = torch.arange(len(tokens))
    io, s = finals[rows, prompts.io], finals[rows, prompts.s]
    return IOIScores(logit_diff=io - s, io_beats_s=(io > s).float(), top1=(finals.argmax(-1) == prompts.io).float())


def evaluate_ioi(
    model, corpus: IOICorpus, *, n: int = 256, seed: int = EVAL_SEED, half: str | None = None
) -> dict[str, dict[str, dict[str, float]]]:
    """{split: {"all" | "ABBA" | "BABA": {logit_diff, accuracy, top1, n}}} on `n` fresh prompts per split
    (held-out names and templates from one `half` of them if given: "validation" or "test")."""
    was_training = model.training
    model.eval()
    out: dict[str, dict[str, dict[str, float]]] = {}
    try:
        for split in SPLITS:
            prompts = corpus.prompts(n, split=split, seed=seed, half=half)
            scores = score_prompts(model, prompts)
            out[split] = {"all": scores.summary()}
            for order in ORDERS:
                out[split][order] = scores.summary(prompts.abba if order == "ABBA" else ~prompts.abba)
    finally:
        model.train(was_training)
    return out


def per_template_scores(model, corpus: IOICorpus, *, split: str = "templates", n: int = 128, seed: int = EVAL_SEED) -> list[dict]:
    """Logit difference and accuracy per template of `split` and per name order: an average over templates can
    hide one template the model gets wrong."""
    rows = []
    for template in sorted({t for group in corpus.layouts(split) for t in group}):
        for order in ORDERS:
            prompts = corpus.prompts(n, split=split, seed=seed, order=order, templates=[template])
            summary = score_prompts(model, prompts).summary()
            rows.append(
                {"template": template, "order": order, "logit_diff": summary["logit_diff"], "accuracy": summary["accuracy"]}
            )
    return rows


def per_name_scores(
    model, corpus: IOICorpus, *, split: str = "names", n: int = 2048, order: str | None = None, seed: int = EVAL_SEED
) -> list[dict]:
    """Accuracy and logit difference per IO name on `n` prompts of `split` (worst first), with how often the
    same name is beaten when it is the S: a split's average can hide a few names the model gets wrong."""
    prompts = corpus.prompts(n, split=split, seed=seed, order=order)
    scores = score_prompts(model, prompts)
    rows = []
    for name in sorted(set(prompts.io.tolist())):
        as_io, as_s = prompts.io == name, prompts.s == name
        rows.append(
            {
                "name": corpus.tokenizer.decode([name]).strip(),
                "n": int(as_io.sum()),
                "accuracy": float(scores.io_beats_s[as_io].mean()),
                "logit_diff": float(scores.logit_diff[as_io].mean()),
                "accuracy_as_s": float(scores.io_beats_s[as_s].mean()) if bool(as_s.any()) else float("nan"),
            }
        )
    return sorted(rows, key=lambda r: (r["accuracy"], r["name"]))


def format_scores(scores: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    """One line per split: logit diff and accuracy overall, then ABBA and BABA."""
    lines = []
    for split, by_order in scores.items():
        parts = [f"{split:9s}"]
        for key in ("all", "ABBA", "BABA"):
            r = by_order[key]
            parts.append(f"{key} {r['logit_diff']:+6.2f} / {r['accuracy']:.0%} (top1 {r['top1']:.0%})")
        lines.append("  ".join(parts))
    return lines


def worst_heldout_accuracy(scores: dict[str, dict[str, dict[str, float]]]) -> float:
    """The lowest accuracy over the held-out splits and both name orders: what a run is chosen by."""
    return min(scores[split][order]["accuracy"] for split in SPLITS if split != "train" for order in ORDERS)


def choose_run(summaries: list[dict], key: str = "validation") -> dict:
    """Model selection on validation prompts: of several runs' final scores (`summaries[i][key]` = scores of the
    last checkpoint on the validation half), the one whose worst held-out accuracy is highest; the first on a tie.

    Runs are compared at their last checkpoint, a fixed training budget: picking the best of many checkpoints by a
    noisy validation statistic picked lucky ones that did worse on the test half (analyses/ioi_train.py).
    """
    if not summaries:
        raise ValueError("no runs to choose from")
    return max(summaries, key=lambda s: worst_heldout_accuracy(s[key]))
