"""Typed hook sites: a frozen value that names one activation of a model, so a typo is an error, not a no-op.

A `Site` maps to a TransformerLens hook name (`Site.z(1).hook_name == "blocks.1.attn.hook_z"`), knows the
axes of its activation, and checks itself against a model (`site.check(model)`): a layer out of range or a
hook the model does not have (an MLP site on an attention-only model) raises `SiteError`.

`Site.head_out(layer)` is the output of each head, `z @ W_O` per head — the native TransformerBridge never
fires `hook_result`, so it is computed from `hook_z` (its `target` site) when cached, and interventions on it
act on `hook_z`.

>>> Site.parse("z1"), Site.parse("blocks.0.attn.hook_pattern"), Site.parse("head_out1h3")
(Site.z(1), Site.pattern(0), Site.head_out(1, 3))
"""

import re
from dataclasses import dataclass
from typing import Any

from interp.core.errors import InterpError


class SiteError(InterpError, ValueError):
    """A site names a layer, head or hook the model does not have, or a string is not a site."""


@dataclass(frozen=True)
class _Kind:
    hook: str  # TransformerLens hook name, with {layer} where the layer goes
    axes: tuple[str, ...]  # axis names of the activation, batch first
    layered: bool = True
    refuse_edits: str = ""  # why an edit here would not do what a HookedTransformer user expects (empty: editable)

    @property
    def head_axis(self) -> int | None:
        return self.axes.index("head") if "head" in self.axes else None

    @property
    def pos_axis(self) -> int | None:
        for name in ("pos", "query_pos"):
            if name in self.axes:
                return self.axes.index(name)
        return None


_PER_HEAD = ("batch", "pos", "head", "d_head")
_RESID = ("batch", "pos", "d_model")
_PATTERN = ("batch", "head", "query_pos", "key_pos")

KINDS: dict[str, _Kind] = {
    "embed": _Kind("hook_embed", _RESID, layered=False),
    "pos_embed": _Kind("hook_pos_embed", _RESID, layered=False),
    "resid_pre": _Kind("blocks.{layer}.hook_resid_pre", _RESID),
    # The native bridge's hook_resid_mid is ln2's input: an edit reaches the MLP but not the residual stream.
    "resid_mid": _Kind(
        "blocks.{layer}.hook_resid_mid",
        _RESID,
        refuse_edits="on the native bridge an edit at hook_resid_mid reaches only the MLP's input, not the residual stream; intervene on Site.attn_out({layer}) or Site.resid_pre({next}) instead",
    ),
    "resid_post": _Kind("blocks.{layer}.hook_resid_post", _RESID),
    "attn_out": _Kind("blocks.{layer}.hook_attn_out", _RESID),
    "mlp_out": _Kind("blocks.{layer}.hook_mlp_out", _RESID),
    "mlp_pre": _Kind("blocks.{layer}.mlp.hook_pre", ("batch", "pos", "d_mlp")),
    "mlp_post": _Kind("blocks.{layer}.mlp.hook_post", ("batch", "pos", "d_mlp")),
    "q": _Kind("blocks.{layer}.attn.hook_q", _PER_HEAD),
    "k": _Kind("blocks.{layer}.attn.hook_k", _PER_HEAD),
    "v": _Kind("blocks.{layer}.attn.hook_v", _PER_HEAD),
    "z": _Kind("blocks.{layer}.attn.hook_z", _PER_HEAD),
    "pattern": _Kind("blocks.{layer}.attn.hook_pattern", _PATTERN),
    # The bridge's attention has already used the scores when this hook fires: edits are discarded.
    "attn_scores": _Kind(
        "blocks.{layer}.attn.hook_attn_scores",
        _PATTERN,
        refuse_edits="the model has already used the attention scores when this hook fires; intervene on Site.pattern({layer}) instead",
    ),
    # Derived from hook_z: z @ W_O for every head separately.
    "head_out": _Kind("blocks.{layer}.attn.hook_z", ("batch", "pos", "head", "d_model")),
}

