"""Direct logit attribution: one cached forward, and every component's dot product with the logit direction.

The final normalisation is linear once its per-token scale is fixed at the value the cached run computed
(`ln_final.hook_scale`), so the logit direction can be pulled back through it to one vector per row and
position, u = centre(ln_final.w * d) / scale, and each component's attribution is its output . u (see
`interp.analysis.logit_attribution.result` for the identity). A head's output is z @ W_O (the native bridge has
no hook_result), and its split by source position is attention weight times the value's z @ W_O.

Why not TransformerLens 4.3's `direct_logit_attribution`, which the tests use as the reference: on a native
bridge it runs only in compatibility mode, which rewrites the weights (a processed deep copy per checkpoint), and
then folds value biases into b_O (moving part of each head's share to the bias) and centres the unembedding (so
one token's logit is read minus its vocabulary mean); it reads one position for every row (IOI rows are grouped
by read position); and it has no split by source position. This reads the raw model in one forward and agrees
with it where its processing leaves the numbers unchanged (tests/unit/analysis/logit_attribution).

Runs where the model lives (`module_device(model)`) in float64 (float32 on MPS, which has no float64) so that the
decomposition's error is the model's own float32 rounding; returns CPU tensors.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.analysis.logit_attribution.directions import token_direction
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11)).eval()
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> result = direct_logit_attribution(model, tokens, token_direction(3, torch.full((4,), 7)))
>>> result.component_labels, result.heads.shape
(('embed', 'pos_embed', 'attn0', 'mlp0', 'attn1', 'mlp1'), torch.Size([4, 2, 2]))
>>> result.error < 1e-4                               # components + biases == the logit in model(tokens)
True
"""

import einops
import torch
from jaxtyping import Int
from torch import Tensor

from interp.analysis.core.cache import check_tokens
from interp.analysis.logit_attribution.capture import run_keeping
from interp.analysis.logit_attribution.directions import LogitDirection
from interp.analysis.logit_attribution.result import BIAS_LABELS, LogitAttribution
from interp.core.device import module_device
from interp.core.errors import DataError
from interp.model.engine.norms import normalization_kind
from interp.model.engine.weights import Weights


def _has_pos_embed(model) -> bool:
    return getattr(model.cfg, "positional_embedding_type", "standard") == "standard"


def hook_names(model) -> list[str]:
    """Every hook the attribution reads from the cached run."""
    cfg = model.cfg
    names = ["hook_embed"] + (["hook_pos_embed"] if _has_pos_embed(model) else [])
    for layer in range(cfg.n_layers):
        b = f"blocks.{layer}"
        names += [f"{b}.attn.hook_z", f"{b}.attn.hook_v", f"{b}.attn.hook_pattern", f"{b}.hook_attn_out"]
        if not cfg.attn_only:
            names.append(f"{b}.hook_mlp_out")
    if normalization_kind(cfg.normalization_type) is not None:
        names.append("ln_final.hook_scale")
    return names


def component_labels(model) -> tuple[str, ...]:
    labels = ["embed"] + (["pos_embed"] if _has_pos_embed(model) else [])
    for layer in range(model.cfg.n_layers):
        labels += [f"attn{layer}"] + ([] if model.cfg.attn_only else [f"mlp{layer}"])
    return tuple(labels)


def _dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64


@torch.no_grad()
def direct_logit_attribution(
    model,
    tokens: Int[Tensor, "batch pos"],
    direction: LogitDirection,
    *,
    batch_size: int | None = None,
    position_labels: tuple[str, ...] | None = None,
) -> LogitAttribution:
    """Attribute `direction` (per row: answer - distractor, or one token, at a read position) to every head,
    layer component and position of `model` on `tokens`, in mini-batches of `batch_size` rows (default: all)."""
    check_tokens(tokens, model)
    if len(direction) != tokens.shape[0]:
        raise DataError(f"the direction has {len(direction)} rows but the tokens have {tokens.shape[0]}")
    direction.check(model.cfg.d_vocab, tokens.shape[1])
    step = tokens.shape[0] if batch_size is None else batch_size
    if not isinstance(step, int) or step <= 0:
        raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
    device = module_device(model)
    weights = Weights.of(model)
    parts = [
        _attribute(model, weights, tokens[start : start + step].to(device), _rows(direction, start, step).to(device))
        for start in range(0, tokens.shape[0], step)
    ]
    merged = {key: torch.cat([part[key] for part in parts]) for key in parts[0]}
    return LogitAttribution(
        direction=direction.label,
        component_labels=component_labels(model),
        bias_labels=BIAS_LABELS,
        positions=direction.positions.cpu(),
        position_labels=position_labels,
        **merged,
    )


