"""Logit lens and tuned lens metrics per layer, head and position: KL divergence to the model's final prediction,
and the target token's rank and probability.

Layer L < n_layers reads the residual stream entering block L (through the tuned lens's translator, if one is
given, else as it is: the logit lens), layer n_layers the final stream (the model's own logits, KL 0). Each
head's output z @ W_O is read alone through the logit lens (no translator: they are trained on whole streams).
Targets are the next token at every position (-1, none, at the last); for a task, the answer at its read
position (`lens_targets`).

TransformerLens 4.3's `logit_lens` runs on raw native bridges and is the tests' reference (equal to 1e-5). It
is not called here because it reads the accumulated residual stream only (no head outputs), runs its own forward
per call (we read the logit lens, the tuned lens and every head from one cached run), and gives ranks or the full
vocabulary's log-probabilities per call, not both: the KL needs a second call.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11)).eval()
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> metrics = lens_metrics(model, tokens)
>>> metrics.kl.shape, metrics.head_kl.shape                   # [batch layer pos], [batch layer head pos]
(torch.Size([4, 3, 8]), torch.Size([4, 2, 2, 8]))
>>> float(metrics.kl[:, -1].abs().max()) < 1e-5               # the final layer is the model's prediction
True
>>> lens_metrics(model, tokens, layers=[5])
Traceback (most recent call last):
    ...
interp.analysis.lens.translators.LensError: lens layer 5 does not exist: the model has layers 0..1 (the stream entering each block) and 2 (the final stream)
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.cache import check_tokens
from interp.analysis.core.task import Task
from interp.analysis.lens.readout import Readout, kl_to_final, target_rank_and_prob
from interp.analysis.lens.translators import TunedLens, check_layers, translate
from interp.analysis.logit_attribution.capture import run_keeping
from interp.analysis.logit_attribution.result import mean_sem
from interp.core.device import module_device
from interp.core.errors import DataError

PER_LAYER = ("kl", "prob", "rank", "top1")


def lens_targets(tokens: Int[Tensor, "batch pos"], task: Task | None = None) -> Int[Tensor, "batch pos"]:
    """The next token at every position (-1 at the last); with a task, its answer at each row's read position.

    >>> lens_targets(torch.tensor([[5, 6, 7]])).tolist()
    [[6, 7, -1]]
    """
    targets = torch.full_like(tokens, -1)
    targets[:, :-1] = tokens[:, 1:]
    if task is not None:
        targets[torch.arange(tokens.shape[0]), task.metric.positions] = task.metric.correct.to(targets.dtype)
    return targets


def layer_labels(layers: tuple[int, ...], n_layers: int) -> tuple[str, ...]:
    """'resid_pre0', ..., 'final' for lens entries."""
    return tuple("final" if layer == n_layers else f"resid_pre{layer}" for layer in layers)


@dataclass(frozen=True, eq=False)
class LensMetrics:
    """One lens on a batch of rows (CPU tensors). `rank` is -1 and `prob` NaN where a position has no target."""

    lens: str  # "logit lens" or "tuned lens"
    layers: tuple[int, ...]
    n_layers: int
    kl: Float[Tensor, "batch layer pos"]
    rank: Int[Tensor, "batch layer pos"]
    prob: Float[Tensor, "batch layer pos"]
    targets: Int[Tensor, "batch pos"]
    head_kl: Float[Tensor, "batch layer head pos"] | None = None
    head_rank: Int[Tensor, "batch layer head pos"] | None = None
    head_prob: Float[Tensor, "batch layer head pos"] | None = None
    read_positions: Int[Tensor, " batch"] | None = None  # a task's read position per row

    @property
    def labels(self) -> tuple[str, ...]:
        return layer_labels(self.layers, self.n_layers)

    def _values(self, name: str, heads: bool) -> Tensor:
        if name not in PER_LAYER:
            raise DataError(f"unknown lens metric {name!r}; choose one of {', '.join(PER_LAYER)}")
        prefix = "head_" if heads else ""
        if heads and self.head_kl is None:
            raise DataError("these lens metrics were computed without heads (heads=False)")
        if name == "top1":
            rank = getattr(self, f"{prefix}rank")
            return torch.where(rank >= 0, (rank == 0).double(), torch.nan)
        values = getattr(self, f"{prefix}{name}").double()
        return torch.where(values >= 0, values, torch.nan) if name == "rank" else values

    def per_layer(self, name: str = "kl", *, heads: bool = False, at_read: bool = False) -> tuple[Tensor, Tensor]:
        """Mean over rows (and standard error) of each row's mean over positions ([layer], or [layer head]);
        positions without a target are left out of prob, rank and top1; `at_read`: only each row's read position."""
        values = self._values(name, heads)
        if at_read:
            if self.read_positions is None:
                raise DataError("these lens metrics have no read positions; give a task")
            index = self.read_positions.view(-1, *([1] * (values.ndim - 1))).expand(*values.shape[:-1], 1)
            per_row = values.gather(-1, index).squeeze(-1)
        else:
            per_row = values.nanmean(-1)
        return mean_sem(per_row)

    def per_position(self, name: str = "kl") -> Float[Tensor, "layer pos"]:
        """Mean over rows at each layer and position."""
        return self._values(name, heads=False).nanmean(0)


