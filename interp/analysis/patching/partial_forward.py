"""Run part of a model: the blocks from a layer on, and only the positions a patch can change.

Two ways to finish a forward pass from the residual stream entering block `start`:

- `interp.model.engine.bridge_blocks.run_blocks_from` calls the bridge's own modules (with hooks firing): the
  reference.
- `tail_logits` recomputes the same function from a weight snapshot (`interp.model.engine.weights.Weights`), with
  the engine's norms, projections, MLP and unembedding, for the positions that can differ from a cached run.
  In a causal model an edit at
  position p leaves every position < p unchanged in every later layer, so only the *tail* first..last is
  recomputed, attending to the cached keys and values of the positions before it; in the last block only
  the positions the metric reads are computed as queries, and only they are unembedded. Many patched copies
  (`unit` axis) share one cached run (`batch` axis), so the prefix is never copied.

`tail_logits` supports native models with standard positional embeddings (the presets); `check_supported`
says why another model is not. `forward_cache` is the engine's forward (interp.model.engine.forward) keeping what
patching restarts from; `capture_run` keeps the same through the bridge's hooks.

>>> import torch
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=11))
>>> tokens = torch.randint(0, 11, (2, 8))
>>> w = Weights.of(model)
>>> run = forward_cache(w, tokens, w.scale)
>>> torch.allclose(run.logits, capture_run(model, tokens).logits, atol=1e-5)
True
>>> read = torch.tensor([7, 5])                    # the position each row's metric reads
>>> tail = run.resid_pre[1][None, :, 3:]           # [unit batch tail d_model]: positions 3.. of the stream entering block 1
>>> logits = tail_logits(w, tail, 1, 3, run, read, w.scale)
>>> torch.allclose(logits[0], run.logits[torch.arange(2), read], atol=1e-5)
True
"""

from dataclasses import dataclass, field

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core.errors import InterpError
from interp.model.engine.activations import ACTIVATIONS
from interp.model.engine.attention import attend_after_prefix, future_mask, heads_first
from interp.model.engine.forward import Recorder, embed, run_blocks
from interp.model.engine.weights import Weights


class SuffixError(InterpError, ValueError):
    """The model's architecture is outside what the fast partial forward reproduces."""


def check_supported(model) -> None:
    """Raise SuffixError unless `tail_logits` reproduces this model's forward exactly."""
    cfg = model.cfg
    problems = []
    if not all(hasattr(model, name) for name in ("blocks", "ln_final", "unembed", "W_Q", "W_O")):
        problems.append("it is not a native TransformerBridge (no blocks/ln_final/unembed/W_Q)")
    if getattr(cfg, "positional_embedding_type", "standard") != "standard":
        problems.append(f"positional_embedding_type is {cfg.positional_embedding_type!r} (only 'standard')")
    if (getattr(cfg, "output_logits_soft_cap", -1.0) or -1.0) > 0 or (getattr(cfg, "attn_scores_soft_cap", -1.0) or -1.0) > 0:
        problems.append("it soft-caps logits or attention scores")
    if getattr(cfg, "n_key_value_heads", None) not in (None, cfg.n_heads):
        problems.append("it shares keys/values between heads (GQA)")
    if getattr(cfg, "gated_mlp", False) or getattr(cfg, "final_rms", False):
        problems.append("it has a gated MLP or a forced final RMS norm")
    if not cfg.attn_only and (cfg.act_fn or "gelu").lower() not in ACTIVATIONS:
        problems.append(f"its MLP activation {cfg.act_fn!r} is not one of {sorted(ACTIVATIONS)}")
    if problems:
        raise SuffixError(
            f"batched patching cannot run this model: {'; '.join(problems)}; use interp.analysis.patching.reference"
        )


@dataclass(frozen=True)
class RunCache:
    """Activations of one forward pass, per layer, batch first (HookedTransformer shapes)."""

    resid_pre: list[Tensor]  # [batch pos d_model]
    attn_out: list[Tensor]
    resid_mid: list[Tensor]  # after attention (resid_post for attention-only models)
    mlp_out: list[Tensor | None]
    resid_post: list[Tensor]
    q: list[Tensor]  # [batch pos head d_head]
    k: list[Tensor]
    v: list[Tensor]
    z: list[Tensor]
    pattern: list[Tensor]  # [batch head query_pos key_pos]
    logits: Tensor
    derived: dict = field(default_factory=dict, compare=False, repr=False)  # per-layer results computed from the above

    @property
    def n_layers(self) -> int:
        return len(self.resid_pre)


