"""Interventions as values: frozen descriptions of an edit, applied to a model only inside `apply(...)`.

    ZeroAblation(site, heads=None, positions=None)           activation -> 0
    MeanAblation(site, reference, heads, positions, over)    activation -> its mean over a reference
    ResampleAblation(site, source_tokens, heads, ...seed)    activation -> that of a random source row
    Patch(site, source, heads, positions)                    activation -> that of a source run

`heads` picks heads on sites with a head axis (q, k, v, z, pattern, head_out); `positions` picks positions
(query positions for pattern). Everything else is left as it was. Interventions on `head_out` edit `hook_z`
(zeroing a head's z zeroes its output z @ W_O; means and patches commute with the linear map). Whole
components (resid_*, attn_out, mlp_out, embed) are edited the same way, with `positions` if given.
Edits to `attn_scores` would be discarded by the native bridge, so they are refused: edit `pattern`. Edits to
`resid_mid` are refused too: the bridge's hook_resid_mid is the MLP's input, and an edit there never reaches the
residual stream (edit `attn_out` or the next layer's `resid_pre`).

`apply` computes what each intervention needs (means, source activations) before adding any hook, adds
the hooks, and removes them on exit — also when the body raises. Any frozen value with a `site` and either
`hook(model) -> (hook_name, fn)` or `hooks(model) -> [(hook_name, fn), ...]` (hooks added in that order) can be
applied, e.g. `interp.analysis.sae.splice.Splice`.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, d_mlp=32))
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> corrupted_tokens = tokens.flip(0)
>>> with apply(model, ZeroAblation(Site.head_out(1), heads=[1]), MeanAblation(Site.mlp_out(0), tokens)):
...     logits = model(tokens)
>>> torch.equal(logits, model(tokens))                       # the hooks are gone after the block
False
>>> patched = run_with(model, tokens, Patch(Site.resid_pre(1), corrupted_tokens, positions=[-1]))
>>> torch.equal(patched[:, :-1], model(tokens)[:, :-1])      # only the last position saw the corrupted run
True
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.analysis.core.cache import Activations, cache_activations, check_tokens
from interp.core.errors import InterpError
from interp.model.sites import KINDS, Site, SiteError

Index = Sequence[int] | int | Tensor | None
Values = Callable[[Tensor], Tensor]  # activation -> replacement values broadcastable to it


class InterventionError(InterpError, ValueError):
    """An intervention cannot be applied as described (bad heads/positions, mismatched source)."""


# ---- shared validation ------------------------------------------------------------------------------------


def _as_indices(name: str, value: Index) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, Tensor):
        value = value.flatten().tolist()
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InterventionError(f"{name} must be an int or a sequence of ints, got {value!r}")
    if not value:
        raise InterventionError(f"{name} is empty; pass None to select all {name}")
    return tuple(value)


def _validate(self: Any) -> None:
    """Normalise site/heads/positions of an intervention in place (the dataclasses are frozen)."""
    site = Site.parse(self.site)
    if not site.writable:
        raise SiteError(f"{site}: {site.edit_refusal}")
    heads = _as_indices("heads", self.heads)
    if heads is not None and not site.has_head_axis:
        raise InterventionError(f"{site} has no head axis; drop heads= or use Site.head_out / Site.z")
    if site.head is not None:
        if heads not in (None, (site.head,)):
            raise InterventionError(f"{site} already selects head {site.head}; heads={heads} contradicts it")
        heads = (site.head,)
    if heads is not None and min(heads) < 0:
        raise InterventionError(f"heads must be >= 0, got {heads}")
    object.__setattr__(self, "site", site)
    object.__setattr__(self, "heads", heads)
    object.__setattr__(self, "positions", _as_indices("positions", self.positions))


def _check_on(self: Any, model) -> None:
    """Raise SiteError unless the model has the site and every selected head."""
    self.site.check(model)
    n_heads = model.cfg.n_heads
    if self.heads is not None and max(self.heads) >= n_heads:
        raise SiteError(f"{self.site}: head {max(self.heads)} is out of range; the model has heads 0..{n_heads - 1}")


def _selection_mask(site: Site, activation: Tensor, heads: tuple[int, ...] | None, positions: tuple[int, ...] | None) -> Tensor:
    """Boolean mask broadcastable to `activation`: True where the intervention writes."""
    target = site.target
    mask = torch.ones([1] * activation.ndim, dtype=torch.bool, device=activation.device)
    for axis, chosen, what in ((target.head_axis, heads, "head"), (target.pos_axis, positions, "position")):
        if chosen is None:
            continue
        size = activation.shape[axis]
        bad = [i for i in chosen if not -size <= i < size]
        if bad:
            raise InterventionError(f"{site}: {what} index {bad} out of range for size {size}")
        shape = [1] * activation.ndim
        shape[axis] = size
        axis_mask = torch.zeros(size, dtype=torch.bool, device=activation.device)
        axis_mask[list(chosen)] = True
        mask = mask & axis_mask.view(shape)
    return mask


def _fit_positions(site: Site, values: Tensor, activation: Tensor, *, has_batch: bool) -> Tensor:
    """Cut per-position reference values to the input's length; size-1 axes broadcast."""
    axes = KINDS[site.target.kind].axes
    offset = 0 if has_batch else 1
    for axis, name in enumerate(axes):
        if name not in ("pos", "query_pos", "key_pos"):
            continue
        index, want = axis - offset, activation.shape[axis]
        have = values.shape[index]
        if have == want or have == 1:
            continue
        if have < want:
            raise InterventionError(f"{site}: reference values cover {have} positions but the input has {want}")
        values = values.narrow(index, 0, want)
    return values


