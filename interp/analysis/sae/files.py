"""A trained dictionary on disk, in SAELens's layout, plus what interp needs to use it safely.

    cfg.json                  SAELens's config (architecture, d_in, d_sae, hook name, ...): `SAE.load_from_disk` reads it
    sae_weights.safetensors   W_enc [d_in d_sae], b_enc [d_sae], W_dec [d_sae d_out], b_dec [d_out], and
                              threshold [d_sae] for JumpReLU and BatchTopK
    interp.json               the SAEConfig, the checkpoint it was trained on (run, step, model config), training figures

BatchTopK saves as a JumpReLU dictionary (its inference rule: the threshold it learned, for every feature); see
`saelens_layout` for each kind's architecture (TopK transcoders are interp-only: SAELens has no class for them).
`load_dictionary` also reads a plain SAELens directory (no interp.json). Directories are written atomically (a
failed save leaves the old one as it was); loading reads safetensors and JSON only.

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

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from interp.analysis.sae.config import NEEDS_K, SAEConfig
from interp.analysis.sae.dictionary import THRESHOLD_KINDS, SparseDictionary
from interp.analysis.sae.saelens_layout import config_from_saelens, fold_saelens_options, log_threshold_of, saelens_config
from interp.core.errors import CheckpointError, ConfigError
from interp.core.io import atomic_directory, commit_directory, read_json_object, write_json
from interp.model.sites import Site, SiteError

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


def _check_matches(sae: SparseDictionary, config: SAEConfig) -> None:
    theirs = (config.kind, config.k if config.kind in NEEDS_K else None, config.is_transcoder, config.n_features)
    ours = (sae.kind, sae.k if sae.kind in NEEDS_K else None, sae.transcoder, sae.n_features)
    if theirs != ours:
        raise ConfigError(
            f"the dictionary (kind, k, transcoder, features) = {ours} does not match its config's {theirs}; save it with its own config"
        )


def save_dictionary(
    path: Path, sae: SparseDictionary, config: SAEConfig, *, source: dict[str, Any], figures: dict[str, Any] | None = None
) -> Path:
    """Write `sae` to the directory `path` (replacing an old one only once the new one is complete)."""
    path = Path(path)
    _check_matches(sae, config)
    tensors = {
        "W_enc": sae.W_enc.detach().cpu().contiguous(),
        "b_enc": sae.b_enc.detach().cpu().contiguous(),
        "W_dec": sae.W_dec.detach().cpu().contiguous(),
        "b_dec": sae.b_dec.detach().cpu().contiguous(),
    }
    if sae.kind in THRESHOLD_KINDS:
        tensors["threshold"] = sae.threshold.detach().cpu().contiguous()
    record = {"format_version": FORMAT_VERSION, "kind": sae.kind, "config": config.to_dict(), "source": source}
    tmp = atomic_directory(path)
    try:
        save_file(tensors, str(tmp / WEIGHTS))
        write_json(tmp / SAELENS_CONFIG, saelens_config(sae, config, source))
        write_json(tmp / INTERP_FILE, {**record, "figures": figures or {}})
        commit_directory(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _read(path: Path, name: str) -> dict[str, Any]:
    return read_json_object(path / name, error=CheckpointError, what="the dictionary file")


def _read_tensors(path: Path, kind: str) -> dict[str, Tensor]:
    file = path / WEIGHTS
    if not file.is_file():
        raise CheckpointError(f"{path} is not a saved dictionary: {WEIGHTS} is missing")
    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{file} cannot be read ({error}); the dictionary file is corrupted") from None
    if "scaling_factor" in tensors and torch.all(tensors["scaling_factor"] == 1):
        del tensors["scaling_factor"]  # older SAELens files carry an all-ones one, which changes nothing
    expected = {"W_enc", "b_enc", "W_dec", "b_dec"} | ({"threshold"} if kind in THRESHOLD_KINDS else set())
    if missing := expected - set(tensors):
        raise CheckpointError(f"{file} lacks {', '.join(sorted(missing))}; the dictionary file is corrupted")
    if extra := set(tensors) - expected:
        raise CheckpointError(f"{file} holds tensors a {kind} dictionary does not have ({', '.join(sorted(extra))})")
    if tensors["W_enc"].ndim != 2 or tensors["W_dec"].ndim != 2:
        raise CheckpointError(f"{file}: W_enc and W_dec must be matrices; the dictionary file is corrupted")
    return tensors


def _saelens_source(cfg: dict[str, Any]) -> dict[str, Any]:
    metadata = cfg.get("metadata") or {}
    return {"model_name": metadata.get("model_name") or "", "n_ctx": metadata.get("context_size"), "format": "saelens"}


def load_dictionary(path: Path) -> SavedDictionary:
    """Read a dictionary written by `save_dictionary`, or a plain SAELens one (cfg.json + weights; no interp.json).

    Only safetensors and JSON are read; nothing is unpickled. A SAELens dictionary's config has interp's training
    defaults and its source records no model, so `check_source` can only check its site.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"no saved dictionary at {path}; train one with `interp sae train`")
    if (path / INTERP_FILE).is_file():
        record = _read(path, INTERP_FILE)
        try:
            config = SAEConfig.from_dict(record["config"])
        except (KeyError, TypeError, ConfigError) as error:
            raise CheckpointError(f"{path / INTERP_FILE} does not hold a valid SAE config: {error}") from None
        kind, source, figures = config.kind, record.get("source", {}), record.get("figures", {})
        tensors = _read_tensors(path, kind)
    elif (path / SAELENS_CONFIG).is_file():
        cfg = _read(path, SAELENS_CONFIG)
        try:
            config, kind = config_from_saelens(cfg)
        except CheckpointError as error:
            raise CheckpointError(f"{path}: {error}") from None
        source, figures = _saelens_source(cfg), {}
        tensors = fold_saelens_options(cfg, _read_tensors(path, kind), config.is_transcoder)
    else:
        raise CheckpointError(f"{path} is not a saved dictionary: it holds neither {INTERP_FILE} nor SAELens's {SAELENS_CONFIG}")
    d_in, n_features = tensors["W_enc"].shape
    if n_features != config.n_features:
        raise CheckpointError(f"{path / WEIGHTS} has {n_features} features, its config {config.n_features}; the files disagree")
    try:
        sae = SparseDictionary(
            d_in=d_in,
            n_features=n_features,
            kind=kind,
            k=config.k if kind in NEEDS_K else None,
            d_out=tensors["W_dec"].shape[1],
            transcoder=config.is_transcoder,
        )
        state = {name: tensors[name] for name in ("W_enc", "b_enc", "W_dec", "b_dec")}
        if kind in THRESHOLD_KINDS:
            state["log_threshold"] = log_threshold_of(tensors["threshold"])
        sae.load_state_dict(state)
    except (RuntimeError, ConfigError) as error:
        message = str(error).replace("\n", " ").replace("\t", "")
        raise CheckpointError(f"{path / WEIGHTS} does not fit its config: {message}") from None
    return SavedDictionary(path=path, sae=sae.eval(), config=config, source=source, figures=figures)


