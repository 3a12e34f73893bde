"""Attribution patching against exact activation patching on the IOI model: rank agreement and speed.

Per-head scores (z, all positions) and per-head-per-position scores (z by position): Spearman rank correlation
of the attribution estimates with the exact values, and the time of attribution patching (one backward pass,
all kinds at once) against exact batched patching and against TransformerLens's per-cell loop, one thread.

    python benchmarks/bench_attribution.py [RUN_DIR]   # prints a table, writes benchmarks/results/attribution.json
"""

import contextlib
import functools
import io
import json
import sys
from pathlib import Path

from interp.analysis.patching.activation import activation_patching
from interp.analysis.patching.attribution import attribution_patching, spearman
from interp.analysis.patching.reference import reference_patching

sys.path.insert(0, str(Path(__file__).parent))
from bench_patching import best_of, setup  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "attribution.json"
KINDS = ["z", "z_by_pos", "resid_pre", "pattern_by_pos"]


def main() -> None:
    model, prompts, metric, source = setup(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    clean, corrupted = prompts.clean, prompts.corrupted
    attribution_s, estimates = best_of(lambda: attribution_patching(model, clean, corrupted, metric, kinds=KINDS), 5)
    print(f"model: {source}; {len(prompts)} prompts; attribution (all {len(KINDS)} kinds, one backward): {attribution_s:.3f} s")
    print(f"{'kind':15s} {'cells':>5s} {'spearman':>8s} {'exact s':>8s} {'TL loop s':>9s} {'vs exact':>9s} {'vs TL':>8s}")
    rows = []
    for kind in KINDS:
        exact_s, exact = best_of(functools.partial(activation_patching, model, clean, corrupted, metric, kind), 3)
        with contextlib.redirect_stderr(io.StringIO()):
            loop_s, _ = best_of(functools.partial(reference_patching, model, clean, corrupted, metric, kind), 1)
        rho = spearman(exact.values, estimates[kind].values)
        row = {
            "kind": kind,
            "cells": exact.values.numel(),
            "spearman": rho,
            "attribution_s": attribution_s,
            "exact_batched_s": exact_s,
            "transformer_lens_loop_s": loop_s,
            "speedup_vs_exact_batched": exact_s / attribution_s,
            "speedup_vs_transformer_lens_loop": loop_s / attribution_s,
        }
        rows.append(row)
        print(
            f"{kind:15s} {row['cells']:5d} {rho:8.3f} {exact_s:8.3f} {loop_s:9.3f} {row['speedup_vs_exact_batched']:8.1f}x {row['speedup_vs_transformer_lens_loop']:7.1f}x",
            flush=True,
        )
    total_exact = sum(r["exact_batched_s"] for r in rows)
    total_loop = sum(r["transformer_lens_loop_s"] for r in rows)
    print(
        f"all {len(KINDS)} kinds: attribution {attribution_s:.3f} s, exact batched {total_exact:.3f} s ({total_exact / attribution_s:.1f}x), "
        f"TransformerLens loop {total_loop:.3f} s ({total_loop / attribution_s:.1f}x)"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    heads_rho = next(r["spearman"] for r in rows if r["kind"] == "z")
    met = heads_rho >= 0.9 and total_loop / attribution_s >= 50
    headline = (
        f"Spearman per head {heads_rho:.3f}; {total_loop / attribution_s:.0f}x TransformerLens's exact loop, "
        f"{total_exact / attribution_s:.0f}x our batched exact patching (targets >= 0.9, >= 50x)"
    )
    RESULTS.write_text(
        json.dumps(
            {
                "model": source,
                "prompts": len(prompts),
                "rows": rows,
                "attribution_s": attribution_s,
                "all_kinds_speedup_vs_exact_batched": total_exact / attribution_s,
                "all_kinds_speedup_vs_transformer_lens_loop": total_loop / attribution_s,
                "met": met,
                "headline": headline,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