@torch.no_grad()
def lens_metrics(
    model,
    tokens: Int[Tensor, "batch pos"],
    *,
    lens: TunedLens | None = None,
    targets: Int[Tensor, "batch pos"] | None = None,
    layers=None,
    heads: bool = True,
    read_positions: Int[Tensor, " batch"] | None = None,
    batch_size: int = 32,
) -> LensMetrics:
    """The logit lens (lens=None) or a tuned lens on `tokens`, in mini-batches, where the model lives."""
    check_tokens(tokens, model)
    cfg = model.cfg
    chosen = check_layers(layers, cfg.n_layers)
    if lens is not None:
        lens.check_fits(cfg.n_layers, cfg.d_model)
    targets = lens_targets(tokens) if targets is None else targets
    if targets.shape != tokens.shape:
        raise DataError(f"targets must have the tokens' shape {tuple(tokens.shape)}, got {tuple(targets.shape)}")
    if int(targets.max()) >= cfg.d_vocab or int(targets.min()) < -1:
        raise DataError(f"target ids must be in [0, {cfg.d_vocab}) or -1 (none), got {int(targets.min())}..{int(targets.max())}")
    device = module_device(model)
    readout = Readout.of(model)
    names = [f"blocks.{layer}.hook_resid_pre" for layer in chosen if layer < cfg.n_layers]
    names += [f"blocks.{cfg.n_layers - 1}.hook_resid_post"] if cfg.n_layers in chosen else []
    names += [f"blocks.{layer}.attn.hook_z" for layer in range(cfg.n_layers)] if heads else []
    parts = []
    for start in range(0, tokens.shape[0], batch_size):
        chunk, chunk_targets = tokens[start : start + batch_size].to(device), targets[start : start + batch_size].to(device)
        logits, kept = run_keeping(model, chunk, names)
        final = torch.log_softmax(logits.float(), dim=-1)

        def measure(stream: Tensor, final=final, chunk_targets=chunk_targets) -> tuple[Tensor, Tensor, Tensor]:
            read = readout.logits(stream)
            return (kl_to_final(final, read), *target_rank_and_prob(read, chunk_targets))

        rows = []
        for layer in chosen:
            name = f"blocks.{layer}.hook_resid_pre" if layer < cfg.n_layers else f"blocks.{cfg.n_layers - 1}.hook_resid_post"
            rows.append(measure(translate(lens, kept[name], layer, cfg.n_layers)))
        part = {key: torch.stack([r[i] for r in rows], dim=1).cpu() for i, key in enumerate(("kl", "rank", "prob"))}
        if heads:
            per_head = []
            for layer in range(cfg.n_layers):
                outputs = readout.head_outputs(layer, kept[f"blocks.{layer}.attn.hook_z"]).transpose(1, 2)  # batch head pos m
                final_h, targets_h = final[:, None], chunk_targets[:, None].expand(-1, cfg.n_heads, -1)
                read = readout.logits(outputs)
                per_head.append((kl_to_final(final_h, read), *target_rank_and_prob(read, targets_h)))
            for i, key in enumerate(("head_kl", "head_rank", "head_prob")):
                part[key] = torch.stack([h[i] for h in per_head], dim=1).cpu()
        parts.append(part)
    merged = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
    return LensMetrics(
        lens="logit lens" if lens is None else "tuned lens",
        layers=chosen,
        n_layers=cfg.n_layers,
        targets=targets.cpu(),
        read_positions=None if read_positions is None else torch.as_tensor(read_positions).cpu(),
        **merged,
    )
