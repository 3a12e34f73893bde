"""Causal multi-head attention of a native TransformerBridge block, from queries, keys and values.

Two formulations of the same function: `attend`, the fused `F.scaled_dot_product_attention` for when nobody needs
the pattern (training), and `attention_scores` -> `mask_future` -> softmax -> `mix` for when the scores or the
pattern are read or edited. Queries may start later than the keys (`offset`: the absolute position of the first
query), as in a partial forward over the last positions; a query at absolute position p sees keys 0..p.

`scale` is what the scores are divided by, as TransformerLens's `attn_scale` (sqrt(d_head) by default).

Layouts: functions named for z (`causal_z`, `mixed_z`) take TransformerLens's hook layout [... pos head d_head];
the others the kernel layout [... head pos d_head] (`heads_first` converts either way).

>>> import torch
>>> q, k, v = torch.randn(3, 2, 4, 5, 8).unbind(0)            # batch head pos d_head
>>> fused = attend(q, k, v, scale=8**0.5)
>>> explicit = mix(causal_pattern(attention_scores(q, k, scale=8**0.5)), v)
>>> torch.allclose(fused, explicit, atol=1e-6)
True
>>> late = attend(q[:, :, 3:], k, v, scale=8**0.5, offset=3)  # the last two queries only
>>> torch.allclose(late, fused[:, :, 3:], atol=1e-6)
True
"""

import math

import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor


def attention_scale(model) -> float:
    """What the native attention divides scores by: cfg.attn_scale if set, else sqrt(d_head)."""
    cfg = model.cfg
    if getattr(cfg, "use_attn_scale", True) and (getattr(cfg, "attn_scale", -1.0) or -1.0) > 0:
        return float(cfg.attn_scale)
    return math.sqrt(cfg.d_head)


def heads_first(x: Float[Tensor, "... pos head d_head"]) -> Float[Tensor, "... head pos d_head"]:
    """Swap the position and head axes (its own inverse)."""
    return x.transpose(-3, -2)


def future_mask(n_query: int, n_key: int, offset: int = 0, device: torch.device | None = None) -> Tensor:
    """[query_pos key_pos] booleans, True where the key is later than the query (query i is at offset + i)."""
    keys = torch.arange(n_key, device=device)[None, :]
    return keys > (torch.arange(n_query, device=device)[:, None] + offset)


def attention_scores(
    q: Float[Tensor, "... head query_pos d_head"], k: Float[Tensor, "... head key_pos d_head"], scale: float
) -> Float[Tensor, "... head query_pos key_pos"]:
    """Query-key dot products divided by `scale`, before the causal mask (TransformerLens's hook_attn_scores)."""
    return (q @ k.transpose(-1, -2)) / scale


def mask_future(scores: Float[Tensor, "... query_pos key_pos"], offset: int = 0) -> Float[Tensor, "... query_pos key_pos"]:
    """The scores with every later key set to -inf."""
    blocked = future_mask(scores.shape[-2], scores.shape[-1], offset, scores.device)
    return scores.masked_fill(blocked, float("-inf"))


def causal_pattern(scores: Float[Tensor, "... query_pos key_pos"], offset: int = 0) -> Float[Tensor, "... query_pos key_pos"]:
    """The attention pattern: softmax over the keys a query may see."""
    return mask_future(scores, offset).softmax(dim=-1)


def mix(
    pattern: Float[Tensor, "... head query_pos key_pos"], v: Float[Tensor, "... head key_pos d_head"]
) -> Float[Tensor, "... head query_pos d_head"]:
    """Values weighted by the pattern: z in the kernel layout."""
    return pattern @ v


def attend(
    q: Float[Tensor, "... head query_pos d_head"],
    k: Float[Tensor, "... head key_pos d_head"],
    v: Float[Tensor, "... head key_pos d_head"],
    scale: float,
    offset: int = 0,
) -> Float[Tensor, "... head query_pos d_head"]:
    """Causal attention through the fused kernel; the pattern is never formed."""
    if offset == 0 and q.shape[-2] == k.shape[-2]:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=1 / scale)
    allowed = ~future_mask(q.shape[-2], k.shape[-2], offset, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=1 / scale)


def attend_after_prefix(
    q: Float[Tensor, "... head tail d_head"],
    k: Float[Tensor, "... head tail d_head"],
    v: Float[Tensor, "... head tail d_head"],
    scale: float,
    prefix_k: Float[Tensor, "batch head first d_head"],
    prefix_v: Float[Tensor, "batch head first d_head"],
) -> Float[Tensor, "... head tail d_head"]:
    """Causal attention of the tail positions first.. over cached keys and values of the positions before them,
    shared by every leading copy (the prefix is broadcast, never copied) and the tail's own keys and values."""
    scores = mask_future(q @ k.transpose(-1, -2))
    if prefix_k.shape[-2] == 0:
        return (scores / scale).softmax(dim=-1) @ v
    first = prefix_k.shape[-2]
    pattern = (torch.cat([q @ prefix_k.transpose(-1, -2), scores], dim=-1) / scale).softmax(dim=-1)
    return pattern[..., :first] @ prefix_v + pattern[..., first:] @ v


def causal_z(
    q: Float[Tensor, "... query_pos head d_head"],
    k: Float[Tensor, "... key_pos head d_head"],
    v: Float[Tensor, "... key_pos head d_head"],
    scale: float,
    query_offset: int = 0,
) -> Float[Tensor, "... query_pos head d_head"]:
    """Causal attention in the hook layout, explicit: queries at positions query_offset.. over keys at 0..."""
    pattern = causal_pattern(attention_scores(heads_first(q), heads_first(k), scale), query_offset)
    return heads_first(mix(pattern, heads_first(v)))


def mixed_z(
    pattern: Float[Tensor, "... head query_pos key_pos"], v: Float[Tensor, "... key_pos head d_head"]
) -> Float[Tensor, "... query_pos head d_head"]:
    """z in the hook layout from a given attention pattern and values."""
    return heads_first(mix(pattern, heads_first(v)))
