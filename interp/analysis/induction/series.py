"""Induction scores and losses for every checkpoint of a run, fast: one model, one hooked forward per checkpoint.

The model is built once; each checkpoint's weights are loaded into it. One forward on the probe's
repeated + repeated-span rows keeps only the attention pattern and z of each layer (a hook-free forward
over the bridge's Parameters, `pattern_forward`, checked against the bridge's hooks), and all five head
scores, the induction loss and the weight-based OV copying score come from that. Held-out text rows (for
the ICL score) take a second forward that keeps nothing but logits.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4, d_vocab=20, attn_only=True))
>>> probe = make_probe(vocab=torch.arange(20), n_ctx=16, batch=4, generator=torch.Generator().manual_seed(0))
>>> evaluate_model(model, probe).heads.induction.shape             # [layer head]
torch.Size([2, 4])
>>> import tempfile
>>> from pathlib import Path
>>> from interp.train.checkpoints import list_checkpoints
>>> import interp
>>> run_dir = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).run_dir   # 10 steps, 1 s
>>> checkpoints = list_checkpoints(run_dir)
>>> series = evaluate_series(checkpoints, probe_for_run(checkpoints[-1]))
>>> series.steps, series.heads.induction.shape                    # [checkpoint layer head]
((0, 1, 10), torch.Size([3, 2, 2]))
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor

from interp.analysis.circuits.qk_ov import circuit_weights, ov_copying_scores
from interp.analysis.induction.head_scores import HeadScores, score_heads
from interp.analysis.induction.pattern_forward import pattern_forward
from interp.analysis.induction.phase import PhaseChange, detect_phase_change
from interp.analysis.induction.probes import (
    ICLPositions,
    InductionError,
    InductionLoss,
    InductionProbe,
    check_every_position,
    icl_score_from_losses,
    induction_loss_from_logits,
    make_probe,
    token_losses,
)
from interp.core.errors import CheckpointError
from interp.train.checkpoints import Checkpoint, load_into
from interp.variants.perceiver_ar_io import is_perceiver_checkpoint


@dataclass(frozen=True)
class CheckpointEvaluation:
    """Everything measured on one model: head scores, OV copying score, induction loss, ICL score (NaN without text)."""

    heads: HeadScores
    ov_copying: Float[Tensor, "layer head"]
    loss: InductionLoss
    icl: float


@torch.no_grad()
def hooked_forward(model: torch.nn.Module, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Logits, patterns [layer batch head query key] and z [layer batch query head d_head] from one forward."""
    n_layers = model.cfg.n_layers
    store: dict[str, Tensor] = {}

    def keeper(name: str):
        def keep(tensor: Tensor, hook) -> None:
            store[name] = tensor.detach()

        return keep

    # the bridge fires hook_z under an alias, so key the stored tensors by the name we asked for
    names = [f"blocks.{layer}.attn.hook_{kind}" for layer in range(n_layers) for kind in ("pattern", "z")]
    with model.hooks(fwd_hooks=[(name, keeper(name)) for name in names]):
        logits = model(tokens)
    patterns = torch.stack([store[f"blocks.{layer}.attn.hook_pattern"] for layer in range(n_layers)])
    z = torch.stack([store[f"blocks.{layer}.attn.hook_z"] for layer in range(n_layers)])
    return logits, patterns, z


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    probe: InductionProbe,
    *,
    icl: ICLPositions | None = None,
    text_forward: Callable[[Tensor], Tensor] | None = None,
    probe_forward: Callable[[Tensor], tuple[Tensor, Tensor, Tensor]] | None = None,
) -> CheckpointEvaluation:
    """All induction measurements of `model` on `probe` (example in the module docstring).

    `probe_forward` returns (logits, patterns, z) for the probe rows (default: the model's own hooks);
    `text_forward` computes logits for the text rows (default: the model). The series passes hook-free
    forwards over the same Parameters (`pattern_forward`, `interp.model.engine.fast_forward`).
    """
    check_every_position(model, "evaluate_model")
    weights = circuit_weights(model, fold_layernorm=True)
    unembed = torch.einsum("lhdm,mv->lhdv", weights.W_O, weights.W_U[:, probe.vocab])
    tokens = torch.cat([probe.repeated, probe.spans])
    logits, patterns, z = (probe_forward or (lambda t: hooked_forward(model, t)))(tokens)
    icl_value = math.nan
    if probe.text is not None:
        losses = token_losses((text_forward or model)(probe.text), probe.text)
        icl_value = icl_score_from_losses(losses, icl or ICLPositions.default(probe.text.shape[1]))
    return CheckpointEvaluation(
        heads=score_heads(patterns, z, probe, unembed),
        ov_copying=ov_copying_scores(weights, vocab=probe.vocab),
        loss=induction_loss_from_logits(logits, probe),
        icl=icl_value,
    )


