"""Activation patching, batched: every cell of a sweep restarts from the patched layer, many cells per forward.

The standard experiment (TransformerLens's `get_act_patch_*`): run the *corrupted* prompts, replace one
activation cell by its value in the *clean* run, and read the metric; normalised, 1 means the cell alone
restores the clean answer and 0 means it changes nothing. `direction="noising"` is the converse experiment: run
the *clean* prompts and replace one cell by its *corrupted* value; normalised the same way (clean = 1, corrupted
= 0), a cell near 0 is one the clean answer cannot do without, a cell near 1 one it does not need. Denoising finds
what suffices, noising what is necessary. Kinds and result axes (TransformerLens layouts):

    resid_pre, attn_out, mlp_out        [layer pos]         one position of the residual stream / a layer output
    z                                   [layer head]        a head's output (z, so z @ W_O) at every position
    z_by_pos                            [layer pos head]
    q, k, v                             [layer head]        a head's query / key / value input at every position
    q_by_pos, k_by_pos, v_by_pos        [layer pos head]
    pattern                             [layer head]        a head's whole attention pattern
    pattern_by_pos                      [layer head pos]    one destination row of it

How it is fast, and still exact:
- Nothing before the patched layer is recomputed: both runs are cached once (`partial_forward.forward_cache`).
- Cells that patch one head are stacked along a `unit` axis: one partial forward per (layer, position).
- The patched layer itself is done in closed form: an edit of z, q or a pattern row changes the block's output
  only through that head's z @ W_O; an edit of k or v re-runs that head's attention alone.
- Causality: positions before the first patched position — and before the first token where the clean and
  corrupted prompts differ — are identical to the corrupted run in every later layer, so only the tail of
  the sequence is recomputed (`partial_forward.tail_logits`), reading cached keys and values for the rest; the last
  block computes queries only at the positions the metric reads, and nothing after them is ever computed.
Results agree with TransformerLens's per-cell loop to float32 rounding (tests/unit/analysis/test_patching.py). The partial
forwards are many small tensor operations: on a shared CPU, `torch.set_num_threads(1)` is much faster.

>>> import interp
>>> cfg = interp.ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True)
>>> model = interp.build_model(cfg)
>>> clean = torch.randint(0, 11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> corrupted = clean.clone()
>>> corrupted[:, 2] = (clean[:, 2] + 1) % 11                                  # one token changed per row
>>> metric = LogitDiff(correct=clean[:, 3], wrong=corrupted[:, 2], positions=7)
>>> result = activation_patching(model, clean, corrupted, metric, kind="resid_pre")
>>> result.normalised.shape, result.axes
(torch.Size([2, 8]), ('layer', 'pos'))
>>> torch.allclose(result.normalised[0], torch.eye(8)[2], atol=1e-5)   # only the changed token's stream matters at layer 0
True
"""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.cache import check_tokens
from interp.analysis.core.metrics import LogitDiff, normalise
from interp.analysis.core.task import Task, task_inputs
from interp.analysis.patching.partial_forward import (
    OneChange,
    RunCache,
    check_supported,
    forward_cache,
    tail_logits,
)
from interp.core.errors import InterpError
from interp.model.engine.attention import attention_scale, causal_z, mixed_z
from interp.model.engine.weights import Weights

AXES: dict[str, tuple[str, ...]] = {
    "resid_pre": ("layer", "pos"),
    "attn_out": ("layer", "pos"),
    "mlp_out": ("layer", "pos"),
    "z": ("layer", "head"),
    "q": ("layer", "head"),
    "k": ("layer", "head"),
    "v": ("layer", "head"),
    "pattern": ("layer", "head"),
    "z_by_pos": ("layer", "pos", "head"),
    "q_by_pos": ("layer", "pos", "head"),
    "k_by_pos": ("layer", "pos", "head"),
    "v_by_pos": ("layer", "pos", "head"),
    "pattern_by_pos": ("layer", "head", "pos"),
}
KINDS = tuple(AXES)
DIRECTIONS = ("denoising", "noising")  # clean cells into the corrupted run, or corrupted cells into the clean run
ALIASES = {"resid": "resid_pre", "attn": "attn_out", "mlp": "mlp_out", "heads": "z", "head_out": "z", "heads_by_pos": "z_by_pos"}
MAX_ROWS = 4096  # unit * batch rows per partial forward


