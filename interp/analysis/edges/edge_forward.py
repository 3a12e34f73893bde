"""The forward pass with every edge of the graph switchable between the current run and another run.

Receiver r reads `other_site(r) + sum_s mask[r, s] * (current_s - other_s)`: with every mask entry 1 that is the
current run's residual stream (an ordinary forward), with every entry 0 the other run's. An edge with mask 0
carries the other run's sender output to that receiver alone; every other receiver, and everything downstream,
is recomputed. Intermediate values interpolate (integrated gradients walk the mask from 0 to 1). A mask with a
leading variant axis runs many circuits in one pass.

This is the general, slower engine (every receiver rebuilt from every sender); single-edge patching has its own
fast path (interp.analysis.edges.exact) and is tested against this one.

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.analysis.core.metrics import LogitDiff
>>> from interp.analysis.edges.run_state import record
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, d_mlp=32))
>>> w, graph = Weights.of(model), Graph.of(model)
>>> clean, corrupted = torch.randint(0, 11, (2, 3, 8), generator=torch.Generator().manual_seed(0))
>>> metric = LogitDiff(correct=clean[:, 1], wrong=corrupted[:, 1], positions=7)
>>> other = record(w, graph, corrupted)
>>> ones, zeros = torch.ones(graph.allowed.shape), torch.zeros(graph.allowed.shape)
>>> run = edge_forward(w, graph, clean, other, torch.stack([ones, zeros]), metric)
>>> torch.allclose(run.metric_rows[0], metric.per_row(model(clean)), atol=1e-4)
True
>>> torch.allclose(run.metric_rows[1], metric.per_row(model(corrupted)), atol=1e-4)
True
"""

from dataclasses import dataclass

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.edges.graph import Graph
from interp.analysis.edges.run_state import RunState
from interp.model.engine.attention import attend, heads_first
from interp.model.engine.weights import Weights


@dataclass(frozen=True)
class EdgeRun:
    """What one edge forward computed, per variant of the mask.

    `inputs` maps each receiver block to (receiver indices, the inputs they read): a layer's heads
    [variant batch pos (part head) d_model], its MLP [variant batch pos 1 d_model], the logits
    [variant batch 1 d_model] at the metric's positions. `differences` is current minus other per sender.
    """

    metric_rows: Float[Tensor, "variant batch"]
    inputs: tuple[tuple[Tensor, Tensor], ...]
    differences: Float[Tensor, "variant batch pos sender d_model"]


def _head_weights(w: Weights, layer: int) -> tuple[Tensor, Tensor]:
    weights = torch.stack([w.attn(layer, f"W_{p}") for p in "QKV"])  # part head d_model d_head
    biases = torch.stack([w.attn(layer, f"b_{p}") for p in "QKV"])  # part head d_head
    return weights, biases


def _mixed(
    site: Float[Tensor, "batch pos d_model"], mask: Float[Tensor, "variant receiver sender"], differences: Tensor
) -> Float[Tensor, "variant batch pos receiver d_model"]:
    """The other run's stream at these receivers plus the masked differences of their senders."""
    mixed = einops.einsum(
        mask, differences, "variant receiver sender, variant batch pos sender d_model -> variant batch pos receiver d_model"
    )
    return site[None, :, :, None, :] + mixed


def edge_forward(
    w: Weights,
    graph: Graph,
    tokens: Int[Tensor, "batch pos"],
    other: RunState,
    mask: Float[Tensor, "variant receiver sender"] | Float[Tensor, "receiver sender"],
    metric: LogitDiff,
    *,
    embedding: Float[Tensor, "batch pos d_model"] | None = None,
) -> EdgeRun:
    """Run `tokens` (or the input-node output `embedding`) with every edge mixed by `mask` between this run and
    `other`, and read `metric` per row. A 2-D mask is one variant. Differentiable in the mask and the inputs."""
    if mask.ndim == 2:
        mask = mask[None]
    mask = mask.to(other.senders.dtype) * graph.allowed
    variants, batch = mask.shape[0], tokens.shape[0]
    current_input = w.embed(tokens) if embedding is None else embedding
    differences = (current_input - other.senders[:, :, 0])[None].expand(variants, -1, -1, -1)[..., None, :]
    inputs = []
    for layer in range(w.n_layers):
        first = graph.head_receiver(layer, "q", 0)
        receivers = torch.arange(first, first + 3 * graph.n_heads)
        upstream = graph.upstream(first)
        head_in = _mixed(other.resid_pre[layer], mask[:, receivers, :upstream], differences)
        inputs.append((receivers, head_in))
        normed = w.norm(head_in, f"blocks.{layer}.ln1").unflatten(-2, (3, graph.n_heads))
        weights, biases = _head_weights(w, layer)
        qkv = (
            einops.einsum(
                normed,
                weights,
                "variant batch pos part head d_model, part head d_model d_head -> variant batch pos part head d_head",
            )
            + biases
        )
        q, k, v = (heads_first(x.flatten(0, 1)) for x in qkv.unbind(dim=3))
        z = heads_first(attend(q, k, v, w.scale)).unflatten(0, (variants, batch))
        head_out = w.head_outputs(layer, z)  # variant batch pos head d_model
        heads = slice(graph.head_sender(layer, 0), graph.head_sender(layer, 0) + graph.n_heads)
        differences = torch.cat([differences, head_out - other.senders[:, :, heads]], dim=3)
        if not w.attn_only:
            receiver = graph.mlp_receiver(layer)
            mlp_in = _mixed(other.resid_mid[layer], mask[:, [receiver], : graph.upstream(receiver)], differences)
            inputs.append((torch.tensor([receiver]), mlp_in))
            mlp_out = w.mlp(layer, w.norm(mlp_in[..., 0, :], f"blocks.{layer}.ln2"))
            mlp_diff = mlp_out - other.senders[:, :, graph.mlp_sender(layer)]
            differences = torch.cat([differences, mlp_diff[..., None, :]], dim=3)
    rows = torch.arange(batch)
    at_read = differences[:, rows, metric.positions]  # variant batch sender d_model
    final_in = other.final[rows, metric.positions][None, :, None, :] + einops.einsum(
        mask[:, [graph.logits_receiver]], at_read, "variant one sender, variant batch sender d_model -> variant batch one d_model"
    )
    inputs.append((torch.tensor([graph.logits_receiver]), final_in))
    picked = w.unembed_columns(w.norm(final_in[..., 0, :], "ln_final"), metric.columns)
    return EdgeRun(metric.from_columns(picked), tuple(inputs), differences)