# Spellings TransformerLens's get_act_name accepts, for parsing.
_ALIASES = {"scores": "attn_scores", "attn": "pattern", "result": "head_out", "post": "mlp_post", "pre": "mlp_pre"}
_SHORT = re.compile(r"^(?P<kind>[a-z_]+?)(?P<layer>\d+)?(?:h(?P<head>\d+))?$")
_FULL = re.compile(r"^blocks\.(?P<layer>\d+)\.(?P<rest>.+)$")


@dataclass(frozen=True)
class Site:
    """One named activation: a kind (see `KINDS`), a layer (None for embeddings) and optionally one head.

    Build with the constructors (`Site.resid_pre(0)`, `Site.z(1)`, `Site.head_out(1, head=2)`) or `Site.parse`.
    """

    kind: str
    layer: int | None = None
    head: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SiteError(f"unknown site kind {self.kind!r}; valid kinds: {', '.join(KINDS)}")
        spec = KINDS[self.kind]
        if spec.layered and not _is_index(self.layer):
            raise SiteError(f"site {self.kind} needs a layer (an integer >= 0), got {self.layer!r}")
        if not spec.layered and self.layer is not None:
            raise SiteError(f"site {self.kind} has no layer; use Site.{self.kind}()")
        if self.head is not None:
            if spec.head_axis is None:
                raise SiteError(f"site {self.kind} has no head axis; drop head={self.head}")
            if not _is_index(self.head):
                raise SiteError(f"head must be an integer >= 0, got {self.head!r}")

    # ---- constructors -------------------------------------------------------------------------------------

    @classmethod
    def embed(cls) -> "Site":
        return cls("embed")

    @classmethod
    def pos_embed(cls) -> "Site":
        return cls("pos_embed")

    @classmethod
    def resid_pre(cls, layer: int) -> "Site":
        return cls("resid_pre", layer)

    @classmethod
    def resid_mid(cls, layer: int) -> "Site":
        return cls("resid_mid", layer)

    @classmethod
    def resid_post(cls, layer: int) -> "Site":
        return cls("resid_post", layer)

    @classmethod
    def attn_out(cls, layer: int) -> "Site":
        return cls("attn_out", layer)

    @classmethod
    def mlp_out(cls, layer: int) -> "Site":
        return cls("mlp_out", layer)

    @classmethod
    def mlp_pre(cls, layer: int) -> "Site":
        return cls("mlp_pre", layer)

    @classmethod
    def mlp_post(cls, layer: int) -> "Site":
        return cls("mlp_post", layer)

    @classmethod
    def q(cls, layer: int, head: int | None = None) -> "Site":
        return cls("q", layer, head)

    @classmethod
    def k(cls, layer: int, head: int | None = None) -> "Site":
        return cls("k", layer, head)

    @classmethod
    def v(cls, layer: int, head: int | None = None) -> "Site":
        return cls("v", layer, head)

    @classmethod
    def z(cls, layer: int, head: int | None = None) -> "Site":
        return cls("z", layer, head)

    @classmethod
    def pattern(cls, layer: int, head: int | None = None) -> "Site":
        return cls("pattern", layer, head)

    @classmethod
    def attn_scores(cls, layer: int, head: int | None = None) -> "Site":
        return cls("attn_scores", layer, head)

    @classmethod
    def head_out(cls, layer: int, head: int | None = None) -> "Site":
        return cls("head_out", layer, head)

    # ---- what the site is --------------------------------------------------------------------------------

    @property
    def hook_name(self) -> str:
        """The TransformerLens hook this site is read from (for head_out: hook_z)."""
        return KINDS[self.kind].hook.format(layer=self.layer)

    @property
    def axes(self) -> tuple[str, ...]:
        """Axis names of the cached activation; a site with one head has no head axis."""
        axes = KINDS[self.kind].axes
        return tuple(a for a in axes if a != "head") if self.head is not None else axes

    @property
    def has_head_axis(self) -> bool:
        return KINDS[self.kind].head_axis is not None

    @property
    def head_axis(self) -> int | None:
        """Index of the head axis in the hook's activation (all heads), or None."""
        return KINDS[self.kind].head_axis

    @property
    def pos_axis(self) -> int | None:
        """Index of the (query) position axis in the hook's activation, or None."""
        return KINDS[self.kind].pos_axis

    @property
    def is_derived(self) -> bool:
        """True when the activation is computed from another hook (head_out from hook_z)."""
        return self.kind == "head_out"

    @property
    def target(self) -> "Site":
        """The site whose hook carries this activation, with all heads: what an intervention edits."""
        return Site("z" if self.kind == "head_out" else self.kind, self.layer)

    @property
    def writable(self) -> bool:
        return not KINDS[self.kind].refuse_edits

    @property
    def edit_refusal(self) -> str:
        """Why interventions here are refused ("" when they are not)."""
        layer = self.layer if self.layer is not None else 0
        return KINDS[self.kind].refuse_edits.format(layer=layer, next=layer + 1)

    def shape(self, cfg: Any, pos: int) -> tuple[int, ...]:
        """Shape of one row of the activation (no batch axis) for a model config and sequence length.

        >>> from interp.model.config import ModelConfig
        >>> cfg = ModelConfig(n_layers=2, d_model=32, n_ctx=16, d_head=8, n_heads=4, d_vocab=11, attn_only=True)
        >>> Site.pattern(0).shape(cfg, pos=10), Site.z(1).shape(cfg, pos=10)   # [head query key], [pos head d_head]
        ((4, 10, 10), (10, 4, 8))
        """
        sizes = {
            "pos": pos,
            "query_pos": pos,
            "key_pos": pos,
            "head": cfg.n_heads,
            "d_head": cfg.d_head,
            "d_model": cfg.d_model,
            "d_mlp": cfg.d_mlp,
        }
        return tuple(sizes[a] for a in self.axes[1:])

    def check(self, model: Any) -> "Site":
        """Raise SiteError unless `model` has this site; return the site so calls chain."""
        n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
        if self.layer is not None and self.layer >= n_layers:
            raise SiteError(f"{self}: layer {self.layer} is out of range; the model has layers 0..{n_layers - 1}")
        if self.head is not None and self.head >= n_heads:
            raise SiteError(f"{self}: head {self.head} is out of range; the model has heads 0..{n_heads - 1}")
        if self.hook_name not in model.hook_dict:
            why = ""
            if self.kind in ("mlp_out", "mlp_pre", "mlp_post", "resid_mid") and getattr(model.cfg, "attn_only", False):
                why = " (an attention-only model has no MLP)"
            elif self.kind == "pos_embed" and getattr(model.cfg, "positional_embedding_type", "") == "rotary":
                why = " (a rotary model adds no positional embedding)"
            raise SiteError(f"{self}: the model has no hook {self.hook_name!r}{why}")
        return self

    # ---- strings ------------------------------------------------------------------------------------------

    def __repr__(self) -> str:
        args = [] if self.layer is None else [str(self.layer)]
        if self.head is not None:
            args.append(str(self.head))
        return f"Site.{self.kind}({', '.join(args)})"

    def __str__(self) -> str:
        """Short form that `Site.parse` reads back: z1, pattern0h2, embed."""
        layer = "" if self.layer is None else str(self.layer)
        head = "" if self.head is None else f"h{self.head}"
        return f"{self.kind}{layer}{head}"

    @classmethod
    def parse(cls, text: "str | Site") -> "Site":
        """A site from a hook name ("blocks.1.attn.hook_z") or a short form ("z1", "pattern0h2", "embed")."""
        if isinstance(text, Site):
            return text
        text = text.strip()
        for kind, spec in KINDS.items():
            if kind == "head_out":
                continue  # shares hook_z with z; a full hook name means z
            if spec.layered:
                match = _FULL.match(text)
                if match and spec.hook.format(layer=match["layer"]) == text:
                    return cls(kind, int(match["layer"]))
            elif text == spec.hook:
                return cls(kind)
        match = _SHORT.match(text)
        if match:
            kind = _ALIASES.get(match["kind"], match["kind"])
            if kind in KINDS:
                layer = None if match["layer"] is None else int(match["layer"])
                head = None if match["head"] is None else int(match["head"])
                return cls(kind, layer, head)
        raise SiteError(
            f"cannot read {text!r} as a site; write a hook name like 'blocks.1.attn.hook_z' or a short form like "
            f"'z1', 'pattern0', 'head_out1h3', 'embed' (kinds: {', '.join(KINDS)})"
        )


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