@dataclass(frozen=True)
class InductionSeries:
    """Measurements over a run's checkpoints; every tensor has a leading checkpoint axis."""

    steps: tuple[int, ...]
    tokens_seen: tuple[int, ...]
    heads: HeadScores
    ov_copying: Float[Tensor, "checkpoint layer head"]
    per_position_loss: Float[Tensor, "checkpoint prediction"]
    first_half_loss: Float[Tensor, " checkpoint"]
    repeated_half_loss: Float[Tensor, " checkpoint"]
    icl_score: Float[Tensor, " checkpoint"]

    def phase_change(self, *, min_rise: float = 0.25) -> PhaseChange:
        """Where the induction scores of this series jump (see `interp.analysis.induction.phase.detect_phase_change`)."""
        return detect_phase_change(
            steps=self.steps,
            tokens_seen=self.tokens_seen,
            induction_scores=self.heads.induction,
            induction_loss=self.repeated_half_loss,
            icl_score=self.icl_score,
            min_rise=min_rise,
        )

    def to_json_dict(self) -> dict:
        """Per-step tables as plain lists: {"steps": [...], "heads": {"induction": [[[..]]]}, ...} (NaN -> None)."""

        def clean(value):
            if isinstance(value, list):
                return [clean(v) for v in value]
            return None if isinstance(value, float) and not math.isfinite(value) else value

        return {
            "steps": list(self.steps),
            "tokens_seen": list(self.tokens_seen),
            "heads": {name: clean(t.tolist()) for name, t in self.heads.as_dict().items()},
            "ov_copying": clean(self.ov_copying.tolist()),
            "first_half_loss": clean(self.first_half_loss.tolist()),
            "repeated_half_loss": clean(self.repeated_half_loss.tolist()),
            "icl_score": clean(self.icl_score.tolist()),
            "per_position_loss": clean(self.per_position_loss.tolist()),
        }


def series_from_evaluations(checkpoints: Sequence[Checkpoint], results: Sequence[CheckpointEvaluation]) -> InductionSeries:
    return InductionSeries(
        steps=tuple(c.step for c in checkpoints),
        tokens_seen=tuple(c.tokens_seen for c in checkpoints),
        heads=HeadScores.stack([r.heads for r in results]),
        ov_copying=torch.stack([r.ov_copying for r in results]),
        per_position_loss=torch.stack([r.loss.per_position for r in results]),
        first_half_loss=torch.tensor([r.loss.first_half for r in results]),
        repeated_half_loss=torch.tensor([r.loss.repeated_half for r in results]),
        icl_score=torch.tensor([r.icl for r in results]),
    )


def evaluate_series(
    checkpoints: Sequence[Checkpoint],
    probe: InductionProbe,
    *,
    icl: ICLPositions | None = None,
    progress: Callable[[Checkpoint], None] | None = None,
) -> InductionSeries:
    """Evaluate every checkpoint (all of one architecture) on the same probe, building the model only once."""
    from interp.model.build import build_model
    from interp.model.engine.fast_forward import fast_forward

    if not checkpoints:
        raise CheckpointError("no checkpoints to evaluate; train a run first (interp train)")
    if is_perceiver_checkpoint(checkpoints[0].path):
        raise InductionError(
            f"evaluate_series needs a model that predicts every position; {checkpoints[0].path} holds a PerceiverAR. "
            "Load it with interp.load and read its attention with interp.analysis.cache_activations"
        )
    config = checkpoints[0].config
    for ckpt in checkpoints:
        if ckpt.config != config:
            raise CheckpointError(
                f"{ckpt.path} has a different architecture from {checkpoints[0].path}; evaluate one run at a time"
            )
    model = build_model(config)
    # hook-free forwards read the same Parameters, which load_into below updates in place
    text_forward = fast_forward(model, config)
    probe_forward = pattern_forward(model)
    results = []
    for ckpt in checkpoints:
        if progress is not None:
            progress(ckpt)
        load_into(model, ckpt.path, config)
        results.append(evaluate_model(model.eval(), probe, icl=icl, text_forward=text_forward, probe_forward=probe_forward))
    return series_from_evaluations(checkpoints, results)


def probe_for_run(
    checkpoint: Checkpoint,
    *,
    batch: int = 32,
    seed: int = 0,
    cache_dir: Path | None = None,
    text_rows: int = 256,
    min_count: int = 100,
) -> InductionProbe:
    """The probe for a run: tokens the model saw often, and held-out text rows when the run had a corpus.

    Span lengths follow the run's training data when they fit. The pool is the run's synthetic-token vocabulary when it trained on repeated spans (drawn uniformly, so
    all seen often), else the corpus tokens seen at least `min_count` times. Without a recorded run config,
    the whole vocabulary and no text.
    """
    cfg = checkpoint.config
    generator = torch.Generator().manual_seed(seed)
    run = checkpoint.run
    if run is None:
        return make_probe(vocab=torch.arange(cfg.d_vocab), n_ctx=cfg.n_ctx, batch=batch, generator=generator)
    from interp.text.tokenizers import tokenizer_from_dict
    from interp.train.data import TrainingData

    tokenizer = tokenizer_from_dict(checkpoint.tokenizer) if checkpoint.tokenizer else None
    data = TrainingData.prepare(run, cache_dir=cache_dir, tokenizer=tokenizer)
    # other corpora (e.g. generated IOI sentences) may bring their own data object without these fields
    packed, synthetic = getattr(data, "packed", None), getattr(data, "synthetic_vocab", None)
    text = None if packed is None else packed.val[:text_rows]
    if packed is not None and run.data.repeated_fraction == 0:
        counts = torch.bincount(packed.train.flatten(), minlength=cfg.d_vocab)
        vocab = torch.nonzero(counts >= min_count)[:, 0]
    else:
        vocab = synthetic if synthetic is not None else torch.arange(cfg.d_vocab)
    half = min(cfg.n_ctx // 2, len(vocab))
    spans = {}
    if run.data.span_max <= half:
        spans = {"span_min": run.data.span_min, "span_max": run.data.span_max}
    return make_probe(vocab=vocab, n_ctx=cfg.n_ctx, batch=batch, generator=generator, half=half, text=text, **spans)
