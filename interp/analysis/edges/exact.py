"""Exact edge patching: the metric with one edge's sender output, as seen by that receiver alone, taken from the
other run; everything else the base run, everything downstream of the receiver recomputed.

Batched per receiver: everything before a receiver's layer is the base run (cached), so each edge into it costs
the rest of that layer and the blocks after it, and every sender into one receiver differs only in the
difference added to its input: one stacked partial forward per receiver. Equal to the per-edge hook loop of
interp.analysis.edges.reference (tests) and to the general edge forward with one mask entry set to 0.

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.tasks import induction_task
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=24, d_head=4, n_heads=4, d_vocab=20, attn_only=True))
>>> scores = edge_patching(model, induction_task(20, n=8, half=6))
>>> scores.effects.shape, scores.rows.shape
(torch.Size([81]), torch.Size([81, 8]))
"""

import time

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.core.task import Task
from interp.analysis.edges.graph import PARTS
from interp.analysis.edges.problem import EdgeProblem, prepare
from interp.analysis.edges.scores import EdgeScores, as_scores
from interp.model.engine.attention import attend, heads_first
from interp.model.engine.forward import run_blocks

ROWS_PER_FORWARD = 8192  # stacked copies (edges x prompts) per partial forward: bounds the memory


def edge_patching(
    model,
    clean_or_task: Int[Tensor, "batch pos"] | Task,
    corrupted: Int[Tensor, "batch pos"] | None = None,
    metric: LogitDiff | None = None,
    *,
    direction: str = "noising",
    rows_per_forward: int = ROWS_PER_FORWARD,
) -> EdgeScores:
    """Exact patching of every edge of the model's graph, one by one (batched)."""
    started = time.perf_counter()
    problem = prepare(model, clean_or_task, corrupted, metric, direction=direction)
    return exact_scores(problem, rows_per_forward, started=started)


def exact_scores(problem: EdgeProblem, rows_per_forward: int = ROWS_PER_FORWARD, *, started: float | None = None) -> EdgeScores:
    """Exact patching of every edge of a prepared problem (`started`: a perf_counter the seconds count from)."""
    started = time.perf_counter() if started is None else started
    rows = patched_rows(problem, rows_per_forward)
    return as_scores(problem, "exact", problem.effect(rows), seconds=time.perf_counter() - started)


@torch.no_grad()
def patched_rows(problem: EdgeProblem, rows_per_forward: int = ROWS_PER_FORWARD) -> Float[Tensor, "edge batch"]:
    """The metric per prompt with each edge patched alone, in edge order."""
    graph, base, other = problem.graph, problem.base, problem.other
    batch = base.tokens.shape[0]
    chunk = max(1, rows_per_forward // batch)
    delta = other.senders - base.senders  # batch pos sender d_model
    out = torch.empty(graph.n_edges, batch)
    start = 0
    for receiver in range(len(graph.receivers)):
        n = graph.upstream(receiver)
        for lo in range(0, n, chunk):
            senders = slice(lo, min(n, lo + chunk))
            values = _patch_receiver(problem, receiver, delta[:, :, senders].movedim(2, 0))
            out[start + senders.start : start + senders.stop] = values
        start += n
    return out


def _patch_receiver(
    problem: EdgeProblem, receiver: int, delta: Float[Tensor, "edge batch pos d_model"]
) -> Float[Tensor, "edge batch"]:
    """The metric per row with `delta[e]` added to receiver's input only, for each e."""
    w, graph, base = problem.w, problem.graph, problem.base
    name = graph.receivers[receiver]
    if name == "logits":
        return _read(problem, base.final[None] + delta)
    edges = delta.shape[0]
    if name.startswith("MLP"):
        layer = int(name[3:])
        resid_mid = base.resid_mid[layer]
        post = resid_mid + w.mlp(layer, w.norm(resid_mid + delta, f"blocks.{layer}.ln2"))
    else:
        layer, head, part = int(name[1 : name.index("H")]), int(name[name.index("H") + 1 : name.index(".")]), name[-1]
        resid_pre = base.resid_pre[layer]
        q, k, v = (x[..., head, :] for x in w.qkv(layer, w.norm(resid_pre, f"blocks.{layer}.ln1")))
        weight, bias = getattr(w.layers[layer], part)
        rows = slice(head * w.d_head, (head + 1) * w.d_head)
        changed = F.linear(w.norm(resid_pre + delta, f"blocks.{layer}.ln1"), weight[rows], None if bias is None else bias[rows])
        parts = {"q": q, "k": k, "v": v} | {part: changed}
        q, k, v = (parts[p].expand(edges, *q.shape).flatten(0, 1)[:, None] for p in PARTS)  # (edge batch) 1 pos d_head
        z = heads_first(attend(q, k, v, w.scale)).unflatten(0, (edges, -1))  # edge batch pos 1 d_head
        new_out = einops.einsum(
            z[..., 0, :], w.attn(layer, "W_O")[head], "edge batch pos d_head, d_head d_model -> edge batch pos d_model"
        )
        old_out = base.senders[:, :, graph.head_sender(layer, head)]
        resid_mid = resid_pre + base.senders[:, :, graph.head_sender(layer, 0) : graph.head_sender(layer, 0) + graph.n_heads].sum(
            2
        )
        resid_mid = resid_mid + w.attn(layer, "b_O")
        post = w.finish_block(layer, resid_mid + (new_out - old_out))
    final = run_blocks(w, post.flatten(0, 1), layer + 1).unflatten(0, (edges, -1))
    return _read(problem, final)


def _read(problem: EdgeProblem, final: Float[Tensor, "edge batch pos d_model"]) -> Float[Tensor, "edge batch"]:
    """The metric per row from the final residual stream (before ln_final)."""
    w, metric = problem.w, problem.metric
    rows = torch.arange(final.shape[1])
    at_read = final[:, rows, metric.positions]
    return metric.from_columns(w.unembed_columns(w.norm(at_read, "ln_final"), metric.columns))
