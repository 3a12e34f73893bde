"""A slow, literal reference for `interp.analysis.induction.series`: reload each checkpoint, loop over heads and positions.

Written straight from the definitions in `head_scores` and `induction` with Python loops and no shared
helpers, so that the fast series evaluation can be tested against it and benchmarked beside it.

>>> from interp.analysis.induction.probes import make_probe
>>> from interp.analysis.induction.series import evaluate_series
>>> from interp.train.checkpoints import list_checkpoints
>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> run_dir = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).run_dir   # 10 steps, 1 s
>>> probe = make_probe(vocab=torch.arange(64), n_ctx=16, batch=4, generator=torch.Generator().manual_seed(0))
>>> naive, fast = reference_series(list_checkpoints(run_dir), probe), evaluate_series(list_checkpoints(run_dir), probe)
>>> torch.allclose(naive.heads.induction, fast.heads.induction, atol=1e-5)
True
"""

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from interp.analysis.induction.head_scores import HeadScores
from interp.analysis.induction.probes import ICLPositions, InductionLoss, InductionProbe
from interp.analysis.induction.series import CheckpointEvaluation, InductionSeries, series_from_evaluations
from interp.train.checkpoints import Checkpoint, load_model


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _repeated_scores(pattern: torch.Tensor, rows: torch.Tensor, offset: int) -> dict[str, list[float]]:
    """pattern [batch query key] of one head on r+r rows: previous-token and after-previous-occurrence."""
    previous, after = [], []
    for b in range(rows.shape[0]):
        last_seen: dict[int, int] = {}
        for q in range(rows.shape[1]):
            token = int(rows[b, q])
            if q >= offset + 1:
                previous.append(float(pattern[b, q, q - 1]))
            if token in last_seen and last_seen[token] + 1 < q:
                after.append(float(pattern[b, q, last_seen[token] + 1]))
            last_seen[token] = q
    return {"previous": previous, "after": after}


def _span_scores(pattern: torch.Tensor, probe: InductionProbe) -> dict[str, list[float]]:
    """pattern [batch query key] of one head on the repeated-span rows: previous-token, prefix-matching, duplicate."""
    rows = probe.spans
    previous, prefix, duplicate = [], [], []
    for b in range(rows.shape[0]):
        start, length = int(probe.span_second[b]), int(probe.span_length[b])
        for q in range(probe.offset + 1, rows.shape[1]):
            previous.append(float(pattern[b, q, q - 1]))
            if start <= q < start + length:
                token = int(rows[b, q])
                prefix.append(sum(float(pattern[b, q, k]) for k in range(1, q) if int(rows[b, k - 1]) == token))
                duplicate.append(sum(float(pattern[b, q, k]) for k in range(q) if int(rows[b, k]) == token))
    return {"previous": previous, "prefix": prefix, "duplicate": duplicate}


def _copying(model, layer: int, head: int, z: torch.Tensor, pattern: torch.Tensor, probe: InductionProbe) -> float:
    state = model.state_dict()
    W_O = model.W_O[layer, head]
    W_U = model.W_U
    norm = model.cfg.normalization_type
    pool = [int(t) for t in probe.vocab]
    values = []
    for b in range(probe.repeated.shape[0]):
        for q in range(probe.second_copy.start, probe.second_copy.stop):
            out = z[b, q, head] @ W_O
            if norm in ("LN", "LNPre"):
                out = out - out.mean()
            if norm in ("LN", "RMS"):
                out = out * state["ln_final.weight"]
            logits = out @ W_U
            token = int(probe.repeated[b, int(pattern[b, q].argmax())])
            if token not in pool:
                continue
            own = float(logits[token])
            others = [float(logits[t]) for t in pool if t != token]
            r = (sum(v < own for v in others) + 0.5 * sum(v == own for v in others)) / len(others)
            values.append(2 * r - 1)
    return _mean(values)