_CAPTURED = (
    "hook_resid_pre",
    "hook_attn_out",
    "hook_resid_post",
    "attn.hook_q",
    "attn.hook_k",
    "attn.hook_v",
    "attn.hook_z",
    "attn.hook_pattern",
)


@torch.no_grad()
def capture_run(model, tokens: Int[Tensor, "batch pos"]) -> RunCache:
    """One forward pass keeping what patching restarts from (residual streams, q/k/v/z, patterns, outputs)."""
    names = [f"blocks.{layer}.{hook}" for layer in range(model.cfg.n_layers) for hook in _CAPTURED]
    if not model.cfg.attn_only:
        names += [f"blocks.{layer}.{hook}" for layer in range(model.cfg.n_layers) for hook in ("hook_resid_mid", "hook_mlp_out")]
    kept: dict[str, Tensor] = {}

    def keep(name: str):
        def hook(activation: Tensor, hook) -> None:
            kept[name] = activation.detach()

        return hook

    logits = model.run_with_hooks(tokens, fwd_hooks=[(name, keep(name)) for name in names])
    layers = range(model.cfg.n_layers)

    def per_layer(hook: str) -> list[Tensor]:
        return [kept[f"blocks.{layer}.{hook}"] for layer in layers]

    post = per_layer("hook_resid_post")
    return RunCache(
        resid_pre=per_layer("hook_resid_pre"),
        attn_out=per_layer("hook_attn_out"),
        resid_mid=post if model.cfg.attn_only else per_layer("hook_resid_mid"),
        mlp_out=[None] * len(post) if model.cfg.attn_only else per_layer("hook_mlp_out"),
        resid_post=post,
        q=per_layer("attn.hook_q"),
        k=per_layer("attn.hook_k"),
        v=per_layer("attn.hook_v"),
        z=per_layer("attn.hook_z"),
        pattern=per_layer("attn.hook_pattern"),
        logits=logits.detach(),
    )


# ---- the block computed from weights ---------------------------------------------------------------------


def _layer_hooks(layer: int, attn_only: bool) -> dict[str, str]:
    """RunCache field -> the hook name the engine's forward offers it under."""
    b = f"blocks.{layer}"
    names = {"resid_pre": f"{b}.hook_resid_pre", "attn_out": f"{b}.hook_attn_out", "resid_post": f"{b}.hook_resid_post"}
    names |= {part: f"{b}.attn.hook_{part}" for part in ("q", "k", "v", "z", "pattern")}
    if not attn_only:
        names |= {"resid_mid": f"{b}.hook_resid_mid", "mlp_out": f"{b}.hook_mlp_out"}
    return names


def forward_cache(
    w: Weights, tokens: Int[Tensor, "batch pos"], scale: float, *, track: bool = False, read: Int[Tensor, " batch"] | None = None
) -> RunCache:
    """The forward pass of the model computed from its weight snapshot, keeping what patching restarts from.
    Same activations as `capture_run` (to float32 rounding), without the bridge's hook machinery. Builds an
    autograd graph through every activation with `track` (attribution patching differentiates through it).
    With `read` (one position per row), logits are computed at those positions only and are NaN elsewhere.
    `scale` must be the snapshot's own (`w.scale`, `attention_scale(model)`)."""
    if scale != w.scale:
        raise SuffixError(f"attention scale {scale} differs from the model's {w.scale}")
    layers = [_layer_hooks(layer, w.attn_only) for layer in range(w.n_layers)]
    recorder = Recorder(name for names in layers for name in names.values())
    resid = embed(w, tokens)
    if track:
        resid = resid.detach().requires_grad_(True)
    resid = run_blocks(w, resid, 0, recorder)
    kept = recorder.kept
    out = {
        field: [kept[names[field]] for names in layers]
        for field in ("resid_pre", "attn_out", "resid_post", "q", "k", "v", "z", "pattern")
    }
    out["resid_mid"] = out["resid_post"] if w.attn_only else [kept[names["resid_mid"]] for names in layers]
    out["mlp_out"] = [None] * w.n_layers if w.attn_only else [kept[names["mlp_out"]] for names in layers]
    if read is None:
        return RunCache(**out, logits=w.unembed(w.norm(resid, "ln_final")))
    rows = torch.arange(tokens.shape[0], device=tokens.device)
    logits = torch.full((*tokens.shape, w.d_vocab), float("nan"), device=tokens.device)
    logits[rows, read] = w.unembed(w.norm(resid[rows, read], "ln_final"))
    return RunCache(**out, logits=logits)


