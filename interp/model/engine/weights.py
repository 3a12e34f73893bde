"""A plain-tensor snapshot of a model's weights, and the block's pieces (norms, MLP, unembedding) computed from it.

Reading `model.W_Q` on a TransformerBridge stacks every layer's weights anew, and calling a bridge module runs
its hook machinery: about a millisecond each, which dominates a partial forward over a few positions. The
snapshot is taken once (through `interp.model.layout.to_hooked_state_dict`, HookedTransformer names and shapes)
and the formulas below are those of the native model (`transformer_lens.model_bridge.sources.native`), checked
against its forward in tests/unit/analysis/test_patching.py.

>>> w = Weights.of(model)                          # doctest: +SKIP
>>> w.unembed(w.norm(resid, "ln_final"))           # == model.unembed(model.ln_final(resid))   # doctest: +SKIP
"""

from dataclasses import dataclass

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from interp.model.layout import to_hooked_state_dict

ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "solu": lambda x: x * F.softmax(x, dim=-1),
}


@dataclass(frozen=True, eq=False)
class Weights:
    """Weights in HookedTransformer names (`blocks.0.attn.W_Q` [head d_model d_head], ...), the same fused for
    fast matrix products (`qkv`: [d_model (3 head d_head)], `out`: [(head d_head) d_model]), and what the
    formulas need from the config."""

    params: dict[str, Tensor]
    n_layers: int
    n_heads: int
    d_head: int
    attn_only: bool
    normalization: str | None  # upper-case: LN, LNPRE, RMS, RMSPRE or None
    eps: float
    act_fn: str | None
    qkv: list[tuple[Tensor, Tensor]]  # per layer: weight [d_model (3 head d_head)], bias [(3 head d_head)]
    out: list[tuple[Tensor, Tensor]]  # per layer: W_O as [(head d_head) d_model], b_O

    @classmethod
    def of(cls, model) -> "Weights":
        cfg = model.cfg
        norm = cfg.normalization_type.upper() if cfg.normalization_type else None
        params = {k: v.detach() for k, v in to_hooked_state_dict(model.state_dict(), cfg).items()}
        qkv, out = [], []
        for layer in range(cfg.n_layers):
            a = f"blocks.{layer}.attn."
            weights = torch.stack([params[a + n] for n in ("W_Q", "W_K", "W_V")])  # three head d_model d_head
            biases = torch.stack([params[a + n] for n in ("b_Q", "b_K", "b_V")])
            qkv.append((
                einops.rearrange(weights, "three head d_model d_head -> d_model (three head d_head)").contiguous(),
                biases.flatten(),
            ))
            out.append((einops.rearrange(params[a + "W_O"], "head d_head d_model -> (head d_head) d_model").contiguous(), params[a + "b_O"]))
        act = None if cfg.attn_only else (cfg.act_fn or "gelu").lower()
        return cls(params, cfg.n_layers, cfg.n_heads, cfg.d_head, bool(cfg.attn_only), norm, float(getattr(cfg, "eps", 1e-5)), act, qkv, out)

    def qkv_projection(self, layer: int, x: Float[Tensor, "... pos d_model"], parts: slice = slice(0, 3)) -> Float[Tensor, "... pos part head d_head"]:
        """Queries, keys and values (parts 0, 1, 2 of the third-last axis) of x in one matrix product."""
        weight, bias = self.qkv[layer]
        width = self.n_heads * self.d_head
        lo, hi = parts.start * width, parts.stop * width
        out = x @ weight[:, lo:hi] + bias[lo:hi]
        return out.view(*x.shape[:-1], parts.stop - parts.start, self.n_heads, self.d_head)

    def embed(self, tokens: Tensor) -> Float[Tensor, "batch pos d_model"]:
        """Token plus positional embedding (the residual stream entering block 0)."""
        return self.params["embed.W_E"][tokens] + self.params["pos_embed.W_pos"][: tokens.shape[-1]]

    def attn(self, layer: int, name: str) -> Tensor:
        """W_Q, b_Q, W_K, b_K, W_V, b_V, W_O or b_O of one layer."""
        return self.params[f"blocks.{layer}.attn.{name}"]

    def norm(self, x: Float[Tensor, "... d_model"], where: str) -> Float[Tensor, "... d_model"]:
        """The normalization `where` ("blocks.L.ln1", "blocks.L.ln2" or "ln_final") applied to x."""
        kind = self.normalization
        if kind is None:
            return x
        if kind == "LN":
            return F.layer_norm(x, x.shape[-1:], self.params[f"{where}.w"], self.params[f"{where}.b"], self.eps)
        x32 = x.float()
        if kind == "LNPRE":
            x32 = x32 - x32.mean(dim=-1, keepdim=True)
            return (x32 / (x32.pow(2).mean(dim=-1, keepdim=True) + self.eps).sqrt()).to(x.dtype)
        normed = (x32 * torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + self.eps)).to(x.dtype)
        return normed if kind == "RMSPRE" else self.params[f"{where}.w"] * normed

    def mlp(self, layer: int, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... d_model"]:
        """The MLP of block `layer` on its (already normalised) input."""
        p = f"blocks.{layer}.mlp."
        hidden = ACTIVATIONS[self.act_fn](x @ self.params[p + "W_in"] + self.params[p + "b_in"])
        return hidden @ self.params[p + "W_out"] + self.params[p + "b_out"]

    def unembed(self, x: Float[Tensor, "... d_model"]) -> Float[Tensor, "... vocab"]:
        logits = x @ self.params["unembed.W_U"]
        bias = self.params.get("unembed.b_U")
        return logits if bias is None else logits + bias

    def unembed_columns(self, x: Float[Tensor, "... batch d_model"], columns: Int[Tensor, "batch column"]) -> Float[Tensor, "... batch column"]:
        """unembed(x).gather(-1, columns) without the rest of the vocabulary: per row, only the logits it reads."""
        picked = self.params["unembed.W_U"][:, columns]  # d_model batch column
        logits = einops.einsum(x, picked, "... batch d_model, d_model batch column -> ... batch column")
        bias = self.params.get("unembed.b_U")
        return logits if bias is None else logits + bias[columns]

    def project(self, layer: int, x: Float[Tensor, "... pos d_model"], which: str) -> Float[Tensor, "... pos head d_head"]:
        """x @ W_{which} + b_{which} per head (which: Q, K or V)."""
        weight, bias = self.attn(layer, f"W_{which}"), self.attn(layer, f"b_{which}")
        return einops.einsum(x, weight, "... pos d_model, head d_model d_head -> ... pos head d_head") + bias

    def head_outputs(self, layer: int, z: Float[Tensor, "... pos head d_head"]) -> Float[Tensor, "... pos head d_model"]:
        """Each head's write to the residual stream, z @ W_O (without the shared bias b_O)."""
        return einops.einsum(z, self.attn(layer, "W_O"), "... pos head d_head, head d_head d_model -> ... pos head d_model")

    def attention_output(self, layer: int, z: Float[Tensor, "... pos head d_head"]) -> Float[Tensor, "... pos d_model"]:
        """The attention layer's output: sum over heads of z @ W_O, plus b_O."""
        weight, bias = self.out[layer]
        return z.flatten(-2) @ weight + bias

    def finish_block(self, layer: int, resid_mid: Float[Tensor, "... pos d_model"]) -> Float[Tensor, "... pos d_model"]:
        """The residual stream leaving block `layer` from the one after its attention (adds the MLP, if any)."""
        if self.attn_only:
            return resid_mid
        return resid_mid + self.mlp(layer, self.norm(resid_mid, f"blocks.{layer}.ln2"))
