"""Hooked transformer layers with HookedTransformer parameter and hook names, for custom `HookedRootModule`s.

Parameters are stored in the HookedTransformer layout (`W_Q [head d_model d_head]`, `W_O [head d_head d_model]`,
`W_in [d_model d_mlp]`, LayerNorm `w`/`b`), so the weight views interp's circuit code reads exist as they are.

`Attention` is causal and takes its queries from the last `n_queries` positions of its input (all positions by
default); keys and values always come from every position. A query at absolute position p attends to keys
<= p. Without hooks on the scores or pattern it runs `F.scaled_dot_product_attention`; with them, the explicit
computation whose intermediate tensors the hooks see and may edit. Both give the same result (tested).
The math is the engine's (interp.model.engine: norms, attention, activations); these modules add the
HookedTransformer parameter layout and the HookPoints.

>>> import torch
>>> from interp.model.config import ModelConfig
>>> cfg = ModelConfig(n_layers=1, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=11, d_mlp=32)
>>> block = Block(cfg, n_queries=3)
>>> for p in block.parameters():
...     _ = torch.nn.init.normal_(p, std=0.2)
>>> tuple(block(torch.randn(2, 8, 16)).shape)           # the last 3 positions continue
(2, 3, 16)
"""

import math

import einops
import torch
from jaxtyping import Float
from torch import Tensor, nn
from transformer_lens.hook_points import HookPoint

from interp.model.config import ModelConfig
from interp.model.engine.activations import activation
from interp.model.engine.attention import attend, attention_scores, heads_first, mask_future, mix
from interp.model.engine.norms import centre, root_mean_square


class LayerNorm(nn.Module):
    """LayerNorm with `w`, `b` and the hooks `hook_scale`, `hook_normalized`; identity when `enabled` is False."""

    def __init__(self, d_model: int, *, enabled: bool = True, eps: float = 1e-5):
        super().__init__()
        self.enabled, self.eps = enabled, eps
        if enabled:
            self.w = nn.Parameter(torch.ones(d_model))
            self.b = nn.Parameter(torch.zeros(d_model))
        self.hook_scale = HookPoint()
        self.hook_normalized = HookPoint()

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        if not self.enabled:
            return self.hook_normalized(x)
        x = centre(x)
        scale = self.hook_scale(root_mean_square(x, self.eps))
        return self.hook_normalized(x / scale * self.w + self.b)


class Attention(nn.Module):
    """Multi-head causal attention; queries from the last positions, keys and values from all of them."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        heads, d_model, d_head = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q = nn.Parameter(torch.empty(heads, d_model, d_head))
        self.W_K = nn.Parameter(torch.empty(heads, d_model, d_head))
        self.W_V = nn.Parameter(torch.empty(heads, d_model, d_head))
        self.W_O = nn.Parameter(torch.empty(heads, d_head, d_model))
        self.b_Q = nn.Parameter(torch.zeros(heads, d_head))
        self.b_K = nn.Parameter(torch.zeros(heads, d_head))
        self.b_V = nn.Parameter(torch.zeros(heads, d_head))
        self.b_O = nn.Parameter(torch.zeros(d_model))
        self.scale = math.sqrt(d_head)
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_attn_scores, self.hook_pattern, self.hook_z = HookPoint(), HookPoint(), HookPoint()

    def _explicit(self, q: Tensor, k: Tensor, v: Tensor, offset: int) -> Float[Tensor, "batch head query_pos d_head"]:
        scores = mask_future(attention_scores(q, k, self.scale), offset)
        pattern = self.hook_pattern(self.hook_attn_scores(scores).softmax(dim=-1))
        return mix(pattern, v)

    def _fast(self, q: Tensor, k: Tensor, v: Tensor, offset: int) -> Float[Tensor, "batch head query_pos d_head"]:
        return attend(q, k, v, self.scale, offset)

    def forward(
        self, x: Float[Tensor, "batch pos d_model"], n_queries: int | None = None
    ) -> Float[Tensor, "batch query_pos d_model"]:
        n_queries = x.shape[1] if n_queries is None else n_queries
        offset = x.shape[1] - n_queries
        q = self.hook_q(
            einops.einsum(x[:, offset:], self.W_Q, "batch pos d_model, head d_model d_head -> batch pos head d_head") + self.b_Q
        )
        k = self.hook_k(einops.einsum(x, self.W_K, "batch pos d_model, head d_model d_head -> batch pos head d_head") + self.b_K)
        v = self.hook_v(einops.einsum(x, self.W_V, "batch pos d_model, head d_model d_head -> batch pos head d_head") + self.b_V)
        explicit = self.hook_attn_scores.has_hooks() or self.hook_pattern.has_hooks()
        attention = self._explicit if explicit else self._fast
        z = self.hook_z(heads_first(attention(heads_first(q), heads_first(k), heads_first(v), offset)))
        return einops.einsum(z, self.W_O, "batch pos head d_head, head d_head d_model -> batch pos d_model") + self.b_O


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp))
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        self.act = activation(cfg.act_fn)
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()

    def forward(self, x: Float[Tensor, "batch pos d_model"]) -> Float[Tensor, "batch pos d_model"]:
        pre = self.hook_pre(einops.einsum(x, self.W_in, "batch pos d_model, d_model d_mlp -> batch pos d_mlp") + self.b_in)
        post = self.hook_post(self.act(pre))
        return einops.einsum(post, self.W_out, "batch pos d_mlp, d_mlp d_model -> batch pos d_model") + self.b_out


class Block(nn.Module):
    """Pre-norm block. With `n_queries`, the block keeps only the last n_queries positions of the stream:
    its attention reads every position and writes to those, and the residual stream continues from them."""

    def __init__(self, cfg: ModelConfig, *, n_queries: int | None = None):
        super().__init__()
        self.n_queries = n_queries
        norm = cfg.normalization_type == "LN"
        self.ln1 = LayerNorm(cfg.d_model, enabled=norm)
        self.attn = Attention(cfg)
        self.hook_resid_pre, self.hook_attn_out, self.hook_resid_post = HookPoint(), HookPoint(), HookPoint()
        self.has_mlp = not cfg.attn_only
        if self.has_mlp:
            self.ln2 = LayerNorm(cfg.d_model, enabled=norm)
            self.mlp = MLP(cfg)
            self.hook_resid_mid, self.hook_mlp_out = HookPoint(), HookPoint()

    def forward(
        self, resid: Float[Tensor, "batch pos d_model"], position_ids: Tensor | None = None
    ) -> Float[Tensor, "batch query_pos d_model"]:
        """`position_ids` is accepted for interface parity with TransformerLens blocks (positions are absolute
        embeddings added before the first block, so it is unused)."""
        resid = self.hook_resid_pre(resid)
        n_queries = None if self.n_queries is None else min(self.n_queries, resid.shape[1])
        attn_out = self.hook_attn_out(self.attn(self.ln1(resid), n_queries))
        resid = resid[:, resid.shape[1] - attn_out.shape[1] :] + attn_out
        if self.has_mlp:
            resid = self.hook_resid_mid(resid)
            resid = resid + self.hook_mlp_out(self.mlp(self.ln2(resid)))
        return self.hook_resid_post(resid)
