"""SAELens's `cfg.json`: written for each of our dictionaries, and read back into an `SAEConfig` and our tensors.

Architectures (SAELens 6.x names; `SAE.load_from_disk` picks the class from `architecture`):

    kind       SAE          transcoder            encode (pre = x' @ W_enc + b_enc)
    relu       standard     transcoder            relu(pre)
    topk       topk         (interp only)         relu of the k largest pre per token, the rest 0
    batchtopk  jumprelu     jumprelu_transcoder   relu(pre) * (pre > threshold), one threshold shared
    jumprelu   jumprelu     jumprelu_transcoder   relu(pre) * (pre > threshold)

`x' = x - b_dec` for an SAE (`apply_b_dec_to_input`), `x` for a transcoder. SAELens 6.54 has no TopK transcoder:
ours are written with architecture "topk_transcoder", which interp reads and SAELens refuses. The hook is the
HookedTransformer hook the vector is read from (head_out: `attn.hook_result`, which HookedTransformer fires with
`use_attn_result=True`); `metadata.hook_head_index` names one head; a z site over all heads sets
`reshape_activations="hook_z"` (SAELens then flattens `[... head d_head]` itself).

Reading a cfg.json SAELens wrote folds what interp's dictionary lacks into the weights, exactly:
`apply_b_dec_to_input=false` on an SAE (b_enc += b_dec @ W_enc) and TopK's `rescale_acts_by_decoder_norm`
(decoder rows to unit norm, the norms into W_enc and b_enc). Input normalisation and other architectures
(gated, skip transcoders, ...) are refused.

>>> from interp.analysis.sae.dictionary import SparseDictionary
>>> cfg = SAEConfig(site="z1", kind="batchtopk", n_features=32, k=4)
>>> written = saelens_config(SparseDictionary(d_in=16, n_features=32, kind="batchtopk", k=4), cfg, {"n_ctx": 8})
>>> written["architecture"], written["reshape_activations"], written["metadata"]["hook_name"]
('jumprelu', 'hook_z', 'blocks.1.attn.hook_z')
>>> config, kind = config_from_saelens(written)
>>> config.site, config.kind, kind      # read back as SAELens sees it: a JumpReLU dictionary
('z1', 'jumprelu', 'jumprelu')
"""

import re
from typing import Any

import torch
from torch import Tensor

from interp.analysis.sae.config import SAEConfig
from interp.core.errors import CheckpointError, ConfigError
from interp.model.sites import Site, SiteError

