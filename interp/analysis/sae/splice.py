"""Splice a sparse dictionary into the forward pass: the activation it stands for becomes the dictionary's output.

`Splice(sae, site, output_site=None)` is an intervention value for `interventions.apply` / `run_with`:

- an SAE on a hooked site (resid_pre, resid_post, attn_out, mlp_out, z, q, k, v, mlp_pre, mlp_post) replaces
  the activation at that hook by its reconstruction (`z{L}` reads all heads as one vector, `z{L}h{H}` only
  that head's slice, which is all it writes);
- an SAE on `head_out{L}h{H}` (each head's `z @ W_O`, which the native bridge never hooks) reads z at hook_z
  and, at `blocks.L.hook_attn_out`, writes `attn_out - head_out_h + reconstruction_h` (`head_out{L}`: every
  head at once, the same way);
- a transcoder (`output_site` set, e.g. `resid_mid{L}` -> `mlp_out{L}`) reads its input site in the same
  forward and replaces the output site's activation by its prediction. Reading a read-only site (resid_mid)
  is fine; the output site must be writable.

`with_error=True` adds SAELens's error term: the written value is `output + (true - output).detach()`, equal
to the clean activation in value (so the logits are the clean ones) while gradients flow through the features.
`skip_positions` leaves the first positions as they were (a dictionary trained without them, e.g. BOS).

>>> import torch
>>> from interp.analysis.core.interventions import run_with
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
>>> tokens = torch.randint(11, (4, 8), generator=torch.Generator().manual_seed(0))
>>> sae = SparseDictionary(d_in=16, n_features=64, kind="topk", k=4, seed=0)
>>> clean = model(tokens)
>>> torch.equal(run_with(model, tokens, Splice(sae, "resid_post0")), clean)
False
>>> torch.allclose(run_with(model, tokens, Splice(sae, "resid_post0", with_error=True)), clean, atol=1e-5)
True
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from interp.analysis.core.cache import site_value
from interp.analysis.core.interventions import InterventionError
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.site_vectors import from_vectors, to_vectors, vector_width
from interp.core.errors import ConfigError
from interp.model.sites import Site, SiteError

# The order in which one block's hooks fire on the bridge (head_out is read at hook_z).
_BLOCK_ORDER = (
    "resid_pre",
    "q",
    "k",
    "v",
    "z",
    "attn_out",
    "resid_mid",
    "mlp_pre",
    "mlp_post",
    "mlp_out",
    "resid_post",
)


def _fires_at(site: Site) -> tuple[int, int]:
    """(layer, place in the block) of the hook a site is read from: earlier tuples fire first."""
    if site.layer is None:
        return (-1, 0 if site.kind == "embed" else 1)
    kind = site.target.kind
    if kind not in _BLOCK_ORDER:
        raise ConfigError(f"{site}: a dictionary needs one vector per token; choose a residual, MLP, z or head_out site")
    return (site.layer, _BLOCK_ORDER.index(kind))


def _write_hook(site: Site) -> str:
    """Where the dictionary's output is written: the site's own hook, or attn_out for a head's output."""
    return Site.attn_out(site.layer).hook_name if site.is_derived else site.hook_name


