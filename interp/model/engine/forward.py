"""The forward pass of a native TransformerBridge over a weight snapshot, with optional edits at hook names.

One block implementation for every hook-free forward in interp: training (interp.model.engine.fast_forward), the
induction series' pattern forward and patching's cached runs call `forward` / `run_blocks` on a `Weights`.

A `Perturbation` sees (and may replace) each activation under its TransformerLens hook name, in the hook's
layout: q/k/v/z [batch pos head d_head], residual streams [batch pos d_model], hook_pos_embed with a batch axis.
Attention runs the fused kernel unless the perturbation names a layer's `hook_attn_scores` (offered before the
causal mask, so it stays causal) or `hook_pattern`; only then are those two offered, and only for that layer.
`hook_resid_mid` is the residual stream between attention and MLP, as in HookedTransformer (the native bridge's
hook_resid_mid is ln2's input, where an edit reaches only the MLP). `Recorder` is a perturbation that keeps.

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=11))
>>> tokens = torch.randint(0, 11, (2, 8))
>>> w = Weights.of(model)
>>> torch.allclose(forward(w, tokens), model(tokens), atol=1e-5)
True
>>> kept = Recorder({"blocks.1.attn.hook_pattern"})
>>> _ = forward(w, tokens, kept)
>>> _, cache = model.run_with_cache(tokens)
>>> torch.allclose(kept.kept["blocks.1.attn.hook_pattern"], cache["blocks.1.attn.hook_pattern"], atol=1e-6)
True
"""

from collections.abc import Iterable, Set
from functools import cache
from typing import NamedTuple, Protocol

import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from interp.model.engine.attention import (
    attend,
    attention_scores,
    causal_pattern,
    heads_first,
    mix,
)
from interp.model.engine.weights import Weights


class Perturbation(Protocol):
    """Edits activations in the forward: `hooks` names where, `at(hook name, activation)` does it."""

    hooks: Set[str]

    def at(self, name: str, activation: Tensor) -> Tensor: ...


class Recorder:
    """A perturbation that keeps the activations at `hooks` (all of them are offered: see the module docstring)
    and changes nothing."""

    def __init__(self, hooks: Iterable[str]):
        self.hooks = frozenset(hooks)
        self.kept: dict[str, Tensor] = {}

    def at(self, name: str, activation: Tensor) -> Tensor:
        if name in self.hooks:
            self.kept[name] = activation
        return activation


def _unperturbed(name: str, activation: Tensor) -> Tensor:
    return activation


class _Names(NamedTuple):
    resid_pre: str
    q: str
    k: str
    v: str
    scores: str
    pattern: str
    z: str
    attn_out: str
    resid_mid: str
    mlp_pre: str
    mlp_post: str
    mlp_out: str
    resid_post: str


@cache
def _names(layer: int) -> _Names:
    b = f"blocks.{layer}"
    return _Names(
        f"{b}.hook_resid_pre",
        f"{b}.attn.hook_q",
        f"{b}.attn.hook_k",
        f"{b}.attn.hook_v",
        f"{b}.attn.hook_attn_scores",
        f"{b}.attn.hook_pattern",
        f"{b}.attn.hook_z",
        f"{b}.hook_attn_out",
        f"{b}.hook_resid_mid",
        f"{b}.mlp.hook_pre",
        f"{b}.mlp.hook_post",
        f"{b}.hook_mlp_out",
        f"{b}.hook_resid_post",
    )


def embed(
    w: Weights, tokens: Int[Tensor, "batch pos"], perturb: Perturbation | None = None
) -> Float[Tensor, "batch pos d_model"]:
    """The residual stream entering block 0: token plus positional embedding."""
    if perturb is None:
        return w.embed(tokens)
    positions = perturb.at("hook_pos_embed", w.tensors["pos_embed.weight"][: tokens.shape[1]].expand(tokens.shape[0], -1, -1))
    return perturb.at("hook_embed", F.embedding(tokens, w.tensors["embed.weight"])) + positions


def attention(
    w: Weights, layer: int, x: Float[Tensor, "batch pos d_model"], perturb: Perturbation | None = None
) -> Float[Tensor, "batch pos d_model"]:
    """Block `layer`'s attention on its normalised input."""
    at, names = (_unperturbed if perturb is None else perturb.at), _names(layer)
    q, k, v = w.qkv(layer, x)
    q, k, v = heads_first(at(names.q, q)), heads_first(at(names.k, k)), heads_first(at(names.v, v))
    hooks = () if perturb is None else perturb.hooks
    if names.scores in hooks or names.pattern in hooks:
        scores = attention_scores(q, k, w.scale)
        if names.scores in hooks:
            scores = at(names.scores, scores)
        pattern = causal_pattern(scores)
        if names.pattern in hooks:
            pattern = at(names.pattern, pattern)
        z = mix(pattern, v)
    else:
        z = attend(q, k, v, w.scale)
    return w.attention_output(layer, at(names.z, heads_first(z)))


def block(
    w: Weights, layer: int, resid: Float[Tensor, "batch pos d_model"], perturb: Perturbation | None = None
) -> Float[Tensor, "batch pos d_model"]:
    """Block `layer`: pre-norm attention, then (unless attention-only) a pre-norm MLP, each added to the stream."""
    at, names = (_unperturbed if perturb is None else perturb.at), _names(layer)
    resid = at(names.resid_pre, resid)
    resid = resid + at(names.attn_out, attention(w, layer, w.norm(resid, f"blocks.{layer}.ln1"), perturb))
    if not w.attn_only:
        resid = at(names.resid_mid, resid)
        weights = w.layers[layer]
        pre = at(names.mlp_pre, F.linear(w.norm(resid, f"blocks.{layer}.ln2"), *weights.mlp_in))
        resid = resid + at(names.mlp_out, F.linear(at(names.mlp_post, w.act(pre)), *weights.mlp_out))
    return at(names.resid_post, resid)


def run_blocks(
    w: Weights, resid: Float[Tensor, "batch pos d_model"], start: int = 0, perturb: Perturbation | None = None
) -> Float[Tensor, "batch pos d_model"]:
    """The residual stream after the last block, from the one entering block `start`."""
    for layer in range(start, w.n_layers):
        resid = block(w, layer, resid, perturb)
    return resid


def forward(
    w: Weights, tokens: Int[Tensor, "batch pos"], perturb: Perturbation | None = None
) -> Float[Tensor, "batch pos vocab"]:
    """Logits of the model the snapshot was taken from (to float rounding)."""
    return w.unembed(w.norm(run_blocks(w, embed(w, tokens, perturb), 0, perturb), "ln_final"))
