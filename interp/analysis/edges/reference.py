"""The reference for exact edge patching: one hooked forward of the model itself per edge, no engine.

For the edge s -> r, the base prompts run through the TransformerBridge with hooks (always removed afterwards)
that hand receiver r, and r alone, the base run's residual stream plus (other run's output of s - base run's
output of s); the model recomputes everything downstream. Where r is a head's query (key, value), only that
head's query is replaced, computed from the changed stream through the block's own ln1 and W_Q, b_Q; an MLP's
input through its ln2; the logits read the changed final residual stream before ln_final. Sender outputs come
from `model.run_with_cache`: the input is hook_embed + hook_pos_embed, a head hook_z @ W_O (no b_O), an MLP
hook_mlp_out. Directions and signs as in interp.analysis.edges.problem.

Slow by design (one forward per edge, through the bridge's hook machinery), and independent of
interp.model.engine and of the edge forward: the batched `edge_patching` is tested against it.

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.analysis.edges.exact import edge_patching
>>> from interp.tasks import induction_task
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=24, d_head=4, n_heads=4, d_vocab=20, attn_only=True))
>>> task = induction_task(20, n=4, half=6)
>>> slow = reference_edge_patching(model, task)                      # 81 hooked forwards
>>> fast = edge_patching(model, task)
>>> slow.rows.shape, bool((slow.rows - fast.rows).abs().max() < 1e-5)
(torch.Size([81, 4]), True)
"""

import time
from collections.abc import Callable

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task
from interp.analysis.edges.graph import Graph
from interp.analysis.edges.problem import checked_task
from interp.analysis.edges.scores import EdgeScores
from interp.analysis.patching.partial_forward import check_supported

Hook = tuple[str, Callable]


@torch.no_grad()
def reference_edge_patching(
    model,
    clean_or_task: Int[Tensor, "batch pos"] | Task,
    corrupted: Int[Tensor, "batch pos"] | None = None,
    metric: LogitDiff | None = None,
    *,
    direction: str = "noising",
) -> EdgeScores:
    """Exact patching of every edge of the model's graph, one hooked forward per edge (method "reference")."""
    task = checked_task(clean_or_task, corrupted, metric, direction)
    clean, corrupted, metric = task.clean, task.corrupted, task.metric
    check_supported(model)
    started = time.perf_counter()
    graph = Graph.of(model)
    clean_logits, clean_cache = model.run_with_cache(clean)
    corrupted_logits, corrupted_cache = model.run_with_cache(corrupted)
    clean_rows, corrupted_rows = metric.per_row(clean_logits), metric.per_row(corrupted_logits)
    if direction == "noising":
        base_tokens, base_rows, sign = clean, clean_rows, -1.0
        base_out, other_out = sender_outputs(model, graph, clean_cache), sender_outputs(model, graph, corrupted_cache)
    else:
        base_tokens, base_rows, sign = corrupted, corrupted_rows, 1.0
        base_out, other_out = sender_outputs(model, graph, corrupted_cache), sender_outputs(model, graph, clean_cache)
    delta = other_out - base_out  # batch pos sender d_model
    weights = head_weights(model, graph)
    rows = torch.empty(graph.n_edges, clean.shape[0])
    for edge, (receiver, sender) in enumerate(graph.edge_index.tolist()):
        with model.hooks(fwd_hooks=receiver_hooks(model, graph, receiver, delta[:, :, sender], weights)):
            rows[edge] = metric.per_row(model(base_tokens))
    effect_rows = sign * (rows - base_rows)
    return EdgeScores(
        graph=graph,
        method="reference",
        direction=direction,
        effects=effect_rows.mean(dim=-1).to(torch.float32),
        clean=float(clean_rows.mean()),
        corrupted=float(corrupted_rows.mean()),
        rows=effect_rows,
        seconds=time.perf_counter() - started,
    )


def sender_outputs(model, graph: Graph, cache) -> Float[Tensor, "batch pos sender d_model"]:
    """Every sender's output in one run, read from its activation cache."""
    outputs = [cache["hook_embed"] + cache["hook_pos_embed"]]
    for layer in range(graph.n_layers):
        per_head = einops.einsum(
            cache[f"blocks.{layer}.attn.hook_z"],
            model.blocks[layer].attn.W_O,
            "batch pos head d_head, head d_head d_model -> batch pos head d_model",
        )
        outputs += per_head.unbind(dim=2)
        if not graph.attn_only:
            outputs.append(cache[f"blocks.{layer}.hook_mlp_out"])
    return torch.stack(outputs, dim=2)


def head_weights(model, graph: Graph) -> dict[tuple[int, str], tuple[Tensor, Tensor]]:
    """(W [head d_model d_head], b [head d_head]) of every layer's queries, keys and values, read once."""
    return {
        (layer, part): (getattr(attn, f"W_{part.upper()}").detach(), getattr(attn, f"b_{part.upper()}").detach())
        for layer, attn in enumerate(block.attn for block in model.blocks)
        for part in "qkv"
    }


def receiver_hooks(model, graph: Graph, receiver: int, delta: Float[Tensor, "batch pos d_model"], weights) -> list[Hook]:
    """Forward hooks that add `delta` to the residual stream receiver `receiver` reads, for that receiver only."""
    name = graph.receivers[receiver]
    if name == "logits":
        return [("ln_final.hook_in", lambda resid, hook: resid + delta)]
    seen = {}

    def keep(resid, hook):
        seen["resid"] = resid

    if name.startswith("MLP"):
        layer = int(name[3:])
        ln2 = model.blocks[layer].ln2

        def mlp_input(normed, hook):
            return ln2(seen["resid"] + delta)

        return [(f"blocks.{layer}.hook_resid_mid", keep), (f"blocks.{layer}.mlp.hook_in", mlp_input)]
    node, part = name.split(".")
    layer, head = (int(x) for x in node[1:].split("H"))
    ln1 = model.blocks[layer].ln1
    weight, bias = weights[(layer, part)]

    def one_head(projected, hook):  # batch pos head d_head
        changed = ln1(seen["resid"] + delta) @ weight[head] + bias[head]
        projected = projected.clone()
        projected[:, :, head] = changed
        return projected

    return [(f"blocks.{layer}.hook_resid_pre", keep), (f"blocks.{layer}.attn.hook_{part}", one_head)]
