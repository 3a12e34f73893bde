"""Batched activation patching against TransformerLens's per-cell loop, side by side on the IOI model.

Both run on the same model, prompts and metric (IO - S logit difference at the end position) in one process,
one thread; the table gives the CPU time of each (ours: best of 3, TransformerLens: best of 2; CPU time because
the machine is shared — with one thread it equals the wall time on a quiet machine), the speed-up and the
largest absolute difference between the two results.

    python benchmarks/bench_patching.py [RUN_DIR]     # default: the 3- and 4-layer IOI presets' runs; prints
                                                      # tables, writes benchmarks/results/patching.json

Partial forwards restart after the patched layer, so their cost grows faster with depth than the loop's (one
full forward per cell): the speed-up is reported for both IOI models.
"""

import contextlib
import functools
import io
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from interp.analysis.core.metrics import LogitDiff
from interp.analysis.patching.activation import activation_patching, prepare
from interp.analysis.patching.reference import reference_patching

RESULTS = Path(__file__).parent / "results" / "patching.json"
PRESETS = ("ioi-attn-only-3l", "ioi-attn-only-4l")  # the IOI models; the study analyses the 4-layer one
KINDS = ["resid_pre", "attn_out", "z", "z_by_pos", "q", "k", "v", "q_by_pos", "k_by_pos", "v_by_pos", "pattern", "pattern_by_pos"]
N_PROMPTS = 64


def default_run(preset: str) -> Path:
    """The run analyses/ioi_train.py writes for the preset's seed (the seed that learned IOI)."""
    from interp.train.presets import run_config

    return Path("models/runs") / f"{preset}-seed{run_config(preset).train.seed}"


def load(run: Path, preset: str):
    """The trained IOI model and aligned prompts (a fresh preset-shaped model if the run does not exist)."""
    from interp.tasks.ioi.patching import ioi_model, patching_prompts
    from interp.tasks.ioi.prompts import ioi_corpus
    from interp.train.checkpoints import resolve_checkpoint

    if run.exists():
        ckpt = resolve_checkpoint(run)
        model, corpus = ioi_model(ckpt)
        source = f"{ckpt.path} (step {ckpt.step})"
    else:
        from interp.model.build import build_model
        from interp.train.presets import run_config

        corpus = ioi_corpus()
        model = build_model(run_config(preset).model.with_vocab(corpus.tokenizer.vocab_size))
        source = f"untrained {preset} (no run found)"
    return model, patching_prompts(corpus, n=N_PROMPTS, split="train", seed=1), source


def setup(run: Path | None = None, preset: str = PRESETS[-1]):
    """One thread; the model (`run`, else the preset's run), aligned prompts, their metric, a label."""
    torch.set_num_threads(1)
    model, prompts, source = load(run or default_run(preset), preset)
    return model, prompts, LogitDiff.ioi(prompts), source


def best_of(fn, repeats: int) -> tuple[float, object]:
    """Smallest CPU time of `repeats` calls (one thread, so it is the wall time of a quiet machine; unlike wall
    time it is not inflated by other jobs sharing the cores), and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        started = time.process_time()
        out = fn()
        best = min(best, time.process_time() - started)
    return best, out


def measure(run: Path | None, preset: str) -> dict:
    """Every kind on one model: ours (best of 3) against TransformerLens's loop (best of 2), printed as a table."""
    model, prompts, metric, source = setup(run, preset)
    clean, corrupted = prompts.clean, prompts.corrupted
    print(f"model: {source}; {len(prompts)} prompts x {clean.shape[1]} tokens; one thread")
    print(f"{'kind':15s} {'cells':>5s} {'batched s':>10s} {'TL loop s':>10s} {'speed-up':>9s} {'max |diff|':>11s}")
    rows = []
    for kind in KINDS:
        ours_s, ours = best_of(functools.partial(activation_patching, model, clean, corrupted, metric, kind), 3)
        with contextlib.redirect_stderr(io.StringIO()):
            theirs_s, theirs = best_of(functools.partial(reference_patching, model, clean, corrupted, metric, kind), 2)
        diff = float((ours.values - theirs).abs().max())
        row = {
            "kind": kind,
            "cells": ours.values.numel(),
            "batched_s": ours_s,
            "transformer_lens_s": theirs_s,
            "speedup": theirs_s / ours_s,
            "max_abs_diff": diff,
        }
        rows.append(row)
        print(f"{kind:15s} {row['cells']:5d} {ours_s:10.3f} {theirs_s:10.3f} {row['speedup']:8.1f}x {diff:11.2e}", flush=True)
    total_ours, total_theirs = sum(r["batched_s"] for r in rows), sum(r["transformer_lens_s"] for r in rows)
    print(
        f"{'all':15s} {sum(r['cells'] for r in rows):5d} {total_ours:10.3f} {total_theirs:10.3f} {total_theirs / total_ours:8.1f}x {max(r['max_abs_diff'] for r in rows):11.2e}"
    )

    def session():  # what `interp patch` does: one weight snapshot and one pair of cached runs for every kind
        prepared = prepare(model, clean, corrupted, read=metric.positions)
        return [activation_patching(model, clean, corrupted, metric, kind, prepared=prepared) for kind in KINDS]

    session_s, _ = best_of(session, 3)
    print(
        f"{'all, shared':15s} {sum(r['cells'] for r in rows):5d} {session_s:10.3f} {total_theirs:10.3f} {total_theirs / session_s:8.1f}x   (one prepare() for all kinds)\n"
    )
    return {
        "preset": preset,
        "model": source,
        "n_layers": model.cfg.n_layers,
        "prompts": len(prompts),
        "tokens": clean.shape[1],
        "rows": rows,
        "total_speedup": total_theirs / total_ours,
        "shared_setup_s": session_s,
        "shared_setup_speedup": total_theirs / session_s,
        "grid_speedup": next(r for r in rows if r["kind"] == "z_by_pos")["speedup"],  # the figure: every head x position
    }


def main() -> None:
    """Both IOI models (or the one run given): the speed-up shrinks with depth, so both are reported."""
    models = [measure(Path(sys.argv[1]), PRESETS[-1])] if len(sys.argv) > 1 else [measure(None, preset) for preset in PRESETS]
    worst_diff = max(r["max_abs_diff"] for m in models for r in m["rows"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "threads": 1,
                "timer": "process_time",
                "load_average": os.getloadavg()[0],
                "machine": platform.machine(),
                "torch": torch.__version__,
                "models": models,
                "met": all(m["grid_speedup"] >= 20 for m in models) and worst_diff <= 1e-5,
                "headline": "every head x position: "
                + ", ".join(f"{m['n_layers']} layers {m['grid_speedup']:.1f}x" for m in models)
                + " TransformerLens's loop (all kinds: "
                + ", ".join(f"{m['total_speedup']:.1f}x" for m in models)
                + f"), max diff {worst_diff:.1e} (target >= 20x, <= 1e-5)",
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