def _parsed(site: str) -> Site | str:
    try:
        return Site.parse(site)
    except SiteError:
        return site


def check_source(saved: SavedDictionary, model_config: dict[str, Any], *, site: str | None = None) -> None:
    """Raise ConfigError unless the dictionary was trained on a model of this architecture (and on `site`)."""
    trained_on = saved.source.get("model")
    if trained_on is not None and trained_on != model_config:
        differ = sorted(k for k in set(trained_on) | set(model_config) if trained_on.get(k) != model_config.get(k))
        raise ConfigError(
            f"{saved.path} was trained on another model (differs in {', '.join(differ[:4])}); train one for this model"
        )
    if site is not None and _parsed(site) != saved.config.input_site:
        raise ConfigError(f"{saved.path} reads site {saved.config.site}, not {site}; pick the dictionary trained on {site}")


def source_checkpoint(saved: SavedDictionary):
    """The checkpoint a dictionary was trained on: its run's checkpoint at the recorded step when the dictionary
    sits in RUN/saes/, else the recorded checkpoint path; refused when that model is not the one it was trained on."""
    from interp.train.checkpoints import CHECKPOINTS_DIR, read_checkpoint, resolve_checkpoint

    path = Path(saved.path).resolve()
    step = saved.source.get("step")
    run_dir = path.parents[2] if len(path.parents) > 2 and path.parents[1].name == SAES_DIR else None
    if run_dir is not None and (run_dir / CHECKPOINTS_DIR).is_dir() and isinstance(step, int):
        checkpoint = resolve_checkpoint(run_dir, step)
    elif saved.source.get("checkpoint") and Path(saved.source["checkpoint"]).is_dir():
        checkpoint = read_checkpoint(Path(saved.source["checkpoint"]))
    else:
        raise CheckpointError(
            f"cannot find the checkpoint {saved.path} was trained on (recorded: {saved.source.get('checkpoint')!r}); "
            "keep dictionaries inside their run (RUN/saes/...)"
        )
    check_source(saved, checkpoint.config.to_hooked_transformer_dict())
    return checkpoint


__all__ = [
    "SavedDictionary",
    "check_source",
    "dictionary_directory",
    "load_dictionary",
    "save_dictionary",
    "saelens_config",
    "source_checkpoint",
    "source_of",
]