def _make_hook(site: Site, heads, positions, values: Values):
    def hook(activation: Tensor, hook) -> Tensor:
        replacement = values(activation)
        mask = _selection_mask(site, activation, heads, positions)
        return torch.where(mask, replacement.to(activation.dtype), activation)

    return hook


def _source_activations(model, site: Site, source: Any) -> Tensor:
    """The target-site activation of a source: tokens are run; caches and tensors are looked up."""
    target = site.target
    if isinstance(source, Tensor) and not source.dtype.is_floating_point:
        return cache_activations(model, check_tokens(source, model), [target])[target]
    if isinstance(source, Tensor):
        return source
    if isinstance(source, Activations):
        if target not in source.tensors:
            raise InterventionError(f"the source cache has no {target} (needed for {site}); cache {target} instead")
        return source.tensors[target]
    try:  # a TransformerLens ActivationCache or a dict keyed by hook name
        return source[target.hook_name]
    except (KeyError, TypeError):
        raise InterventionError(f"the source has no activation {target.hook_name!r} (needed for {site})") from None


# ---- the interventions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZeroAblation:
    """Set the selected activation entries to zero.

    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
    >>> logits = run_with(model, tokens, ZeroAblation(Site.head_out(0), heads=[0, 1]))
    >>> logits.shape
    torch.Size([4, 8, 11])
    """

    site: Site
    heads: tuple[int, ...] | None = None
    positions: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def hook(self, model) -> tuple[str, Callable]:
        _check_on(self, model)
        return self.site.hook_name, _make_hook(self.site, self.heads, self.positions, torch.zeros_like)


@dataclass(frozen=True, eq=False)
class MeanAblation:
    """Replace the selected entries by their mean over `reference`: token rows, or a precomputed mean.

    `over="batch"` keeps one mean per position; `over="batch_pos"` also averages over (query) positions.
    A precomputed mean has the hook activation's shape without the batch axis (for head_out: hook_z's).

    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
    >>> val_tokens = torch.randint(11, (16, 8), generator=torch.Generator().manual_seed(1))
    >>> logits = run_with(model, tokens, MeanAblation(Site.z(1), reference=val_tokens, heads=[0]))
    >>> MeanAblation(Site.z(1), reference=val_tokens, over="batch_pos").mean(model).shape   # [pos head d_head]
    torch.Size([1, 2, 8])
    """

    site: Site
    reference: Int[Tensor, "batch pos"] | Float[Tensor, "..."]
    heads: tuple[int, ...] | None = None
    positions: tuple[int, ...] | None = None
    over: Literal["batch", "batch_pos"] = "batch"

    def __post_init__(self) -> None:
        _validate(self)
        if self.over not in ("batch", "batch_pos"):
            raise InterventionError(f"over must be 'batch' or 'batch_pos', got {self.over!r}")
        if not isinstance(self.reference, Tensor):
            raise InterventionError("reference must be a tensor: token rows [batch pos] or a precomputed mean")

    def mean(self, model) -> Tensor:
        """The mean activation at the hook (no batch axis), as the intervention will use it."""
        target = self.site.target
        if self.reference.dtype.is_floating_point:
            mean = self.reference
        else:
            mean = cache_activations(model, check_tokens(self.reference, model), [target], reduce="mean")[target]
        if self.over == "batch_pos":
            mean = mean.mean(dim=target.pos_axis - 1, keepdim=True)
        return mean

    def hook(self, model) -> tuple[str, Callable]:
        _check_on(self, model)
        mean = self.mean(model)

        def values(activation: Tensor) -> Tensor:
            return _fit_positions(self.site, mean, activation, has_batch=False).unsqueeze(0)

        return self.site.hook_name, _make_hook(self.site, self.heads, self.positions, values)


def resample_rows(n_source: int, n_rows: int, seed: int) -> Int[Tensor, " batch"]:
    """The source row each input row takes its activation from (uniform with replacement, seeded)."""
    return torch.randint(n_source, (n_rows,), generator=torch.Generator().manual_seed(seed))


