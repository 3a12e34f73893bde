"""IOI as a patching task: the checkpoint's corpus, aligned clean/corrupted prompts, and the sweeps `interp patch`
runs for each `--kind`, saved as safetensors + JSON with one self-contained HTML page.

>>> import tempfile
>>> import interp
>>> from interp.train.checkpoints import resolve_checkpoint
>>> tiny = {"model.n_layers": 2, "model.d_model": 16, "model.n_heads": 2, "model.d_head": 8, "train.steps": 2,
...     "train.warmup_steps": 0, "train.batch_size": 4, "train.n_checkpoints": 2, "train.eval_batches": 1}
>>> run_dir = Path(tempfile.mkdtemp()) / "ioi"
>>> _ = interp.train_run("ioi-attn-only-3l", run_dir, overrides=tiny, progress=False)   # two steps on the IOI corpus
>>> model, corpus = ioi_model(resolve_checkpoint(run_dir))
>>> prompts = patching_prompts(corpus, n=8, split="train")      # one template layout: every row has the same positions
>>> run = run_kind(model, prompts, "heads")
>>> {name: result.axes for name, result in run.results.items()}
{'z': ('layer', 'head'), 'z_by_pos': ('layer', 'pos', 'head')}
>>> run.results["z_by_pos"].values.shape == (2, prompts.clean.shape[1], 2)
True
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.patching.activation import PatchingResult, activation_patching, prepare
from interp.analysis.patching.attribution import attribution_patching, spearman
from interp.analysis.patching.files import save_result
from interp.analysis.patching.path import PathPatchingResult, path_patching
from interp.core.errors import InterpError
from interp.tasks.ioi.prompts import IOICorpus, IOIPrompts, IOISetup, ioi_corpus
from interp.tasks.ioi.training_data import ioi_setup
from interp.train.checkpoints import Checkpoint, load_model

KIND_GROUPS: dict[str, tuple[str, ...]] = {
    "heads": ("z", "z_by_pos"),
    "resid": ("resid_pre",),
    "attn": ("attn_out", "mlp_out"),
    "qkv": ("q", "k", "v", "q_by_pos", "k_by_pos", "v_by_pos"),
    "pattern": ("pattern", "pattern_by_pos"),
    "path": (),
    "attribution": ("z", "z_by_pos", "resid_pre"),
}


class TaskError(InterpError, ValueError):
    """The checkpoint or the request does not fit the IOI task."""


def ioi_model(ckpt: Checkpoint):
    """The checkpoint's model and the IOI corpus it was trained on (refused if its tokenizer is another)."""
    corpus = ioi_corpus(ioi_setup(ckpt.run.data) if ckpt.run is not None else IOISetup())
    if ckpt.tokenizer != corpus.tokenizer.to_dict():
        raise TaskError(
            f"{ckpt.path} was not trained on the IOI corpus (its tokenizer is {(ckpt.tokenizer or {}).get('kind')!r}, "
            "not this corpus's compact GPT-2 vocabulary); train one with analyses/ioi_train.py"
        )
    return load_model(ckpt), corpus


def patching_prompts(
    corpus: IOICorpus, *, n: int = 64, split: str = "train", corruption: str = "abc", seed: int = 0
) -> IOIPrompts:
    """`n` prompts of the split's largest template layout (every row has the same positions), ABBA and BABA."""
    return corpus.prompts(n, split=split, seed=seed, corruption=corruption, templates=corpus.layouts(split)[0])


def parse_receivers(text: str) -> str | list[tuple[int, int]]:
    """'logits' or 'L.H,L.H' (e.g. '2.0,2.3') -> receivers for path patching."""
    if text.strip() == "logits":
        return "logits"
    try:
        return [(int(layer), int(h)) for layer, h in (item.split(".") for item in text.split(","))]
    except ValueError:
        raise TaskError(
            f"receivers must be 'logits' or heads as layer.head separated by commas (e.g. 2.0,2.3), got {text!r}"
        ) from None


@dataclass(frozen=True)
class KindRun:
    """What one `--kind` produced: named results and a short summary for the terminal and the page."""

    results: dict[str, PatchingResult | PathPatchingResult]
    notes: dict[str, Any]


def run_kind(
    model,
    prompts: IOIPrompts,
    kind: str,
    *,
    receivers: str | list[tuple[int, int]] = "logits",
    component: str = "q",
    direction: str = "denoising",
) -> KindRun:
    """Run the sweeps of one CLI kind on IOI prompts (metric: logit difference IO - S at the end position).
    `direction="noising"` patches corrupted cells into the clean run (activation-patching kinds only); its
    results are named `<kind>_noising`."""
    if kind not in KIND_GROUPS:
        raise TaskError(f"unknown --kind {kind!r}; choose one of {', '.join(KIND_GROUPS)}")
    if direction != "denoising" and kind in ("path", "attribution"):
        raise TaskError(f"--direction {direction} is for activation patching; --kind {kind} patches clean into corrupted only")
    metric = LogitDiff.ioi(prompts)
    clean, corrupted = prompts.clean, prompts.corrupted
    if kind == "path":
        result = path_patching(model, clean, corrupted, metric, receivers=receivers, component=component)
        return KindRun({"path": result}, {})
    if kind == "attribution":
        estimates = attribution_patching(model, clean, corrupted, metric, kinds=KIND_GROUPS[kind])
        exact = activation_patching(model, clean, corrupted, metric, "z")
        results = {f"attribution_{k}": v for k, v in estimates.items()} | {"exact_z": exact}
        notes = {
            "spearman_heads": spearman(exact.values, estimates["z"].values),
            "seconds_attribution": estimates["z"].seconds,
            "seconds_exact_heads": exact.seconds,
        }
        return KindRun(results, notes)
    kinds = [k for k in KIND_GROUPS[kind] if not (k == "mlp_out" and model.cfg.attn_only)]
    prepared = prepare(model, clean, corrupted, read=metric.positions)  # one snapshot and one pair of cached runs for every sweep
    suffix = direction_suffix(direction)
    return KindRun(
        {
            k + suffix: activation_patching(model, clean, corrupted, metric, k, prepared=prepared, direction=direction)
            for k in kinds
        },
        {},
    )


def direction_suffix(direction: str) -> str:
    """What result and page names of a patching direction end with: nothing for denoising, `_noising` otherwise."""
    return "" if direction == "denoising" else f"_{direction}"


def top_cells(result, n: int = 5) -> list[tuple[str, float]]:
    """The n cells whose normalised value lies farthest from the result's "no effect" value."""
    values, axes = result.normalised, result.axes
    order = (values - result.no_effect).abs().flatten().argsort(descending=True)[:n]
    out = []
    for flat in order.tolist():
        index = torch.unravel_index(torch.tensor(flat), values.shape)
        name = " ".join(f"{a[0].upper() if a != 'pos' else 'pos'}{int(i)}" for a, i in zip(axes, index))
        out.append((name, float(values.flatten()[flat])))
    return out


def save_kind(run: KindRun, out_dir: Path, extra: dict[str, Any]) -> list[Path]:
    """Every result of a kind as <name>.safetensors + <name>.json in `out_dir`."""
    paths = []
    for name, result in run.results.items():
        paths.append(save_result(result, out_dir, name, extra={**extra, **run.notes})["json"])
    return paths
