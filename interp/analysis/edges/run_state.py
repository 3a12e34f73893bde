"""One forward pass seen through the graph: every sender's output and the residual stream at every receiver.

`record(w, graph, tokens)` runs the engine once with a Recorder and splits the attention outputs per head
(z @ W_O, without b_O). The residual stream a receiver reads is the sum of its senders' outputs plus the biases
before it: the edge forward rebuilds each receiver's input from these (interp.analysis.edges.edge_forward).

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.model.engine.weights import Weights
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, d_mlp=32))
>>> w, graph = Weights.of(model), Graph.of(model)
>>> state = record(w, graph, torch.randint(0, 11, (3, 8)))
>>> state.senders.shape, state.resid_pre.shape
(torch.Size([3, 8, 7, 16]), torch.Size([2, 3, 8, 16]))
>>> bias = w.attn(0, "b_O") + w.attn(1, "b_O")                       # b_O is in the stream but no sender
>>> torch.allclose(state.senders.sum(dim=2) + bias, state.final, atol=1e-5)
True
"""

from dataclasses import dataclass

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.edges.graph import Graph
from interp.model.engine.forward import Recorder, forward
from interp.model.engine.weights import Weights


@dataclass(frozen=True)
class RunState:
    """Sender outputs and residual streams of one run ([layer batch pos d_model]; resid_mid is None for
    attention-only models), and the logits."""

    tokens: Int[Tensor, "batch pos"]
    senders: Float[Tensor, "batch pos sender d_model"]
    resid_pre: Float[Tensor, "layer batch pos d_model"]
    resid_mid: Float[Tensor, "layer batch pos d_model"] | None
    final: Float[Tensor, "batch pos d_model"]
    logits: Float[Tensor, "batch pos vocab"]


@torch.no_grad()
def record(w: Weights, graph: Graph, tokens: Int[Tensor, "batch pos"]) -> RunState:
    """The run of `tokens` through the snapshot `w`, split into the senders and receiver sites of `graph`."""
    names = {"hook_embed", "hook_pos_embed", f"blocks.{w.n_layers - 1}.hook_resid_post"}
    for layer in range(w.n_layers):
        names |= {f"blocks.{layer}.hook_resid_pre", f"blocks.{layer}.attn.hook_z"}
        if not w.attn_only:
            names |= {f"blocks.{layer}.hook_resid_mid", f"blocks.{layer}.hook_mlp_out"}
    kept = Recorder(names)
    logits = forward(w, tokens, kept)
    got = kept.kept
    senders = [got["hook_embed"] + got["hook_pos_embed"]]
    for layer in range(w.n_layers):
        senders += w.head_outputs(layer, got[f"blocks.{layer}.attn.hook_z"]).unbind(dim=-2)
        if not w.attn_only:
            senders.append(got[f"blocks.{layer}.hook_mlp_out"])
    return RunState(
        tokens=tokens,
        senders=torch.stack(senders, dim=2),
        resid_pre=torch.stack([got[f"blocks.{layer}.hook_resid_pre"] for layer in range(w.n_layers)]),
        resid_mid=None if w.attn_only else torch.stack([got[f"blocks.{layer}.hook_resid_mid"] for layer in range(w.n_layers)]),
        final=got[f"blocks.{w.n_layers - 1}.hook_resid_post"],
        logits=logits,
    )
