"""A trained dictionary on disk, in SAELens's layout, plus what interp needs to use it safely.

    cfg.json                  SAELens's config (architecture, d_in, d_sae, hook name, ...): `SAE.load_from_disk` reads it
    sae_weights.safetensors   W_enc [d_in d_sae], b_enc, W_dec [d_sae d_in], b_dec (and threshold for JumpReLU)
    interp.json               the SAEConfig, the checkpoint it was trained on (run, step, model config), training figures

BatchTopK saves as a JumpReLU dictionary with one threshold for every feature: that is its inference rule.
Directories are written atomically; loading reads safetensors and JSON only.

>>> import tempfile
>>> import torch
>>> from pathlib import Path
>>> cfg = SAEConfig(site="resid_post0", kind="topk", n_features=32, k=4)
>>> sae = SparseDictionary(d_in=16, n_features=32, kind="topk", k=4)
>>> folder = save_dictionary(Path(tempfile.mkdtemp()) / "sae", sae, cfg, source={"model": {"d_model": 16}, "step": 10})
>>> sorted(p.name for p in folder.iterdir())
['cfg.json', 'interp.json', 'sae_weights.safetensors']
>>> saved = load_dictionary(folder)
>>> x = torch.randn(4, 16)
>>> torch.equal(saved.sae(x), sae(x)), saved.config == cfg, saved.source["step"]
(True, True, 10)
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import THRESHOLD_KINDS, SparseDictionary
from interp.core.errors import CheckpointError, ConfigError
from interp.core.io import atomic_directory, commit_directory, read_json, write_json

SAELENS_CONFIG = "cfg.json"
WEIGHTS = "sae_weights.safetensors"
INTERP_FILE = "interp.json"
FORMAT_VERSION = 1
SAES_DIR = "saes"  # a run's dictionaries: RUN/saes/<site>-<kind>-<features>/step_XXXXXX/


def dictionary_directory(run_dir: Path, config: SAEConfig, step: int) -> Path:
    """Where a run keeps the dictionary of `config` trained on its checkpoint at `step`.

    >>> dictionary_directory(Path("runs/demo"), SAEConfig(site="resid_post0", k=16), 6000).as_posix()
    'runs/demo/saes/resid_post0-topk-512/step_006000'
    """
    name = f"{config.site}-{config.kind}-{config.n_features}" + (f"-to-{config.output_site}" if config.output_site else "")
    return Path(run_dir) / SAES_DIR / name / f"step_{step:06d}"


def source_of(checkpoint: Any) -> dict[str, Any]:
    """What `interp.json` records of the checkpoint a dictionary was trained on (a `Checkpoint`)."""
    cfg = checkpoint.config
    return {
        "checkpoint": str(checkpoint.path),
        "step": checkpoint.step,
        "model_name": getattr(cfg, "model_name", "") or "",
        "n_ctx": cfg.n_ctx,
        "model": cfg.to_hooked_transformer_dict(),
        "corpus": checkpoint.run.data.corpus if checkpoint.run is not None else None,
    }


@dataclass(frozen=True)
class SavedDictionary:
    """A dictionary read from disk with its config, its source checkpoint and any recorded figures."""

    path: Path
    sae: SparseDictionary
    config: SAEConfig
    source: dict[str, Any]
    figures: dict[str, Any] = field(default_factory=dict)


def saelens_config(sae: SparseDictionary, config: SAEConfig, source: dict[str, Any]) -> dict[str, Any]:
    """The cfg.json SAELens reads: architecture, widths, hook and the metadata of the model it belongs to."""
    site = config.input_site
    architecture = {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu", "jumprelu": "jumprelu"}[sae.kind]
    cfg: dict[str, Any] = {
        "architecture": architecture,
        "d_in": sae.d_in,
        "d_sae": sae.n_features,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": sae.applies_b_dec_to_input,
        "normalize_activations": "none",
        "reshape_activations": "hook_z" if site.kind == "z" and site.head is None else "none",
        "metadata": {
            "model_name": source.get("model_name", ""),
            "hook_name": site.hook_name,
            "hook_head_index": site.head,
            "context_size": source.get("n_ctx"),
            "prepend_bos": False,
            "model_class_name": "HookedTransformer",
        },
    }
    if sae.kind == "topk":
        cfg["k"] = sae.k
    if sae.transcoder:
        cfg["d_out"] = sae.d_out
        cfg["metadata"]["hook_name_out"] = config.target_site.hook_name
    return cfg


def save_dictionary(
    path: Path, sae: SparseDictionary, config: SAEConfig, *, source: dict[str, Any], figures: dict[str, Any] | None = None
) -> Path:
    """Write `sae` to the directory `path` (replacing an old one only once the new one is complete)."""
    path = Path(path)
    tensors = {
        "W_enc": sae.W_enc.detach().cpu().contiguous(),
        "b_enc": sae.b_enc.detach().cpu().contiguous(),
        "W_dec": sae.W_dec.detach().cpu().contiguous(),
        "b_dec": sae.b_dec.detach().cpu().contiguous(),
    }
    if sae.kind in THRESHOLD_KINDS:
        tensors["threshold"] = sae.threshold.detach().cpu().contiguous()
    tmp = atomic_directory(path)
    save_file(tensors, str(tmp / WEIGHTS))
    write_json(tmp / SAELENS_CONFIG, saelens_config(sae, config, source))
    record = {"format_version": FORMAT_VERSION, "kind": sae.kind, "config": config.to_dict(), "source": source}
    write_json(tmp / INTERP_FILE, {**record, "figures": figures or {}})
    commit_directory(tmp, path)
    return path


def _read(path: Path, name: str) -> dict[str, Any]:
    file = path / name
    if not file.exists():
        raise CheckpointError(f"{path} is not a saved dictionary: {name} is missing")
    try:
        data = read_json(file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{file} is not valid JSON ({error}); the dictionary file is corrupted") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{file} holds a JSON {type(data).__name__}, not an object")
    return data


def load_dictionary(path: Path) -> SavedDictionary:
    """Read a dictionary written by `save_dictionary` (safetensors and JSON only; nothing is unpickled)."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"no saved dictionary at {path}; train one with `interp sae train`")
    record = _read(path, INTERP_FILE)
    try:
        config = SAEConfig.from_dict(record["config"])
    except (KeyError, TypeError, ConfigError) as error:
        raise CheckpointError(f"{path / INTERP_FILE} does not hold a valid SAE config: {error}") from None
    try:
        tensors = load_file(str(path / WEIGHTS))
    except (SafetensorError, FileNotFoundError, OSError) as error:
        raise CheckpointError(f"{path / WEIGHTS} cannot be read ({error}); the dictionary file is corrupted") from None
    missing = {"W_enc", "b_enc", "W_dec", "b_dec"} - set(tensors)
    if config.kind in THRESHOLD_KINDS:
        missing |= {"threshold"} - set(tensors)
    if missing:
        raise CheckpointError(f"{path / WEIGHTS} lacks {', '.join(sorted(missing))}; the dictionary file is corrupted")
    d_in, n_features = tensors["W_enc"].shape
    sae = SparseDictionary(
        d_in=d_in,
        n_features=n_features,
        kind=config.kind,
        k=config.k,
        d_out=tensors["W_dec"].shape[1],
        transcoder=config.is_transcoder,
    )
    state = {name: tensors[name] for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
    if config.kind in THRESHOLD_KINDS:
        state["log_threshold"] = tensors["threshold"].clamp_min(1e-12).log()
    try:
        sae.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"{path / WEIGHTS} does not fit its config: {error}") from None
    return SavedDictionary(
        path=path, sae=sae.eval(), config=config, source=record.get("source", {}), figures=record.get("figures", {})
    )


def check_source(saved: SavedDictionary, model_config: dict[str, Any], *, site: str | None = None) -> None:
    """Raise ConfigError unless the dictionary was trained on a model of this architecture (and on `site`)."""
    trained_on = saved.source.get("model")
    if trained_on is not None and trained_on != model_config:
        differ = sorted(k for k in set(trained_on) | set(model_config) if trained_on.get(k) != model_config.get(k))
        raise ConfigError(
            f"{saved.path} was trained on another model (differs in {', '.join(differ[:4])}); train one for this model"
        )
    if site is not None and site != saved.config.site:
        raise ConfigError(f"{saved.path} reads site {saved.config.site}, not {site}; pick the dictionary trained on {site}")


__all__ = [
    "SavedDictionary",
    "check_source",
    "dictionary_directory",
    "load_dictionary",
    "save_dictionary",
    "saelens_config",
    "source_of",
]
