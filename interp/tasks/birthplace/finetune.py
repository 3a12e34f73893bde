"""A small AdamW loop for rows with masked targets: span-corruption pretraining and QA finetuning.

The main loop (`interp.train.loop`) trains next-token loss on every position of packed rows. Here each batch
is a `Rows` (inputs, targets) with ignored targets (padding, the question of a QA row), produced by a function
of the step so that a run is reproducible from its seed. It works for any model mapping tokens to logits,
including models that predict only the last positions (the PerceiverAR variant): the logits are matched
with the last targets.

>>> import interp
>>> from interp.tasks.birthplace.qa import qa_rows
>>> from interp.tasks.birthplace.span_corruption import char_vocabulary
>>> pairs = [("Where was Ada born?", "London"), ("Where was Max born?", "Paris")]
>>> tok = char_vocabulary("".join(q + a for q, a in pairs))
>>> rows = qa_rows(pairs, tok, block_size=32)                     # loss on the answers only
>>> cfg = interp.ModelConfig(n_layers=1, d_model=32, n_ctx=32, d_head=8, n_heads=4, d_vocab=tok.vocab_size, attn_only=True)
>>> model = interp.build_model(cfg)
>>> result = train_on_rows(model, lambda step: rows, TrainConfig(steps=20, batch_size=2, eval_every=10))
>>> result.log_steps, result.losses[-1] < result.losses[0], result.scored_tokens    # 13 answer targets per step
((10, 20), True, 260)
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.errors import DataError, TrainingDiverged
from interp.tasks.birthplace.span_corruption import IGNORE, Rows
from interp.train.config import TrainConfig
from interp.train.schedule import learning_rate

BatchFn = Callable[[int], Rows]  # step -> the rows to train on at that step (deterministic)


@dataclass(frozen=True)
class LoopResult:
    """Mean training loss per logging interval (`log_steps[i]` is the last step of interval i)."""

    losses: tuple[float, ...]
    log_steps: tuple[int, ...]
    steps: int
    seconds: float
    scored_tokens: int  # targets that carried loss, over the whole run

    @property
    def final_loss(self) -> float:
        return self.losses[-1]


def masked_loss(
    logits: Float[Tensor, "batch query_pos vocab"], targets: Int[Tensor, "batch pos"]
) -> tuple[Float[Tensor, ""], int]:
    """Mean cross-entropy over targets that are not IGNORE, and how many there were.

    When the model predicts only the last positions (query_pos < pos), those are matched with the last targets.
    A batch without any scored target has loss 0 (not NaN).
    """
    if logits.shape[1] > targets.shape[1]:
        raise DataError(f"{logits.shape[1]} positions of logits for {targets.shape[1]} targets")
    targets = targets[:, targets.shape[1] - logits.shape[1] :]
    total = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )
    count = int((targets != IGNORE).sum())
    return total / max(count, 1), count


def train_on_rows(
    model: torch.nn.Module,
    batches: BatchFn,
    cfg: TrainConfig,
    *,
    log_every: int | None = None,
    on_log: Callable[[int, float], None] | None = None,
) -> LoopResult:
    """Train `model` in place for `cfg.steps` steps on `batches(step)`; returns the loss curve.

    Uses `cfg`'s optimiser settings (AdamW, lr schedule with warmup, clipping) and `cfg.threads`; `cfg.seed`
    is for the caller's batch function (the model is already initialised). Logs every `log_every` steps
    (default `cfg.eval_every`).
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    every = log_every or cfg.eval_every
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
    model.train()
    losses: list[float] = []
    log_steps: list[int] = []
    running, count, scored = 0.0, 0, 0
    started = time.perf_counter()
    for step in range(cfg.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step)
        rows = batches(step)
        loss, n_scored = masked_loss(model(rows.inputs), rows.targets)
        value = loss.item()
        if not math.isfinite(value):
            raise TrainingDiverged(f"loss became {value} at step {step}; lower train.lr or set train.grad_clip")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        running, count, scored = running + value, count + 1, scored + n_scored
        if (step + 1) % every == 0 or step + 1 == cfg.steps:
            losses.append(running / count)
            log_steps.append(step + 1)
            if on_log is not None:
                on_log(step + 1, losses[-1])
            running, count = 0.0, 0
    model.eval()
    return LoopResult(
        losses=tuple(losses),
        log_steps=tuple(log_steps),
        steps=cfg.steps,
        seconds=time.perf_counter() - started,
        scored_tokens=scored,
    )
