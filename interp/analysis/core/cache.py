"""Cache chosen activations over a batch or a whole dataset, in mini-batches, with bounded memory.

Only the requested sites are hooked, the forward pass stops after the last layer a site needs, and each
mini-batch's activations are detached, optionally cast (e.g. to float16) and moved to `device` before the
next mini-batch runs. With `reduce="mean"` (or "sum") the batch axis is reduced as the batches stream by,
so memory no longer grows with the number of rows.

Memory of the result, exactly (see `estimate_bytes`):

    bytes = sum over sites of prod(site.shape(cfg, pos)) * itemsize * rows

where `site.shape` excludes the batch axis, `itemsize` is that of `dtype` (default: the model's), and
`rows` is the number of token rows — or 1 with a reduction.

>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> acts = cache_activations(model, tokens, [Site.z(0), "pattern1"], batch_size=2)
>>> acts[Site.z(0)].shape, acts["pattern1"].shape          # [batch pos head d_head], [batch head query key]
(torch.Size([4, 8, 2, 8]), torch.Size([4, 2, 8, 8]))
"""

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

from interp.core import validate
from interp.core.errors import DataError
from interp.model.sites import Site, SiteError

Reduction = Literal["mean", "sum"]
SiteLike = Site | str


@dataclass(frozen=True, eq=False)
class Activations(Mapping):
    """Cached activations keyed by Site (strings are parsed: `acts["z1"]`). Batch axis first unless reduced."""

    tensors: dict[Site, Tensor]
    n_rows: int
    reduction: str | None = None

    def __getitem__(self, key: SiteLike) -> Tensor:
        site = Site.parse(key)
        if site not in self.tensors:
            have = ", ".join(str(s) for s in self.tensors)
            raise KeyError(f"{site} was not cached; cached sites: {have}")
        return self.tensors[site]

    def __iter__(self) -> Iterator[Site]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached tensors (what `estimate_bytes` predicts)."""
        return sum(t.numel() * t.element_size() for t in self.tensors.values())


def check_tokens(tokens: Tensor, model) -> Int[Tensor, "batch pos"]:
    """Raise DataError unless `tokens` is a 2-D integer tensor of ids the model can read (`validate.check_tokens`)."""
    return validate.check_tokens(tokens, model.cfg)


def model_dtype(model) -> torch.dtype:
    return next(model.parameters()).dtype


def unique_sites(model, sites: Iterable[SiteLike]) -> list[Site]:
    """Parse and check sites against the model, dropping repeats but keeping order."""
    parsed = [Site.parse(s).check(model) for s in sites]
    if not parsed:
        raise DataError("no sites requested; name at least one, e.g. Site.z(0) or 'pattern1'")
    scores = next((s for s in parsed if s.kind == "attn_scores"), None)
    if scores is not None and type(model).__name__ == "TransformerBridge":
        raise SiteError(
            f"{scores}: the native TransformerBridge's hook_attn_scores carries the softmaxed pattern, not the scores; "
            f"read Site.pattern({scores.layer}), or Site.q and Site.k for the scores (q . k / sqrt(d_head))"
        )
    return list(dict.fromkeys(parsed))


def head_out_from_z(model, layer: int, z: Float[Tensor, "batch pos head d_head"]) -> Float[Tensor, "batch pos head d_model"]:
    """Each head's contribution to the residual stream (without b_O): z @ W_O head by head."""
    w_out = model.W_O[layer].to(z.dtype)
    return einops.einsum(z, w_out, "batch pos head d_head, head d_head d_model -> batch pos head d_model")


def site_value(model, site: Site, raw: Tensor) -> Tensor:
    """The activation of `site` from the tensor its hook carried (derive head_out, select one head)."""
    value = head_out_from_z(model, site.layer, raw) if site.is_derived else raw
    if site.head is not None:
        value = value.select(site.head_axis, site.head)
    return value


def estimate_bytes(
    model,
    sites: Iterable[SiteLike],
    n_rows: int,
    pos: int,
    *,
    dtype: torch.dtype | None = None,
    reduce: Reduction | None = None,
) -> int:
    """Bytes `cache_activations` will hold for these sites: sum of prod(shape) * itemsize * rows.

    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> estimate_bytes(model, [Site.z(0)], n_rows=64, pos=8)      # 64 rows * 8 pos * 2 heads * 8 d_head * 4 bytes
    32768
    """
    itemsize = torch.empty((), dtype=dtype or model_dtype(model)).element_size()
    rows = 1 if reduce else n_rows
    return sum(math.prod(s.shape(model.cfg, pos)) * itemsize * rows for s in unique_sites(model, sites))


def stop_layer(model, sites: list[Site]) -> int | None:
    """The block at which the forward pass can stop: nothing after the last requested layer is needed."""
    last = max((s.layer for s in sites if s.layer is not None), default=-1)
    return last + 1 if last + 1 < model.cfg.n_layers else None


@torch.no_grad()
def cache_activations(
    model,
    tokens: Int[Tensor, "batch pos"],
    sites: Iterable[SiteLike],
    *,
    batch_size: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    reduce: Reduction | None = None,
) -> Activations:
    """Run `model` over `tokens` in mini-batches and keep only `sites`, concatenated (or reduced) on `device`.

    `reduce="mean"` averages over all rows (accumulating in float64), so the result has no batch axis.

    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
    >>> means = cache_activations(model, tokens, ["z0"], batch_size=2, reduce="mean")
    >>> means["z0"].shape                                     # no batch axis
    torch.Size([8, 2, 8])
    """
    check_tokens(tokens, model)
    wanted = unique_sites(model, sites)
    if reduce not in (None, "mean", "sum"):
        raise DataError(f"reduce must be None, 'mean' or 'sum', got {reduce!r}")
    n_rows = tokens.shape[0]
    step = n_rows if batch_size is None else batch_size
    if not isinstance(step, int) or isinstance(step, bool) or step <= 0:
        raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
    hook_names = sorted({s.hook_name for s in wanted})
    stop = stop_layer(model, wanted)
    out_dtype = dtype or model_dtype(model)
    parts: dict[Site, list[Tensor]] = {s: [] for s in wanted}
    sums: dict[Site, Tensor] = {}

    for start in range(0, n_rows, step):
        chunk = tokens[start : start + step]
        captured: dict[str, Tensor] = {}
        hooks = [(name, capture_into(captured, name)) for name in hook_names]
        model.run_with_hooks(chunk, fwd_hooks=hooks, stop_at_layer=stop)
        silent = [name for name in hook_names if name not in captured]
        if silent:
            raise SiteError(f"hook(s) {silent} exist on this model but never fired; they cannot be cached")
        for site in wanted:
            value = site_value(model, site, captured[site.hook_name])
            if reduce:
                total = value.to(torch.float64).sum(dim=0)
                sums[site] = total if site not in sums else sums[site] + total
            else:
                parts[site].append(value.to(device=device, dtype=out_dtype))

    if reduce:
        scale = 1.0 / n_rows if reduce == "mean" else 1.0
        tensors = {s: (sums[s] * scale).to(device=device, dtype=out_dtype) for s in wanted}
    else:
        tensors = {s: torch.cat(parts[s]) for s in wanted}
    return Activations(tensors=tensors, n_rows=n_rows, reduction=reduce)


def capture_into(store: dict[str, Tensor], name: str):
    """A forward hook that keeps the (detached) activation in `store[name]`."""

    # Keyed by the requested name: aliases (hook_resid_pre) report their canonical name to the hook.
    def capture(activation: Tensor, hook) -> None:
        store[name] = activation.detach()

    return capture