class PatchingError(InterpError, ValueError):
    """A patching request does not fit the model or the data."""


@dataclass(frozen=True)
class PatchingResult:
    """Metric per patched cell (mean over rows), in TransformerLens's layout for the kind, plus the two baselines."""

    kind: str
    axes: tuple[str, ...]
    values: Float[Tensor, "..."]
    clean: float
    corrupted: float
    seconds: float
    direction: str = "denoising"

    @property
    def normalised(self) -> Float[Tensor, "..."]:
        """(value - corrupted) / (clean - corrupted). Denoising: 1 = the cell restores the clean metric, 0 = no
        effect. Noising: 1 = no effect, 0 = corrupting the cell alone destroys the clean metric."""
        return normalise(self.values, self.clean, self.corrupted)

    @property
    def no_effect(self) -> float:
        """The normalised value of a cell that changes nothing: the base run's (0 denoising, 1 noising)."""
        return 1.0 if self.direction == "noising" else 0.0


def resolve_kind(kind: str) -> str:
    name = ALIASES.get(kind, kind)
    if name not in AXES:
        raise PatchingError(f"unknown patching kind {kind!r}; choose one of {', '.join(KINDS)} (or {', '.join(ALIASES)})")
    return name


@dataclass(frozen=True)
class _Group:
    """Units patched in one partial forward: where each goes in the result, and the stream entering `start`
    at positions first.. (built lazily for a slice of the units, when the group runs)."""

    cells: list[tuple[int, ...]]  # result index of each unit
    start: int
    first: int
    build: Callable[[slice], Float[Tensor, "unit batch tail d_model"] | OneChange]  # OneChange: one position per unit differs


@dataclass(frozen=True, eq=False)
class Prepared:
    """The weight snapshot and both cached runs: what every sweep on one pair of token tensors restarts from.
    Build it once with `prepare` to run several kinds without recomputing it."""

    weights: Weights
    scale: float
    clean_tokens: Tensor
    corrupted_tokens: Tensor
    clean: RunCache
    corrupted: RunCache
    read: Tensor | None = None  # the positions the cached logits cover (None: all)


@torch.no_grad()
def prepare(
    model,
    clean_tokens: Int[Tensor, "batch pos"] | Task,
    corrupted_tokens: Int[Tensor, "batch pos"] | None = None,
    read: Int[Tensor, " batch"] | None = None,
) -> Prepared:
    """Snapshot the weights and cache the clean and corrupted runs (checks the model is supported). With `read`
    (the metric's positions), the cached runs hold logits only there: all patching reads. Given a `Task`, its
    tokens and its metric's positions."""
    if isinstance(clean_tokens, Task):
        read = clean_tokens.metric.positions if read is None else read
        clean_tokens, corrupted_tokens, _ = task_inputs(clean_tokens, corrupted_tokens, None)
    elif corrupted_tokens is None:
        raise PatchingError("prepare needs corrupted tokens beside the clean ones, or a Task")
    check_supported(model)
    w, scale = Weights.of(model), attention_scale(model)
    clean, corrupted = (forward_cache(w, tokens, scale, read=read) for tokens in (clean_tokens, corrupted_tokens))
    return Prepared(w, scale, clean_tokens, corrupted_tokens, clean, corrupted, read)