@dataclass(frozen=True, eq=False)
class ResampleAblation:
    """Replace the selected entries by those of a random row of `source_tokens` (`resample_rows`), seeded.

    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
    >>> other_tokens = torch.randint(11, (16, 8), generator=torch.Generator().manual_seed(1))
    >>> logits = run_with(model, tokens, ResampleAblation(Site.z(0), other_tokens, heads=[1], seed=1))
    >>> torch.equal(logits, run_with(model, tokens, ResampleAblation(Site.z(0), other_tokens, heads=[1], seed=1)))
    True
    """

    site: Site
    source_tokens: Int[Tensor, "batch pos"]
    heads: tuple[int, ...] | None = None
    positions: tuple[int, ...] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _validate(self)
        if not isinstance(self.source_tokens, Tensor) or self.source_tokens.dtype.is_floating_point:
            raise InterventionError("source_tokens must be an integer tensor of token rows [batch pos]")

    def hook(self, model) -> tuple[str, Callable]:
        _check_on(self, model)
        source = _source_activations(model, self.site, self.source_tokens)

        def values(activation: Tensor) -> Tensor:
            rows = resample_rows(source.shape[0], activation.shape[0], self.seed)
            return _fit_positions(self.site, source[rows], activation, has_batch=True)

        return self.site.hook_name, _make_hook(self.site, self.heads, self.positions, values)


@dataclass(frozen=True, eq=False)
class Patch:
    """Replace the selected entries by a source run's: source tokens, an `Activations` / TransformerLens
    cache holding the hook's activation, or that activation as a tensor. Source batch must match or be 1.

    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> clean = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
    >>> corrupted = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(1))
    >>> logits = run_with(model, clean, Patch(Site.z(1), corrupted, heads=[0], positions=[-1]))
    >>> torch.equal(run_with(model, clean, Patch(Site.z(1), clean)), model(clean))   # patching in itself: no change
    True
    """

    site: Site
    source: Any
    heads: tuple[int, ...] | None = None
    positions: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _validate(self)

    def hook(self, model) -> tuple[str, Callable]:
        _check_on(self, model)
        source = _source_activations(model, self.site, self.source)

        def values(activation: Tensor) -> Tensor:
            if source.ndim != activation.ndim or source.shape[0] not in (1, activation.shape[0]):
                raise InterventionError(
                    f"{self.site}: source activation {tuple(source.shape)} does not fit the run's {tuple(activation.shape)}; "
                    "use a source with the same batch size (or 1) and sequence length"
                )
            if source.shape[1:] != activation.shape[1:]:
                raise InterventionError(f"{self.site}: source shape {tuple(source.shape)} differs from {tuple(activation.shape)}")
            return source

        return self.site.hook_name, _make_hook(self.site, self.heads, self.positions, values)


Intervention = ZeroAblation | MeanAblation | ResampleAblation | Patch


# ---- applying them ----------------------------------------------------------------------------------------


@contextmanager
def apply(model, *interventions: Intervention) -> Iterator[Any]:
    """Run the body with `interventions` hooked into `model`; the hooks are removed on exit, always.

    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
    >>> with apply(model, ZeroAblation(Site.attn_out(0))):
    ...     ablated = model(tokens)
    >>> len(model.hook_dict["blocks.0.hook_attn_out"].fwd_hooks)       # removed on exit
    0
    """
    for intervention in interventions:
        if not (hasattr(intervention, "hook") or hasattr(intervention, "hooks")) or not hasattr(intervention, "site"):
            raise InterventionError(
                f"{intervention!r} is not an intervention (ZeroAblation, MeanAblation, ResampleAblation, Patch, or Splice from interp.analysis.sae)"
            )
    # Resolve every intervention first: references and sources are computed on the model as it is now.
    # One that needs several hooks (a splice reading one site and writing another) gives them as `hooks(model)`.
    hooks = []
    for intervention in interventions:
        hooks.extend(intervention.hooks(model) if hasattr(intervention, "hooks") else [intervention.hook(model)])
    with model.hooks(fwd_hooks=hooks):
        yield model


def run_with(model, tokens: Int[Tensor, "batch pos"], *interventions: Intervention) -> Float[Tensor, "batch pos vocab"]:
    """Logits of `model` on `tokens` with `interventions` applied (and removed afterwards).

    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
    >>> run_with(model, tokens, ZeroAblation(Site.head_out(1, 0))).shape
    torch.Size([4, 8, 11])
    """
    check_tokens(tokens, model)
    with apply(model, *interventions):
        return model(tokens)


__all__ = [
    "Intervention",
    "InterventionError",
    "MeanAblation",
    "Patch",
    "ResampleAblation",
    "ZeroAblation",
    "apply",
    "resample_rows",
    "run_with",
]