@dataclass(frozen=True)
class OneChange:
    """Per-unit residual streams equal to `base` except at one tail position each, `changed[unit]`, where they are
    `rows[unit]` — without a copy of the base per unit."""

    base: Float[Tensor, "batch tail d_model"]
    rows: Float[Tensor, "unit batch d_model"]
    changed: Int[Tensor, " unit"]

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.rows.shape[0], *self.base.shape)

    @property
    def device(self) -> torch.device:
        return self.base.device

    def plus(self, delta: Float[Tensor, "unit batch tail d_model"]) -> Float[Tensor, "unit batch tail d_model"]:
        """The streams plus `delta`, in one pass over the delta."""
        out = self.base.unsqueeze(0) + delta
        units = torch.arange(len(self.changed), device=delta.device)
        out[units, :, self.changed] += self.rows - self.base[:, self.changed].transpose(0, 1)
        return out

    def at(self, index: Int[Tensor, " batch"]) -> Float[Tensor, "unit batch d_model"]:
        """Each unit's stream at tail position index[row] of each row."""
        batch = torch.arange(self.base.shape[0], device=self.base.device)
        here = (index[None, :] == self.changed[:, None])[..., None]  # unit batch 1
        return torch.where(here, self.rows, self.base[batch, index].unsqueeze(0))


def _sparse_block(
    w: Weights, layer: int, resid: OneChange, first: int, prefix: RunCache, index: Tensor, scale: float, last: bool
) -> Float[Tensor, "unit batch tail d_model"]:
    """Block `layer` when each unit's input differs from the cached run at one tail position, `changed[unit]`.

    Queries, keys and values stay the cached ones except at that position, so only its projections are
    computed; the attention scores are the cached ones with one row and one column replaced per unit. In the
    last block only the rows at `index` (read positions) are computed and returned."""
    unit, batch, tail = resid.shape[:3]
    end = first + tail
    units = torch.arange(unit, device=resid.device)
    changed = resid.changed
    column = first + changed  # absolute position of each unit's change
    x = w.norm(resid.rows, f"blocks.{layer}.ln1")  # unit batch d_model
    q0, k0, v0 = w.qkv_projection(layer, x.unsqueeze(-2))[..., 0, :, :, :].unbind(-3)  # unit batch head d_head
    k, v = heads_first(prefix.k[layer][:, :end]), heads_first(prefix.v[layer][:, :end])  # batch head end d_head
    if last:  # one query per row: the cached one at the read position, or the new one if that is where it changed
        rows = torch.arange(batch, device=resid.device)
        q = prefix.q[layer][rows, first + index]  # batch head d_head
        q = torch.where((index[None, :] == changed[:, None])[..., None, None], q0, q.unsqueeze(0))  # unit batch head d_head
        scores = einops.einsum(q, k, "unit batch head d_head, batch head key d_head -> unit batch head key")
        scores[units, :, :, column] = (q * k0).sum(-1)
        mask = (torch.arange(end, device=resid.device)[None, :] > (first + index)[:, None])[:, None, :]  # batch 1 key
        pattern = (scores.masked_fill(mask, float("-inf")) / scale).softmax(dim=-1)  # unit batch head key
        z = einops.einsum(pattern, v, "unit batch head key, batch head key d_head -> unit batch head d_head")
        weight = pattern[units, :, :, column].unsqueeze(-1)  # unit batch head 1
        old_v = einops.rearrange(v[:, :, column], "batch head unit d_head -> unit batch head d_head")
        z = (z + weight * (v0 - old_v)).unsqueeze(2)  # unit batch 1 head d_head
        return w.finish_block(layer, resid.at(index).unsqueeze(2) + w.attention_output(layer, z))
    # Rows after the change see one new key and value, in column `column`: their softmax is the cached one
    # over the other keys (precomputed per column, `_excluding`) merged with that one new score — exact, and
    # without any [unit batch head tail key] tensor. The changed row itself has a new query: done in full.
    top, mass, mixed = (
        _per_unit(t[:, :, first:end], column) for t in _excluding(prefix, layer, scale)
    )  # unit batch head tail (d_head)
    q = heads_first(prefix.q[layer][:, first:end])  # batch head tail d_head (cached)
    new_score = einops.einsum(q, k0, "batch head query d_head, unit batch head d_head -> unit batch head query") / scale
    high = torch.maximum(top, new_score)
    old_weight, new_weight = (top - high).exp(), (new_score - high).exp()
    after = (mixed * old_weight[..., None] + new_weight[..., None] * v0[:, :, :, None]) / (mass * old_weight + new_weight)[
        ..., None
    ]
    row_scores = einops.einsum(q0, k, "unit batch head d_head, batch head key d_head -> unit batch head key")
    row_scores[units, :, :, column] = (q0 * k0).sum(-1)
    key_mask = torch.arange(end, device=resid.device)[None, :] > column[:, None]  # unit key
    row_pattern = (row_scores.masked_fill(key_mask[:, None, None, :], float("-inf")) / scale).softmax(dim=-1)
    old_v = einops.rearrange(v[:, :, column], "batch head unit d_head -> unit batch head d_head")
    at = einops.einsum(row_pattern, v, "unit batch head key, batch head key d_head -> unit batch head d_head")
    at = at + row_pattern[units, :, :, column].unsqueeze(-1) * (v0 - old_v)
    if not bool(changed.any()):  # every unit changed at the first tail row (one tail per position)
        z = torch.cat([at.unsqueeze(-2), after[..., 1:, :]], dim=-2)
    else:
        rows = torch.arange(tail, device=resid.device)
        before = heads_first(prefix.z[layer][:, first:end]).unsqueeze(0)  # rows before the change keep the cached z
        z = torch.where((rows[None, :] > changed[:, None])[:, None, None, :, None], after, before)
        z = torch.where((rows[None, :] == changed[:, None])[:, None, None, :, None], at.unsqueeze(-2), z)
    return w.finish_block(layer, resid.plus(w.attention_output(layer, heads_first(z))))