@torch.no_grad()
def activation_patching(
    model,
    clean_tokens: Int[Tensor, "batch pos"] | Task,
    corrupted_tokens: Int[Tensor, "batch pos"] | None = None,
    metric: LogitDiff | None = None,
    kind: str = "z",
    *,
    prepared: Prepared | None = None,
    direction: str = "denoising",
    max_rows: int = MAX_ROWS,
) -> PatchingResult:
    """Patch every cell of `kind` from the clean run into the corrupted run (`direction="noising"`: from the
    corrupted run into the clean run); metric mean over rows per cell. `prepared` (from `prepare` on the same
    tokens, in the same argument order whatever the direction) skips the weight snapshot and the two cached runs.
    A `Task` may stand for the tokens and the metric: `activation_patching(model, task, kind="z")`."""
    started = time.perf_counter()
    clean_tokens, corrupted_tokens, metric = task_inputs(clean_tokens, corrupted_tokens, metric)
    kind = resolve_kind(kind)
    if direction not in DIRECTIONS:
        raise PatchingError(
            f"unknown direction {direction!r}; choose 'denoising' (clean into corrupted) or 'noising' (corrupted into clean)"
        )
    _check_inputs(model, clean_tokens, corrupted_tokens, metric, kind)
    if prepared is None:
        prepared = prepare(model, clean_tokens, corrupted_tokens, read=metric.positions)
    elif not (torch.equal(prepared.clean_tokens, clean_tokens) and torch.equal(prepared.corrupted_tokens, corrupted_tokens)):
        raise PatchingError("`prepared` was built for other tokens; call prepare(model, clean_tokens, corrupted_tokens) again")
    elif prepared.read is not None and not torch.equal(prepared.read, metric.positions):
        raise PatchingError(
            "`prepared` holds logits at other positions than the metric reads; call prepare(..., read=metric.positions)"
        )
    w, scale, read = prepared.weights, prepared.scale, metric.positions
    clean_value = float(metric.from_final(prepared.clean.logits[torch.arange(len(read)), read]).mean())
    corrupted_value = float(metric.from_final(prepared.corrupted.logits[torch.arange(len(read)), read]).mean())
    # the run cells come from (source) and the run they go into (base): the machinery below is one-directional
    source, base, source_tokens, base_tokens, base_value = (
        (prepared.clean, prepared.corrupted, clean_tokens, corrupted_tokens, corrupted_value)
        if direction == "denoising"
        else (prepared.corrupted, prepared.clean, corrupted_tokens, clean_tokens, clean_value)
    )
    shape = _result_shape(model, kind, clean_tokens.shape[1])
    values = torch.full(shape, base_value)  # cells that cannot change anything keep the base run's value
    step = max(1, max_rows // len(read))
    for group in _groups(w, scale, kind, source, base, source_tokens, base_tokens, read):
        for lo in range(0, len(group.cells), step):
            units = slice(lo, min(lo + step, len(group.cells)))
            picked = tail_logits(w, group.build(units), group.start, group.first, base, read, scale, columns=metric.columns)
            per_unit = metric.from_columns(picked).mean(dim=1)
            for cell, value in zip(group.cells[units], per_unit.tolist()):
                values[cell] = value
    return PatchingResult(kind, AXES[kind], values, clean_value, corrupted_value, time.perf_counter() - started, direction)


def _check_inputs(model, clean: Tensor, corrupted: Tensor, metric: LogitDiff, kind: str) -> None:
    check_tokens(clean, model)
    check_tokens(corrupted, model)
    if clean.shape != corrupted.shape:
        raise PatchingError(f"clean {tuple(clean.shape)} and corrupted {tuple(corrupted.shape)} tokens must have the same shape")
    if len(metric) != clean.shape[0]:
        raise PatchingError(f"the metric has {len(metric)} rows but the tokens have {clean.shape[0]}")
    if int(metric.positions.min()) < 0 or int(metric.positions.max()) >= clean.shape[1]:
        raise PatchingError(
            f"metric positions must be in [0, {clean.shape[1]}); got {metric.positions.min()}..{metric.positions.max()}"
        )
    if kind == "mlp_out" and model.cfg.attn_only:
        raise PatchingError("an attention-only model has no MLP to patch; use attn_out or resid_pre")


def _result_shape(model, kind: str, pos: int) -> tuple[int, ...]:
    sizes = {"layer": model.cfg.n_layers, "head": model.cfg.n_heads, "pos": pos}
    return tuple(sizes[a] for a in AXES[kind])


def first_difference(clean: Tensor, corrupted: Tensor) -> int:
    """First position where any row of the two token tensors differs (their length if none)."""
    differs = (clean != corrupted).any(dim=0).nonzero()
    return int(differs[0]) if len(differs) else clean.shape[1]


def _groups(
    w: Weights,
    scale: float,
    kind: str,
    clean: RunCache,
    corrupted: RunCache,
    clean_tokens: Tensor,
    corrupted_tokens: Tensor,
    read: Tensor,
) -> Iterator[_Group]:
    """The partial forwards of a sweep, one per layer (per position for k_by_pos and v_by_pos). Positions
    before the first differing token and after the last read position cannot change the metric; their cells
    keep the corrupted value and are skipped."""
    n_layers, n_heads = w.n_layers, w.n_heads
    begin, end = first_difference(clean_tokens, corrupted_tokens), int(read.max()) + 1
    if begin >= end:
        return
    positions = range(begin, end)
    for layer in range(n_layers):
        if kind in ("z", "q", "k", "v", "pattern"):
            cells = [(layer, h) for h in range(n_heads)]
            yield _Group(cells, layer + 1, begin, _all_positions(w, scale, kind, layer, clean, corrupted, begin, end))
        elif kind in ("k_by_pos", "v_by_pos"):  # a key or value reaches every later query: the tail is dense
            for pos in positions:
                cells = [(layer, pos, h) for h in range(n_heads)]
                yield _Group(cells, layer + 1, pos, _key_or_value(w, scale, kind, layer, clean, corrupted, pos, end))
        else:  # one position changes: per position, its cells (one, or one per head) in one sparse partial forward
            per_head = kind not in ("resid_pre", "attn_out", "mlp_out")
            if per_head:
                base, new = _head_edit(w, scale, kind, layer, clean, corrupted, begin, end)  # new: pos head batch d_model
            else:
                base, new = _layer_edit(w, kind, clean, corrupted, layer, begin, end)
                new = new.unsqueeze(1)  # pos 1 batch d_model
            start = layer if kind == "resid_pre" else layer + 1
            chosen = list(positions)
            if start == n_layers:  # after the last block a change at p reaches only the logits at p
                chosen = [p for p in chosen if bool((read == p).any())]
            if not chosen:
                continue

            def cells_at(pos: int, layer: int = layer, per_head: bool = per_head) -> list[tuple[int, ...]]:
                if not per_head:
                    return [(layer, pos)]
                return [(layer, h, pos) if kind == "pattern_by_pos" else (layer, pos, h) for h in range(n_heads)]

            offsets = torch.tensor(chosen) - begin
            if start >= n_layers - 1:  # only read rows are computed from here on: all positions in one forward
                changed = offsets.repeat_interleave(new.shape[1])
                cells = [cell for pos in chosen for cell in cells_at(pos)]
                yield _Group(cells, start, begin, _one_change(base, new[offsets].flatten(0, 1), changed))
                continue
            for offset, pos in zip(offsets.tolist(), chosen):  # each tail starts at its position: less to recompute
                changed = torch.zeros(new.shape[1], dtype=torch.long)
                yield _Group(cells_at(pos), start, pos, _one_change(base[:, offset:], new[offset], changed))


# ---- the patched layer, in closed form -------------------------------------------------------------------


def _one_change(base: Tensor, new: Tensor, changed: Tensor) -> Callable[[slice], OneChange]:
    """Builder of per-unit streams: `base` [batch tail d_model] with tail position changed[u] set to new[u]."""

    def build(units: slice) -> OneChange:
        return OneChange(base, new[units], changed[units])

    return build


def _layer_edit(
    w: Weights, kind: str, clean: RunCache, corrupted: RunCache, layer: int, begin: int, end: int
) -> tuple[Tensor, Tensor]:
    """(stream at begin..end-1, per position the stream with that one position patched [pos batch d_model])."""
    if kind == "resid_pre":
        return corrupted.resid_pre[layer][:, begin:end], clean.resid_pre[layer][:, begin:end].transpose(0, 1)
    base = corrupted.resid_post[layer][:, begin:end]
    if kind == "mlp_out":
        new = base + clean.mlp_out[layer][:, begin:end] - corrupted.mlp_out[layer][:, begin:end]
    else:  # the attention output feeds the MLP at the same position
        mid = (
            corrupted.resid_mid[layer][:, begin:end]
            + clean.attn_out[layer][:, begin:end]
            - corrupted.attn_out[layer][:, begin:end]
        )
        new = w.finish_block(layer, mid)
    return base, new.transpose(0, 1)


def _head_edit(
    w: Weights, scale: float, kind: str, layer: int, clean: RunCache, corrupted: RunCache, begin: int, end: int
) -> tuple[Tensor, Tensor]:
    """(stream leaving `layer` at begin..end-1, per position and head the stream there with only that head's
    z at that position patched [pos head batch d_model]). A query or pattern row at position p changes z at p only."""
    if kind == "z_by_pos":
        z_new = clean.z[layer][:, begin:end]
    elif kind == "q_by_pos":  # every query position at once: each output depends on its own query only
        z_new = causal_z(
            clean.q[layer][:, begin:end], corrupted.k[layer][:, :end], corrupted.v[layer][:, :end], scale, query_offset=begin
        )
    else:
        z_new = mixed_z(clean.pattern[layer][:, :, begin:end, :end], corrupted.v[layer][:, :end])
    delta = w.head_outputs(layer, z_new - corrupted.z[layer][:, begin:end])  # batch pos head d_model
    mid = corrupted.resid_mid[layer][:, begin:end].unsqueeze(2) + delta
    new = w.finish_block(layer, mid)  # batch pos head d_model
    return corrupted.resid_post[layer][:, begin:end], einops.rearrange(new, "batch pos head d_model -> pos head batch d_model")


def _per_head_stream(
    w: Weights, layer: int, corrupted: RunCache, z_new: Tensor, lo: int, hi: int
) -> Float[Tensor, "head batch tail d_model"]:
    """Residual stream leaving block `layer` at positions lo..hi-1, one copy per head h in which only head h's
    z is replaced by z_new[..., h, :] (z_new: [batch tail head d_head])."""
    delta = w.head_outputs(layer, z_new - corrupted.z[layer][:, lo:hi])  # batch tail head d_model
    mid = corrupted.resid_mid[layer][:, lo:hi].unsqueeze(0) + delta.permute(2, 0, 1, 3)
    return w.finish_block(layer, mid)


def _key_or_value(
    w: Weights, scale: float, kind: str, layer: int, clean: RunCache, corrupted: RunCache, pos: int, end: int
) -> Callable[[slice], Tensor]:
    """Per-head patches of a key or value at `pos`: every later query of that head changes; the tail is pos..end-1."""

    def build(units: slice) -> Tensor:
        k, v = corrupted.k[layer][:, :end].clone(), corrupted.v[layer][:, :end].clone()
        source = clean.k[layer] if kind == "k_by_pos" else clean.v[layer]
        (k if kind == "k_by_pos" else v)[:, pos] = source[:, pos]
        z_new = causal_z(corrupted.q[layer][:, pos:end], k, v, scale, query_offset=pos)
        return _per_head_stream(w, layer, corrupted, z_new, pos, end)[units]

    return build


def _all_positions(
    w: Weights, scale: float, kind: str, layer: int, clean: RunCache, corrupted: RunCache, begin: int, end: int
) -> Callable[[slice], Tensor]:
    """Per-head patches of every position of layer `layer`; the tail is begin..end-1."""

    def build(units: slice) -> Tensor:
        q, k, v = (corrupted.q[layer], corrupted.k[layer], corrupted.v[layer])
        if kind == "z":
            z_new = clean.z[layer][:, begin:end]
        elif kind == "pattern":
            z_new = mixed_z(clean.pattern[layer][:, :, begin:end, :end], v[:, :end])
        else:
            q, k, v = (
                clean.q[layer] if kind == "q" else q,
                clean.k[layer] if kind == "k" else k,
                clean.v[layer] if kind == "v" else v,
            )
            z_new = causal_z(q[:, begin:end], k[:, :end], v[:, :end], scale, query_offset=begin)
        return _per_head_stream(w, layer, corrupted, z_new, begin, end)[units]

    return build
