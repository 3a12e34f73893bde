"""A snapshot of a native TransformerBridge's weights, and the block's projections, norms, MLP and unembedding over it.

Two kinds of snapshot, one set of formulas:

- `Weights.live(model)` holds the bridge's own Parameter objects (training needs their gradients, and loading a
  checkpoint into the bridge updates the snapshot too);
- `Weights.of(model)` holds detached tensors, with queries, keys and values fused into one matrix per layer
  (patching runs many small partial forwards, where one matrix product beats three).

Reading `model.W_Q` on a bridge stacks every layer's weights anew, and calling a bridge module runs its hook
machinery: about a millisecond each, which dominates a forward over a few positions. Here the tensors are read
once, in the bridge's own layout (`F.linear` weights [out in]); `params` gives the HookedTransformer view
(`blocks.0.attn.W_K` [head d_model d_head], ...) for per-head algebra. The attention itself is in
interp.model.engine.attention, the forward over these pieces in interp.model.engine.forward.

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=1, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=11, d_mlp=32))
>>> w = Weights.of(model)
>>> resid = torch.randn(2, 8, 16)
>>> torch.allclose(w.unembed(w.norm(resid, "ln_final")), model.unembed(model.ln_final(resid)), atol=1e-6)
True
>>> torch.allclose(w.finish_block(0, resid), resid + model.blocks[0].mlp(model.blocks[0].ln2(resid)), atol=1e-6)
True
"""

from dataclasses import dataclass
from functools import cached_property

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from interp.model.engine.activations import Activation, activation
from interp.model.engine.attention import attention_scale
from interp.model.engine.norms import normalization_kind, normalize
from interp.model.layout import to_hooked_state_dict

Linear = tuple[Tensor, Tensor | None]  # F.linear weight [out in] and bias [out]


@dataclass(frozen=True, eq=False)
class LayerWeights:
    """One block's tensors in the bridge's layout; `qkv` is q, k and v stacked ([(three head d_head) d_model])
    in a detached snapshot, None in a live one."""

    q: Linear
    k: Linear
    v: Linear
    o: Linear
    qkv: Linear | None
    mlp_in: Linear | None
    mlp_out: Linear | None


