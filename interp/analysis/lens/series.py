"""Logit lens beside tuned lens at every chosen checkpoint of a run: a tuned lens trained per checkpoint on the
training rows, both measured on held-out rows, the model built once.

>>> import tempfile
>>> from pathlib import Path
>>> import interp
>>> checkpoints = interp.train_run("tiny", Path(tempfile.mkdtemp()) / "run", progress=False).checkpoints   # 1 s
>>> tokens = torch.randint(checkpoints[0].config.d_vocab, (8, 16), generator=torch.Generator().manual_seed(0))
>>> series, lenses = lens_series(checkpoints, tokens[:4], tokens[4:], steps=20)
>>> series.steps, series.kl_logit.shape, sorted(lenses)          # [checkpoint layer], one lens per step
((0, 1, 10), torch.Size([3, 3]), [0, 1, 10])
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.lens.metrics import LensMetrics, lens_metrics
from interp.analysis.lens.training import LensTraining, train_tuned_lens
from interp.analysis.lens.translators import TunedLens
from interp.analysis.logit_attribution.series import series_model
from interp.core.device import DeviceLike
from interp.train.checkpoints import Checkpoint, load_into

SERIES_TENSORS = (
    "kl_logit",
    "kl_logit_sem",
    "kl_tuned",
    "kl_tuned_sem",
    "prob_logit",
    "prob_tuned",
    "top1_logit",
    "top1_tuned",
    "head_kl",
    "train_seconds",
)


@dataclass(frozen=True, eq=False)
class LensSeries:
    """Per checkpoint and layer (0..n_layers, the last the final stream): mean KL to the final prediction (with
    standard errors over rows), target probability and top-1 rate under both lenses, each head's logit-lens KL,
    and the seconds each tuned lens took to train (NaN where none was trained)."""

    steps: tuple[int, ...]
    tokens_seen: tuple[int, ...]
    kl_logit: Float[Tensor, "checkpoint layer"]
    kl_logit_sem: Float[Tensor, "checkpoint layer"]
    kl_tuned: Float[Tensor, "checkpoint layer"]
    kl_tuned_sem: Float[Tensor, "checkpoint layer"]
    prob_logit: Float[Tensor, "checkpoint layer"]
    prob_tuned: Float[Tensor, "checkpoint layer"]
    top1_logit: Float[Tensor, "checkpoint layer"]
    top1_tuned: Float[Tensor, "checkpoint layer"]
    head_kl: Float[Tensor, "checkpoint layer head"]
    train_seconds: Float[Tensor, " checkpoint"]

    def tensors(self) -> dict[str, Tensor]:
        return {name: getattr(self, name) for name in SERIES_TENSORS}


def _summaries(logit: LensMetrics, tuned: LensMetrics | None) -> dict[str, Tensor]:
    out = {}
    for name, metrics in (("logit", logit), ("tuned", tuned)):
        if metrics is None:
            nan = torch.full((len(logit.layers),), torch.nan, dtype=torch.float64)
            out.update({f"kl_{name}": nan, f"kl_{name}_sem": nan, f"prob_{name}": nan, f"top1_{name}": nan})
            continue
        out[f"kl_{name}"], out[f"kl_{name}_sem"] = metrics.per_layer("kl")
        out[f"prob_{name}"] = metrics.per_layer("prob")[0]
        out[f"top1_{name}"] = metrics.per_layer("top1")[0]
    out["head_kl"] = logit.per_layer("kl", heads=True)[0]
    return out


def lens_series(
    checkpoints: Sequence[Checkpoint],
    train_tokens: Int[Tensor, "batch pos"],
    test_tokens: Int[Tensor, "batch pos"],
    *,
    tuned: bool = True,
    steps: int = 250,
    lr: float = 1e-2,
    batch_size: int = 16,
    seed: int = 0,
    device: DeviceLike = "cpu",
    progress: Callable[[Checkpoint], None] | None = None,
) -> tuple[LensSeries, dict[int, tuple[TunedLens, LensTraining]]]:
    """Logit (and, with `tuned`, tuned) lens metrics on `test_tokens` at every checkpoint, and the tuned lens
    trained on `train_tokens` at each (by step)."""
    model = series_model(checkpoints, device)
    rows, lenses = [], {}
    for ckpt in checkpoints:
        if progress is not None:
            progress(ckpt)
        load_into(model, ckpt.path, ckpt.config)
        model.eval()
        trained = None
        if tuned:
            trained = train_tuned_lens(model, train_tokens, steps=steps, lr=lr, batch_size=batch_size, seed=seed)
            lenses[ckpt.step] = trained
        logit = lens_metrics(model, test_tokens)
        tuned_metrics = None if trained is None else lens_metrics(model, test_tokens, lens=trained[0], heads=False)
        summary = _summaries(logit, tuned_metrics)
        summary["train_seconds"] = torch.tensor(torch.nan if trained is None else trained[1].seconds, dtype=torch.float64)
        rows.append(summary)
    stacked = {name: torch.stack([row[name] for row in rows]) for name in SERIES_TENSORS}
    series = LensSeries(
        steps=tuple(c.step for c in checkpoints), tokens_seen=tuple(c.tokens_seen for c in checkpoints), **stacked
    )
    return series, lenses
