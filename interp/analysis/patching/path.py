"""Path patching (Wang et al. 2022, "Interpretability in the Wild"): how much of a sender head's effect goes
through a given path — straight to the logits, or into some receiver heads' queries, keys or values.

The definition used here, for every sender head s at once (one stacked copy per sender):

1. Run the clean and the corrupted prompts, caching every activation.
2. Run the clean prompts with s's output (z) taken from the corrupted run and every *other* head frozen at its
   clean output; MLPs are recomputed (so paths through MLPs count, as in the paper and ARENA). Record the
   receivers' input: for `receivers="logits"` the final residual stream, else the chosen component (q, k or
   v) of each receiver head, computed from the residual stream entering its layer.
3. Run the clean prompts again with only the receivers' components replaced by those of step 2 (everything
   downstream recomputed) and read the metric. For "logits", step 2's final stream gives the logits directly.

The result is normalised as activation patching is, clean = 1 and corrupted = 0, but the base run is the
*clean* one: a value near 1 means the path does not matter; a value well below 1 means corrupting the sender
along this path alone destroys the behaviour (name movers -> logits, S-inhibition heads -> name movers' q).

For a single receiver head on an attention-only model this equals TransformerLens's
`get_act_patch_direct_path` with the roles of the runs exchanged (tests/unit/analysis/test_path_patching.py).

>>> import interp
>>> from interp.analysis.patching.activation import activation_patching
>>> cfg = interp.ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True)
>>> model = interp.build_model(cfg)
>>> clean = torch.randint(0, 11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> corrupted = clean.clone()
>>> corrupted[:, 2] = (clean[:, 2] + 1) % 11
>>> metric = LogitDiff(correct=clean[:, 3], wrong=corrupted[:, 2], positions=7)
>>> result = path_patching(model, clean, corrupted, metric, receivers="logits")
>>> result.normalised.shape
torch.Size([2, 2])
>>> noising = activation_patching(model, clean, corrupted, metric, kind="z", direction="noising")
>>> torch.allclose(result.values[1], noising.values[1], atol=1e-5)   # the last layer reaches the logits directly only
True
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff, normalise
from interp.analysis.core.task import Task, task_inputs
from interp.analysis.patching.activation import (
    PatchingError,
    _check_inputs,
    first_difference,
)
from interp.analysis.patching.partial_forward import (
    RunCache,
    check_supported,
    forward_cache,
)
from interp.model.engine.attention import attention_scale, causal_z
from interp.model.engine.weights import Weights

Component = Literal["q", "k", "v"]
COMPONENTS = ("q", "k", "v")


@dataclass(frozen=True)
class PathPatchingResult:
    """Metric per sender head [layer head] with the path to `receivers` patched, and the two baselines.
    Senders that cannot reach a receiver (same or later layer) hold the clean value."""

    receivers: str | tuple[tuple[int, int], ...]
    component: str | None
    values: Float[Tensor, "layer head"]
    clean: float
    corrupted: float
    seconds: float

    axes = ("layer", "head")
    no_effect = 1.0  # the normalised value of a path that carries nothing the metric needs

    @property
    def normalised(self) -> Float[Tensor, "layer head"]:
        """1 = the path carries nothing the metric needs; 0 = it carries the whole clean/corrupted difference."""
        return normalise(self.values, self.clean, self.corrupted)


def _sender_streams(w: Weights, clean: RunCache, corrupted: RunCache, senders: list[tuple[int, int]], last: int) -> list[Tensor]:
    """Step 2: per layer 0..last, the residual stream entering it [unit batch pos d_model] for each sender
    unit, with that sender corrupted and every other head frozen at its clean output (MLPs recomputed)."""
    n_units = len(senders)
    layers = torch.tensor([layer for layer, _ in senders])
    heads = torch.tensor([head for _, head in senders])
    streams = [clean.resid_pre[0].expand(n_units, *clean.resid_pre[0].shape)]
    for layer in range(last):
        chosen = layers == layer
        mid = streams[-1] + clean.attn_out[layer]
        if bool(chosen.any()):
            change = w.head_outputs(layer, corrupted.z[layer] - clean.z[layer])  # batch pos head d_model
            delta = change[:, :, heads].permute(2, 0, 1, 3) * chosen[:, None, None, None]  # unit batch pos d_model
            mid = mid + delta
        if not bool((layers <= layer).any()):
            streams.append(clean.resid_pre[layer + 1].expand(n_units, *clean.resid_pre[layer + 1].shape))
            continue
        streams.append(w.finish_block(layer, mid))
    return streams


def _logits_with_components(
    w: Weights,
    scale: float,
    clean: RunCache,
    start: int,
    first: int,
    read: Tensor,
    overrides: dict[int, tuple[str, Tensor, Tensor]],
) -> Float[Tensor, "unit batch vocab"]:
    """Step 3: the clean run from layer `start`, positions first.. (the prefix is clean and unchanged), with
    per-unit replacements of one component of some heads: overrides[layer] = (component, heads mask [head],
    values [unit batch tail head d_head])."""
    unit = next(iter(overrides.values()))[2].shape[0]
    end = int(read.max()) + 1
    resid = clean.resid_pre[start][:, first:end].expand(unit, -1, -1, -1)
    for layer in range(start, w.n_layers):
        q, k, v = w.qkv_projection(layer, w.norm(resid, f"blocks.{layer}.ln1")).unbind(-3)  # unit batch tail head d_head
        if layer in overrides:
            component, heads, values = overrides[layer]
            parts = {"q": q, "k": k, "v": v}
            parts[component] = torch.where(heads[:, None], values, parts[component])
            q, k, v = parts["q"], parts["k"], parts["v"]
        k = torch.cat([clean.k[layer][:, :first].expand(unit, -1, -1, -1, -1), k], dim=2)
        v = torch.cat([clean.v[layer][:, :first].expand(unit, -1, -1, -1, -1), v], dim=2)
        z = causal_z(q, k, v, scale, query_offset=first)
        resid = w.finish_block(layer, resid + w.attention_output(layer, z))
    rows = torch.arange(resid.shape[1])
    logits = w.unembed(w.norm(resid[:, rows, (read - first).clamp(min=0)], "ln_final"))
    before = read < first  # rows read before anything differs keep their clean logits
    return torch.where(before[None, :, None], clean.logits[rows, read][None], logits)


@torch.no_grad()
def path_patching(
    model,
    clean_tokens: Int[Tensor, "batch pos"] | Task,
    corrupted_tokens: Int[Tensor, "batch pos"] | None = None,
    metric: LogitDiff | None = None,
    *,
    receivers: str | Sequence[tuple[int, int]] = "logits",
    component: Component = "q",
    senders: Sequence[tuple[int, int]] | None = None,
) -> PathPatchingResult:
    """Patch the path from each sender head (default: every head) to `receivers` ("logits", or a list of
    (layer, head) whose `component` input is patched), in one stacked forward per step. A `Task` may stand for
    the tokens and the metric: `path_patching(model, task, receivers="logits")`."""
    started = time.perf_counter()
    clean_tokens, corrupted_tokens, metric = task_inputs(clean_tokens, corrupted_tokens, metric)
    check_supported(model)
    _check_inputs(model, clean_tokens, corrupted_tokens, metric, "z")
    cfg = model.cfg
    receiver_list = _check_receivers(receivers, component, cfg)
    all_senders = [(layer, h) for layer in range(cfg.n_layers) for h in range(cfg.n_heads)] if senders is None else list(senders)
    for layer, head in all_senders:
        if not (0 <= layer < cfg.n_layers and 0 <= head < cfg.n_heads):
            raise PatchingError(
                f"sender ({layer}, {head}) is not a head of this model ({cfg.n_layers} layers x {cfg.n_heads} heads)"
            )
    w, scale = Weights.of(model), attention_scale(model)
    clean, corrupted = forward_cache(w, clean_tokens, scale), forward_cache(w, corrupted_tokens, scale)
    read = metric.positions
    rows = torch.arange(len(read))
    clean_value = float(metric.from_final(clean.logits[rows, read]).mean())
    corrupted_value = float(metric.from_final(corrupted.logits[rows, read]).mean())
    values = torch.full((cfg.n_layers, cfg.n_heads), clean_value)
    last_receiver = cfg.n_layers if receiver_list is None else max(layer for layer, _ in receiver_list)
    active = [s for s in all_senders if s[0] < last_receiver]
    if active:
        streams = _sender_streams(w, clean, corrupted, active, last_receiver)
        if receiver_list is None:
            final = streams[-1][:, rows, read]  # unit batch d_model
            logits = w.unembed(w.norm(final, "ln_final"))
        else:
            first = first_difference(clean_tokens, corrupted_tokens)
            end = int(read.max()) + 1
            overrides = {}
            for layer in sorted({receiver_layer for receiver_layer, _ in receiver_list}):
                heads = torch.zeros(cfg.n_heads, dtype=torch.bool)
                heads[[h for receiver_layer, h in receiver_list if receiver_layer == layer]] = True
                x = w.norm(streams[layer][:, :, first:end], f"blocks.{layer}.ln1")
                part = w.qkv_projection(layer, x)[..., COMPONENTS.index(component), :, :]  # unit batch tail head d_head
                overrides[layer] = (component, heads, part)
            start = min(overrides)
            logits = _logits_with_components(w, scale, clean, start, first, read, overrides)
        per_unit = metric.from_final(logits).mean(dim=1)
        for (layer, head), value in zip(active, per_unit.tolist()):
            values[layer, head] = value
    described = "logits" if receiver_list is None else tuple(receiver_list)
    return PathPatchingResult(
        described,
        None if receiver_list is None else component,
        values,
        clean_value,
        corrupted_value,
        time.perf_counter() - started,
    )


def _check_receivers(receivers, component: str, cfg) -> list[tuple[int, int]] | None:
    if isinstance(receivers, str):
        if receivers != "logits":
            raise PatchingError(f"receivers must be 'logits' or a list of (layer, head), got {receivers!r}")
        return None
    if component not in COMPONENTS:
        raise PatchingError(f"component must be one of {COMPONENTS}, got {component!r}")
    out = [(int(layer), int(h)) for layer, h in receivers]
    if not out:
        raise PatchingError("give at least one receiver head, or receivers='logits'")
    for layer, head in out:
        if not (0 <= layer < cfg.n_layers and 0 <= head < cfg.n_heads):
            raise PatchingError(
                f"receiver ({layer}, {head}) is not a head of this model ({cfg.n_layers} layers x {cfg.n_heads} heads)"
            )
    return out