SAELENS_VERSION = "6.54.12"  # the SAELens release whose layout the files follow (its loader reads the version)
_SAE_ARCHITECTURES = {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu", "jumprelu": "jumprelu"}
_TRANSCODER_ARCHITECTURES = {
    "relu": "transcoder",
    "topk": "topk_transcoder",
    "batchtopk": "jumprelu_transcoder",
    "jumprelu": "jumprelu_transcoder",
}
# architecture -> (kind, transcoder) when reading a cfg.json
_KINDS = {"standard": ("relu", False), "topk": ("topk", False), "jumprelu": ("jumprelu", False)} | {
    name: ("topk" if name == "topk_transcoder" else "jumprelu" if name.startswith("jumprelu") else "relu", True)
    for name in _TRANSCODER_ARCHITECTURES.values()
}
_RESULT_HOOK = re.compile(r"^blocks\.(?P<layer>\d+)\.attn\.hook_result$")


def architecture(kind: str, transcoder: bool) -> str:
    """SAELens's architecture name for a dictionary of this kind.

    >>> architecture("relu", False), architecture("jumprelu", True), architecture("topk", True)
    ('standard', 'jumprelu_transcoder', 'topk_transcoder')
    """
    return (_TRANSCODER_ARCHITECTURES if transcoder else _SAE_ARCHITECTURES)[kind]


def hook_of(site: Site) -> tuple[str, int | None]:
    """The HookedTransformer hook name and head index SAELens records for a site.

    >>> hook_of(Site.head_out(1, 2)), hook_of(Site.resid_post(0))
    (('blocks.1.attn.hook_result', 2), ('blocks.0.hook_resid_post', None))
    """
    name = f"blocks.{site.layer}.attn.hook_result" if site.kind == "head_out" else site.hook_name
    return name, site.head


def site_of(hook_name: Any, head: Any) -> Site:
    """The site a SAELens hook name and head index stand for (the inverse of `hook_of`).

    >>> site_of("blocks.1.attn.hook_result", None), site_of("blocks.0.attn.hook_z", 3)
    (Site.head_out(1), Site.z(0, 3))
    """
    if not isinstance(hook_name, str):
        raise CheckpointError(f"cfg.json names no hook (metadata.hook_name is {hook_name!r}); interp needs the site it reads")
    if head is not None and (not isinstance(head, int) or isinstance(head, bool) or head < 0):
        raise CheckpointError(f"cfg.json metadata.hook_head_index must be a head number or null, got {head!r}")
    result = _RESULT_HOOK.match(hook_name)
    try:
        site = Site("head_out", int(result["layer"])) if result else Site.parse(hook_name)
        return Site(site.kind, site.layer, head) if head is not None else site
    except SiteError as error:
        raise CheckpointError(f"cfg.json hook {hook_name!r} (head {head}) is not a site interp reads: {error}") from None


def saelens_config(sae: Any, config: SAEConfig, source: dict[str, Any]) -> dict[str, Any]:
    """The cfg.json SAELens reads: architecture, widths, hook and the metadata of the model it belongs to."""
    site = config.input_site
    hook_name, head = hook_of(site)
    metadata: dict[str, Any] = {
        "sae_lens_version": SAELENS_VERSION,
        "sae_lens_training_version": SAELENS_VERSION,
        "model_name": source.get("model_name") or "",
        "hook_name": hook_name,
        "hook_head_index": head,
        "context_size": source.get("n_ctx"),
        "prepend_bos": False,
        "model_class_name": "HookedTransformer",
    }
    cfg: dict[str, Any] = {
        "architecture": architecture(sae.kind, sae.transcoder),
        "d_in": sae.d_in,
        "d_sae": sae.n_features,
        "dtype": str(sae.W_enc.dtype).removeprefix("torch."),
        "device": "cpu",
        "apply_b_dec_to_input": sae.applies_b_dec_to_input,
        "normalize_activations": "none",
        "reshape_activations": "hook_z" if site.kind == "z" and site.head is None else "none",
        "metadata": metadata,
    }
    if sae.kind == "topk":
        cfg |= {"k": sae.k, "rescale_acts_by_decoder_norm": False}
    if sae.transcoder:
        cfg["d_out"] = sae.d_out
        metadata["hook_name_out"], metadata["hook_head_index_out"] = hook_of(config.target_site)
    return cfg


def config_from_saelens(cfg: dict[str, Any]) -> tuple[SAEConfig, str]:
    """The SAEConfig of a dictionary SAELens wrote (training fields at their defaults) and its kind."""
    name = cfg.get("architecture", "standard")
    if name not in _KINDS:
        raise CheckpointError(f"cfg.json architecture {name!r} is not one interp reads; supported: {', '.join(sorted(_KINDS))}")
    kind, transcoder = _KINDS[name]
    if cfg.get("normalize_activations", "none") not in ("none", None):
        raise CheckpointError(
            f"cfg.json normalises its input ({cfg['normalize_activations']!r}); fold the normalisation into the weights "
            "in SAELens first (e.g. sae.fold_activation_norm_scaling_factor) and save again"
        )
    metadata = cfg.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"cfg.json metadata must be an object, got {type(metadata).__name__}")
    site = site_of(metadata.get("hook_name"), metadata.get("hook_head_index"))
    output = None
    if transcoder:
        if metadata.get("hook_name_out") is None:
            raise CheckpointError("cfg.json describes a transcoder but names no metadata.hook_name_out (the site it predicts)")
        output = str(site_of(metadata["hook_name_out"], metadata.get("hook_head_index_out")))
    try:
        k = cfg.get("k", 100) if kind == "topk" else None  # 100: SAELens's default k
        config = SAEConfig(site=str(site), kind=kind, n_features=cfg["d_sae"], k=k, output_site=output)
    except (KeyError, ConfigError) as error:
        raise CheckpointError(f"cfg.json does not describe a dictionary interp can use: {error}") from None
    return config, kind


def fold_saelens_options(cfg: dict[str, Any], tensors: dict[str, Tensor], transcoder: bool) -> dict[str, Tensor]:
    """Weights that give, in interp's dictionary, exactly the encode and decode SAELens computes from `cfg`."""
    tensors = {name: value.float() for name, value in tensors.items()}
    if cfg.get("rescale_acts_by_decoder_norm"):
        norms = tensors["W_dec"].norm(dim=-1).clamp_min(1e-8)  # SAELens's fold_W_dec_norm
        tensors["W_dec"] = tensors["W_dec"] / norms[:, None]
        tensors["W_enc"] = tensors["W_enc"] * norms
        tensors["b_enc"] = tensors["b_enc"] * norms
    if not transcoder and not cfg.get("apply_b_dec_to_input", True):
        # SAELens computes x @ W_enc + b_enc; interp (x - b_dec) @ W_enc + b_enc'.
        tensors["b_enc"] = tensors["b_enc"] + tensors["b_dec"] @ tensors["W_enc"]
    return tensors


def log_threshold_of(threshold: Tensor) -> Tensor:
    """interp's `log_threshold` for a file's `threshold` (a threshold <= 0, a plain ReLU, becomes a tiny positive one).

    >>> log_threshold_of(torch.tensor([1.0, 0.0])).exp()
    tensor([1.0000e+00, 1.0000e-12])
    """
    return torch.log(threshold.float().clamp_min(1e-12))


__all__ = [
    "SAELENS_VERSION",
    "architecture",
    "config_from_saelens",
    "fold_saelens_options",
    "hook_of",
    "log_threshold_of",
    "saelens_config",
    "site_of",
]