@dataclass(frozen=True, eq=False)
class Splice:
    """Replace the activation at a dictionary's target site by the dictionary's output (see the module doc).

    >>> import torch
    >>> from interp.model.build import build_model
    >>> from interp.model.config import ModelConfig
    >>> model = build_model(ModelConfig(n_layers=2, d_model=16, n_ctx=8, d_head=8, n_heads=2, d_vocab=11, attn_only=True))
    >>> splice = Splice(SparseDictionary(d_in=16, n_features=32, kind="relu"), "head_out1h0")
    >>> [name for name, _ in splice.hooks(model)]           # read z, write attn_out
    ['blocks.1.attn.hook_z', 'blocks.1.hook_attn_out']
    """

    sae: nn.Module
    site: Site | str
    output_site: Site | str | None = None
    with_error: bool = False
    skip_positions: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.sae, SparseDictionary):
            raise ConfigError(f"Splice needs a SparseDictionary, got {type(self.sae).__name__}")
        site = Site.parse(self.site)
        output = None if self.output_site is None else Site.parse(self.output_site)
        if output == site:
            output = None
        if self.sae.transcoder and output is None:
            raise ConfigError(f"a transcoder predicts another site than it reads ({site}); pass output_site, e.g. mlp_out")
        if not self.sae.transcoder and output is not None:
            raise ConfigError(
                f"an SAE reconstructs the site it reads ({site}), not {output}; drop output_site or load a transcoder"
            )
        target = output or site
        if not target.is_derived and not target.writable:
            raise SiteError(f"{target}: {target.edit_refusal}")
        if _fires_at(site) > _fires_at(target):
            raise ConfigError(f"the input site {site} runs after the output site {target}; a transcoder reads an earlier site")
        if not isinstance(self.with_error, bool):
            raise ConfigError(f"with_error must be True or False, got {self.with_error!r}")
        skip = self.skip_positions
        if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
            raise ConfigError(f"skip_positions must be an integer >= 0, got {skip!r}")
        object.__setattr__(self, "site", site)
        object.__setattr__(self, "output_site", output)

    @classmethod
    def of(cls, saved: Any, *, with_error: bool = False) -> "Splice":
        """The splice of a `SavedDictionary` (its site, output site and skipped positions)."""
        config = saved.config
        return cls(saved.sae, config.site, config.output_site, with_error=with_error, skip_positions=config.skip_positions)

    @property
    def target_site(self) -> Site:
        """The site the dictionary's output stands for."""
        return self.output_site or self.site

    def check(self, model) -> None:
        """Raise SiteError / ConfigError unless the model has both sites and the dictionary's widths fit them."""
        site, target = self.site, self.target_site
        site.check(model)
        target.check(model)
        Site.parse(_write_hook(target)).check(model)
        for name, at, width in (("reads", site, self.sae.d_in), ("writes", target, self.sae.d_out)):
            want = vector_width(at, model.cfg)
            if want != width:
                raise ConfigError(
                    f"the dictionary {name} vectors of width {width}, but {at} on this model has width {want}; "
                    "it was trained for another site or model"
                )

    def hooks(self, model) -> list[tuple[str, Callable]]:
        """The hooks, in the order they must be added: readers first, then the writer."""
        self.check(model)
        site, target = self.site, self.target_site
        captured: dict[str, Tensor] = {}  # one forward's input (and derived target) vectors, taken by the writer

        def vectors(at: Site, raw: Tensor) -> Tensor:
            return to_vectors(at, site_value(model, at, raw))

        def reader(key: str, at: Site) -> Callable:
            def read(activation: Tensor, hook) -> None:
                captured[key] = vectors(at, activation)

            return read

        def taken(key: str) -> Tensor:
            if key not in captured:
                raise InterventionError(f"splice at {target}: the {key} site did not fire before the output site in this forward")
            return captured.pop(key)

        def output(x: Tensor, true: Tensor) -> Tensor:
            out = self.sae(x.to(self.sae.W_enc)).to(true)
            return out + (true - out).detach() if self.with_error else out

        def kept_positions(activation: Tensor, new: Tensor) -> Tensor:
            if not self.skip_positions:
                return new
            pos_axis = target.target.pos_axis if not target.is_derived else 1
            shape = [1] * activation.ndim
            shape[pos_axis] = activation.shape[pos_axis]
            later = (torch.arange(activation.shape[pos_axis], device=activation.device) >= self.skip_positions).view(shape)
            return torch.where(later, new, activation)

        same_hook = site == target and not target.is_derived
        hooks = [] if same_hook else [(site.hook_name, reader("input", site))]
        if target.is_derived and target != site:
            hooks.append((target.hook_name, reader("target", target)))

        if target.is_derived:

            def write(activation: Tensor, hook) -> Tensor:
                true = taken("target") if target != site else None
                x = taken("input")
                true = x if true is None else true
                change = output(x, true) - true
                if target.head is None:  # every head: [batch pos head*d_model] -> summed over heads
                    change = change.reshape(*change.shape[:2], model.cfg.n_heads, -1).sum(dim=2)
                return kept_positions(activation, activation + change.to(activation.dtype))

        else:

            def write(activation: Tensor, hook) -> Tensor:
                true = vectors(target, activation)
                x = true if same_hook else taken("input")
                new = from_vectors(target, output(x, true), model.cfg).to(activation.dtype)
                if target.head is not None:
                    axis = target.head_axis
                    shape = [1] * activation.ndim
                    shape[axis] = activation.shape[axis]
                    chosen = (torch.arange(activation.shape[axis], device=activation.device) == target.head).view(shape)
                    new = torch.where(chosen, new.unsqueeze(axis), activation)
                return kept_positions(activation, new)

        hooks.append((_write_hook(target), write))
        return hooks


__all__ = ["Splice"]