@dataclass(frozen=True, eq=False)
class Weights:
    """A native bridge's tensors (`tensors`, bridge names) with what the formulas need from its config."""

    tensors: dict[str, Tensor]
    layers: tuple[LayerWeights, ...]
    n_heads: int
    d_head: int
    attn_only: bool
    normalization: str | None  # as in ModelConfig: LN, LNPre, RMS, RMSPre or None
    eps: float
    act_fn: str | None  # None for attention-only models
    scale: float  # what attention scores are divided by
    bridge_cfg: object

    @classmethod
    def live(cls, model: torch.nn.Module) -> "Weights":
        """The model's own Parameters, by reference: gradients reach them and in-place updates show."""
        return cls._from(model, model.state_dict(keep_vars=True), fuse=False)

    @classmethod
    def of(cls, model: torch.nn.Module) -> "Weights":
        """A detached snapshot with q, k and v fused per layer, for fast inference-only partial forwards."""
        return cls._from(model, {k: v.detach() for k, v in model.state_dict().items()}, fuse=True)

    @classmethod
    def _from(cls, model: torch.nn.Module, tensors: dict[str, Tensor], fuse: bool) -> "Weights":
        cfg = model.cfg
        attn_only = bool(cfg.attn_only)

        def linear(name: str) -> Linear:
            return tensors[f"{name}.weight"], tensors.get(f"{name}.bias")

        layers = []
        for layer in range(cfg.n_layers):
            a, m = f"blocks.{layer}.attn", f"blocks.{layer}.mlp"
            q, k, v = linear(f"{a}.q"), linear(f"{a}.k"), linear(f"{a}.v")
            qkv = (torch.cat([q[0], k[0], v[0]]).contiguous(), torch.cat([q[1], k[1], v[1]])) if fuse else None
            mlp_in, mlp_out = (None, None) if attn_only else (linear(f"{m}.in"), linear(f"{m}.out"))
            layers.append(LayerWeights(q, k, v, linear(f"{a}.o"), qkv, mlp_in, mlp_out))
        return cls(
            tensors=tensors,
            layers=tuple(layers),
            n_heads=cfg.n_heads,
            d_head=cfg.d_head,
            attn_only=attn_only,
            normalization=normalization_kind(cfg.normalization_type),
            eps=float(getattr(cfg, "eps", 1e-5)),
            act_fn=None if attn_only else (cfg.act_fn or "gelu").lower(),
            scale=attention_scale(model),
            bridge_cfg=cfg,
        )

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def d_vocab(self) -> int:
        return self.tensors["unembed.weight"].shape[0]

    @cached_property
    def act(self) -> Activation | None:
        return None if self.act_fn is None else activation(self.act_fn)

    @cached_property
    def params(self) -> dict[str, Tensor]:
        """The same weights in HookedTransformer names and shapes (detached copies), for per-head algebra."""
        return to_hooked_state_dict(self.tensors, self.bridge_cfg)

    # ---- embedding and normalisation -------------------------------------------------------------------

    def embed(self, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos d_model"]:
        """Token plus positional embedding (the residual stream entering block 0)."""
        return F.embedding(tokens, self.tensors["embed.weight"]) + self.tensors["pos_embed.weight"][: tokens.shape[-1]]

    def norm(self, x: Float[Tensor, "... d_model"], where: str) -> Float[Tensor, "... d_model"]:
        """The normalization `where` ("blocks.L.ln1", "blocks.L.ln2" or "ln_final") applied to x."""
        return normalize(x, self.normalization, self.tensors.get(f"{where}.weight"), self.tensors.get(f"{where}.bias"), self.eps)

    # ---- attention projections ---------------------------------------------------------------------------

    def qkv(self, layer: int, x: Float[Tensor, "... pos d_model"]) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values of x, each [... pos head d_head] (the hook layout)."""
        weights = self.layers[layer]
        if weights.qkv is not None:
            return self.qkv_projection(layer, x).unbind(-3)
        shape = (*x.shape[:-1], self.n_heads, self.d_head)
        return tuple(F.linear(x, *projection).view(shape) for projection in (weights.q, weights.k, weights.v))

    def qkv_projection(
        self, layer: int, x: Float[Tensor, "... pos d_model"], parts: slice = slice(0, 3)
    ) -> Float[Tensor, "... pos part head d_head"]:
        """Queries, keys and values (parts 0, 1, 2 of the third-last axis) of x in one matrix product."""
        weights = self.layers[layer]
        width = self.n_heads * self.d_head
        lo, hi = parts.start * width, parts.stop * width
        if weights.qkv is None:
            weight = torch.cat([weights.q[0], weights.k[0], weights.v[0]])[lo:hi]
            bias = torch.cat([weights.q[1], weights.k[1], weights.v[1]])[lo:hi]
        else:
            weight, bias = weights.qkv[0][lo:hi], weights.qkv[1][lo:hi]
        return F.linear(x, weight, bias).view(*x.shape[:-1], parts.stop - parts.start, self.n_heads, self.d_head)

    def attn(self, layer: int, name: str) -> Tensor:
        """W_Q, b_Q, W_K, b_K, W_V, b_V, W_O or b_O of one layer, in HookedTransformer shapes."""
        return self.params[f"blocks.{layer}.attn.{name}"]

    def project(self, layer: int, x: Float[Tensor, "... pos d_model"], which: str) -> Float[Tensor, "... pos head d_head"]:
        """x @ W_{which} + b_{which} per head (which: Q, K or V)."""
        projection = getattr(self.layers[layer], which.lower())
        return F.linear(x, *projection).view(*x.shape[:-1], self.n_heads, self.d_head)

    def head_outputs(self, layer: int, z: Float[Tensor, "... pos head d_head"]) -> Float[Tensor, "... pos head d_model"]:
        """Each head's write to the residual stream, z @ W_O (without the shared bias b_O)."""
        return einops.einsum(z, self.attn(layer, "W_O"), "... pos head d_head, head d_head d_model -> ... pos head d_model")

    def attention_output(self, layer: int, z: Float[Tensor, "... pos head d_head"]) -> Float[Tensor, "... pos d_model"]:
        """The attention layer's output: sum over heads of z @ W_O, plus b_O."""
        return F.linear(z.flatten(-2), *self.layers[layer].o)

    # ---- MLP and unembedding -----------------------------------------------------------------------------

    def mlp(self, layer: int, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        """The MLP of block `layer` on its (already normalised) input."""
        weights = self.layers[layer]
        return F.linear(self.act(F.linear(x, *weights.mlp_in)), *weights.mlp_out)

    def finish_block(self, layer: int, resid_mid: Float[Tensor, "... pos d_model"]) -> Float[Tensor, "... pos d_model"]:
        """The residual stream leaving block `layer` from the one after its attention (adds the MLP, if any)."""
        if self.attn_only:
            return resid_mid
        return resid_mid + self.mlp(layer, self.norm(resid_mid, f"blocks.{layer}.ln2"))

    def unembed(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... vocab"]:
        return F.linear(x, self.tensors["unembed.weight"], self.tensors.get("unembed.bias"))

    def unembed_columns(
        self, x: Float[Tensor, "... batch d_model"], columns: Int[Tensor, "batch column"]
    ) -> Float[Tensor, "... batch column"]:
        """unembed(x).gather(-1, columns) without the rest of the vocabulary: per row, only the logits it reads."""
        picked = self.tensors["unembed.weight"][columns]  # batch column d_model
        logits = einops.einsum(x, picked, "... batch d_model, batch column d_model -> ... batch column")
        bias = self.tensors.get("unembed.bias")
        return logits if bias is None else logits + bias[columns]