def _per_unit(x: Tensor, column: Tensor) -> Tensor:
    """x[batch, head, query, column[unit], ...] as [unit batch head query ...]."""
    return x.index_select(3, column).movedim(3, 0)


def _excluding(prefix: RunCache, layer: int, scale: float) -> tuple[Tensor, Tensor, Tensor]:
    """Per query i and column c of the cached attention of `layer`, the softmax pieces over keys j <= i, j != c:
    top = max_j s_ij, mass = sum_j exp(s_ij - top) and mixed = sum_j exp(s_ij - top) v_j
    ([batch head query column], the last also d_head). Computed once per run and layer, then cached."""
    key = ("excluding", layer, scale)
    if key not in prefix.derived:
        q, k, v = (heads_first(t[layer]) for t in (prefix.q, prefix.k, prefix.v))
        pos = q.shape[-2]
        scores = (q @ k.transpose(-1, -2)) / scale  # batch head query key
        causal = future_mask(pos, pos, device=q.device)
        excluded = torch.eye(pos, dtype=torch.bool, device=q.device)  # column c, key j
        blocked = causal[:, None, :] | excluded[None, :, :]  # query column key
        scores = scores[:, :, :, None, :].masked_fill(blocked, float("-inf"))  # batch head query column key
        top = scores.amax(dim=-1)
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))  # no key left (query 0, column 0)
        weights = (scores - top[..., None]).exp()
        mixed = einops.einsum(weights, v, "batch head query column key, batch head key d_head -> batch head query column d_head")
        prefix.derived[key] = (top, weights.sum(dim=-1), mixed)
    return prefix.derived[key]