def _ov_copying(model, layer: int, head: int, vocab: torch.Tensor) -> float:
    state = model.state_dict()
    norm = model.cfg.normalization_type
    W_E, W_V, W_O, W_U = model.W_E, model.W_V[layer, head], model.W_O[layer, head], model.W_U
    if norm in ("LN", "LNPre"):
        W_E = W_E - W_E.mean(-1, keepdim=True)
        W_O = W_O - W_O.mean(-1, keepdim=True)
    if norm in ("LN", "RMS"):
        W_V = W_V * state[f"blocks.{layer}.ln1.weight"][:, None]
        W_U = W_U * state["ln_final.weight"][:, None]
    full = (W_E @ W_V @ W_O @ W_U)[vocab][:, vocab].double()
    eigenvalues = torch.linalg.eigvals(full)
    total = float(eigenvalues.abs().sum())
    return float(eigenvalues.sum().real) / total if total > 1e-12 else 0.0  # a zero circuit copies nothing


@torch.no_grad()
def reference_evaluation(checkpoint: Checkpoint, probe: InductionProbe) -> CheckpointEvaluation:
    """Everything `evaluate_model` measures, the slow way: a fresh model and one cached forward per head."""
    model = load_model(checkpoint)
    cfg = model.cfg
    shape = (cfg.n_layers, cfg.n_heads)
    scores = {
        name: torch.zeros(shape) for name in ("previous_token", "induction", "prefix_matching", "duplicate_token", "copying")
    }
    ov = torch.zeros(shape)
    for layer in range(cfg.n_layers):
        for head in range(cfg.n_heads):
            name, z_name = f"blocks.{layer}.attn.hook_pattern", f"blocks.{layer}.attn.hook_z"
            _, cache = model.run_with_cache(probe.repeated, names_filter=[name, z_name])
            on_repeated = cache[name][:, head]
            z = cache[z_name]
            _, cache = model.run_with_cache(probe.spans, names_filter=[name])
            on_spans = cache[name][:, head]
            rep = _repeated_scores(on_repeated, probe.repeated, probe.offset)
            span = _span_scores(on_spans, probe)
            scores["previous_token"][layer, head] = _mean(rep["previous"] + span["previous"])
            scores["induction"][layer, head] = _mean(rep["after"])
            scores["prefix_matching"][layer, head] = _mean(span["prefix"])
            scores["duplicate_token"][layer, head] = _mean(span["duplicate"])
            scores["copying"][layer, head] = _copying(model, layer, head, z, on_repeated, probe)
            ov[layer, head] = _ov_copying(model, layer, head, probe.vocab)

    logits = model(probe.repeated)
    per_position = torch.zeros(probe.repeated.shape[1] - 1)
    for k in range(probe.repeated.shape[1] - 1):
        per_position[k] = F.cross_entropy(logits[:, k], probe.repeated[:, k + 1])
    o, h = probe.offset, probe.half
    first = _mean([float(per_position[t - 1]) for t in range(o + 1, o + h)])
    repeated = _mean([float(per_position[t - 1]) for t in range(o + h + 1, o + 2 * h)])
    icl = math.nan
    if probe.text is not None:
        at = ICLPositions.default(probe.text.shape[1])
        text_logits = model(probe.text)

        def window_loss(end: int) -> float:  # mean loss of the `window` tokens ending at token `end`
            return _mean(
                [float(F.cross_entropy(text_logits[:, t - 1], probe.text[:, t])) for t in range(end - at.window + 1, end + 1)]
            )

        icl = window_loss(at.late) - window_loss(at.early)
    return CheckpointEvaluation(
        heads=HeadScores(**scores),
        ov_copying=ov,
        loss=InductionLoss(per_position=per_position, first_half=first, repeated_half=repeated),
        icl=icl,
    )


def reference_series(checkpoints: Sequence[Checkpoint], probe: InductionProbe) -> InductionSeries:
    """`evaluate_series`, the slow way."""
    return series_from_evaluations(checkpoints, [reference_evaluation(c, probe) for c in checkpoints])