def _rows(direction: LogitDirection, start: int, step: int) -> LogitDirection:
    cut = slice(start, start + step)
    distractor = None if direction.distractor is None else direction.distractor[cut]
    return LogitDirection(direction.answer[cut], distractor, direction.positions[cut], direction.label)


def _attribute(model, weights: Weights, tokens: Tensor, direction: LogitDirection) -> dict[str, Tensor]:
    cfg = model.cfg
    logits, kept = run_keeping(model, tokens, hook_names(model))
    dtype = _dtype(tokens.device)
    t = {name: value.to(dtype) for name, value in weights.tensors.items()}
    cast = {name: value.to(dtype) for name, value in kept.items()}
    batch, n_pos = tokens.shape
    rows = torch.arange(batch, device=tokens.device)

    # the direction pulled back through the unembedding and the final norm (its scale frozen at the cached value)
    kind = normalization_kind(cfg.normalization_type)
    d = direction.unembed_vectors(t["unembed.weight"])  # batch d_model
    gain = t.get("ln_final.weight")
    pulled = d if gain is None or kind in ("LNPre", "RMSPre") else d * gain
    if kind in ("LN", "LNPre"):
        pulled = pulled - pulled.mean(-1, keepdim=True)  # LayerNorm centres: only the centred stream reaches the logits
    scale = (
        cast["ln_final.hook_scale"][..., 0] if kind is not None else torch.ones(batch, n_pos, dtype=dtype, device=tokens.device)
    )
    u = pulled[:, None, :] / scale[..., None]  # batch pos d_model

    def along(stream: Tensor) -> Tensor:  # [batch pos d_model] (or broadcastable) -> [batch pos]
        return (stream * u).sum(-1)

    components = [along(cast["hook_embed"])] + ([along(cast["hook_pos_embed"])] if _has_pos_embed(model) else [])
    heads, head_biases, by_source = [], [], []
    u_read = u[rows, direction.positions]  # batch d_model
    for layer in range(cfg.n_layers):
        b = f"blocks.{layer}"
        w_out = weights.attn(layer, "W_O").to(dtype)  # head d_head d_model
        heads.append(
            einops.einsum(cast[f"{b}.attn.hook_z"], w_out, u, "batch pos head e, head e m, batch pos m -> batch head pos")
        )
        head_biases.append(along(t[f"{b}.attn.o.bias"]) if f"{b}.attn.o.bias" in t else torch.zeros_like(scale))
        value_dla = einops.einsum(
            cast[f"{b}.attn.hook_v"], w_out, u_read, "batch key head e, head e m, batch m -> batch head key"
        )
        pattern = cast[f"{b}.attn.hook_pattern"][rows, :, direction.positions]  # batch head key
        by_source.append(pattern * value_dla)
        components.append(along(cast[f"{b}.hook_attn_out"]))
        if not cfg.attn_only:
            components.append(along(cast[f"{b}.hook_mlp_out"]))

    ln_bias = t.get("ln_final.bias")
    ln_term = (d * ln_bias).sum(-1) if ln_bias is not None and kind == "LN" else torch.zeros(batch, dtype=dtype, device=d.device)
    unembed_bias = t.get("unembed.bias")
    if unembed_bias is None:
        b_u = torch.zeros_like(ln_term)
    else:
        b_u = direction.of_vocab(unembed_bias.expand(batch, -1))
    return {
        "components_by_position": torch.stack(components, dim=1).cpu(),
        "heads_by_position": torch.stack(heads, dim=1).cpu(),
        "head_biases_by_position": torch.stack(head_biases, dim=1).cpu(),
        "biases": torch.stack([ln_term, b_u], dim=-1).cpu(),
        "by_source": torch.stack(by_source, dim=1).cpu(),
        "logit_value": direction.of_logits(logits.to(dtype)).cpu(),
    }