def _last_block(
    w: Weights, layer: int, resid: Tensor, first: int, prefix: RunCache, index: Tensor, scale: float
) -> Float[Tensor, "unit batch 1 d_model"]:
    """The last block, for the query at each row's read position only.

    Keys and values of the tail are never formed: a score is q . (x W_K + b_K) = (W_K q) . x + q . b_K, and
    the value mix is (sum_j pattern_j x_j) W_V + (sum_j pattern_j) b_V, so the tail costs d_model per head and
    position instead of d_model * d_head (x: the normalised residual stream, here per unit)."""
    unit, batch, tail = resid.shape[:3]
    rows = torch.arange(batch, device=resid.device)
    x = w.norm(resid, f"blocks.{layer}.ln1")  # unit batch tail d_model
    resid, x_read = resid[:, rows, index], x[:, rows, index]  # unit batch d_model
    q = w.qkv_projection(layer, x_read.unsqueeze(-2), slice(0, 1))[..., 0, 0, :, :]  # unit batch head d_head
    w_k, b_k = w.attn(layer, "W_K"), w.attn(layer, "b_K")
    w_v, b_v = w.attn(layer, "W_V"), w.attn(layer, "b_V")
    q_keys = einops.einsum(q, w_k, "unit batch head d_head, head d_model d_head -> unit batch head d_model")
    scores = einops.einsum(q_keys, x, "unit batch head d_model, unit batch tail d_model -> unit batch head tail")
    scores = scores + einops.einsum(q, b_k, "unit batch head d_head, head d_head -> unit batch head")[..., None]
    mask = (torch.arange(tail, device=resid.device)[None, :] > index[:, None])[:, None, :]  # batch 1 tail
    scores = scores.masked_fill(mask, float("-inf"))
    if first > 0:
        k_prefix = prefix.k[layer][:, :first]  # batch first head d_head
        prefix_scores = einops.einsum(q, k_prefix, "unit batch head d_head, batch key head d_head -> unit batch head key")
        scores = torch.cat([prefix_scores, scores], dim=-1)
    pattern = (scores / scale).softmax(dim=-1)
    tail_pattern = pattern[..., first:]
    mixed = einops.einsum(tail_pattern, x, "unit batch head tail, unit batch tail d_model -> unit batch head d_model")
    z = einops.einsum(mixed, w_v, "unit batch head d_model, head d_model d_head -> unit batch head d_head")
    z = z + tail_pattern.sum(-1)[..., None] * b_v
    if first > 0:
        v_prefix = prefix.v[layer][:, :first]
        z = z + einops.einsum(
            pattern[..., :first], v_prefix, "unit batch head key, batch key head d_head -> unit batch head d_head"
        )
    return w.finish_block(layer, resid + w.attention_output(layer, z)).unsqueeze(2)


def tail_logits(
    w: Weights,
    resid: Float[Tensor, "unit batch tail d_model"] | OneChange,
    start: int,
    first: int,
    prefix: RunCache,
    read: Int[Tensor, " batch"],
    scale: float,
    *,
    columns: Int[Tensor, "batch column"] | None = None,
) -> Float[Tensor, "unit batch vocab"]:
    """Logits at positions `read` when the residual stream entering block `start` is `resid` at positions
    first..first+tail-1 and the cached run `prefix` everywhere before `first`.

    Each unit is one patched copy of the batch. A `OneChange` resid differs from the cached run at one tail
    position per unit only, which makes block `start` cheap (`_sparse_block`). Rows with read < first are not
    affected by anything in the tail; their logits come from `prefix.logits`. Positions after max(read) are
    never needed: pass a tail that stops there. `scale` is `attention_scale(model)`. With `columns`, only those
    logits of each row are computed ([unit batch column], e.g. `LogitDiff.columns`).
    """
    n_layers = w.n_layers
    unit, batch, tail = resid.shape[:3]
    rows = torch.arange(batch, device=resid.device)
    index = (read - first).clamp(0, tail - 1)  # tail index of each row's read position
    if isinstance(resid, OneChange) and start < n_layers:
        resid = _sparse_block(w, start, resid, first, prefix, index, scale, start == n_layers - 1)
        start += 1
    elif start == n_layers:  # after the last block only the read positions matter
        resid = (resid.at(index) if isinstance(resid, OneChange) else resid[:, rows, index]).unsqueeze(2)
    for layer in range(start, n_layers):
        if layer == n_layers - 1:
            resid = _last_block(w, layer, resid, first, prefix, index, scale)
            break
        q, k, v = (heads_first(t) for t in w.qkv(layer, w.norm(resid, f"blocks.{layer}.ln1")))  # unit batch head tail d_head
        k_prefix, v_prefix = heads_first(prefix.k[layer][:, :first]), heads_first(prefix.v[layer][:, :first])
        z = attend_after_prefix(q, k, v, scale, k_prefix, v_prefix)
        resid = w.finish_block(layer, resid + w.attention_output(layer, heads_first(z)))
    final = w.norm(resid, "ln_final").squeeze(2)  # unit batch d_model
    logits = w.unembed(final) if columns is None else w.unembed_columns(final, columns)
    unaffected = read < first
    if bool(unaffected.any()):
        cached = prefix.logits[rows, read]
        cached = cached if columns is None else cached.gather(-1, columns)
        logits = torch.where(unaffected[None, :, None], cached[None], logits)
    return logits
