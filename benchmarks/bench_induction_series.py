"""Induction scores over a run's checkpoints: `evaluate_series` vs the naive per-checkpoint, per-head reference.

The fast path builds the model once, loads each checkpoint's weights and runs one forward per checkpoint
that keeps only the patterns and z (hook-free, over the bridge's Parameters), plus a logits-only forward
on the held-out text rows. The reference reloads every checkpoint with `load_model` and runs two cached forwards per head.
Both score the same probe; the table shows seconds per checkpoint, the speed-up and the largest difference.

    python benchmarks/bench_induction_series.py [RUN_DIR] [--reference-checkpoints N]

Without a run directory (default models/runs/demo, if it exists), a stand-in run with the demo model's
shape (attn-only, 2 layers, d_model 64, 4 heads x 16, n_ctx 64, vocab 65) and 24 checkpoints of random
weights is written to a temporary folder: the timing does not depend on what the weights learned.
Writes benchmarks/results/induction_series.json.
"""

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from interp.analysis.induction.reference import reference_series
from interp.analysis.induction.series import evaluate_series, probe_for_run
from interp.model.build import build_model
from interp.model.config import ModelConfig
from interp.train.checkpoints import CHECKPOINTS_DIR, list_checkpoints, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "induction_series.json"
DEMO = ROOT / "models" / "runs" / "demo"
TARGET_SECONDS = 2.0  # per checkpoint, for the demo model's ~24 checkpoints


def stand_in_run(folder: Path, n_checkpoints: int = 24) -> Path:
    cfg = ModelConfig(n_layers=2, d_model=64, n_ctx=64, d_head=16, n_heads=4, d_vocab=65, attn_only=True, model_name="stand-in")
    for index in range(n_checkpoints):
        step = 0 if index == 0 else round(6000 ** (index / (n_checkpoints - 1)))
        model = build_model(ModelConfig(**{**cfg.__dict__, "seed": index}))
        save_checkpoint(folder / CHECKPOINTS_DIR / f"step_{step:06d}", model, cfg, step=step, tokens_seen=step * 4096)
    return folder


def max_difference(fast, slow) -> float:
    pairs = [(getattr(fast.heads, n), getattr(slow.heads, n)) for n in fast.heads.as_dict()]
    pairs += [(fast.ov_copying, slow.ov_copying), (fast.per_position_loss, slow.per_position_loss)]
    return max(float((a - b).abs().nan_to_num(0).max()) for a, b in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", type=Path, default=None)
    parser.add_argument("--reference-checkpoints", type=int, default=3, help="checkpoints the slow reference evaluates")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    run = args.run or (DEMO if (DEMO / CHECKPOINTS_DIR).is_dir() else None)
    stand_in = run is None
    if stand_in:
        run = stand_in_run(Path(tempfile.mkdtemp(prefix="bench-induction-")))
    checkpoints = list_checkpoints(run)
    probe = probe_for_run(checkpoints[-1], batch=args.batch, cache_dir=ROOT / "models" / "cache")

    evaluate_series(checkpoints[:1], probe)  # warm-up: imports, allocator, first-call overheads
    started = time.perf_counter()
    evaluate_series(checkpoints, probe)
    fast_seconds = (time.perf_counter() - started) / len(checkpoints)

    subset = checkpoints[-args.reference_checkpoints :]
    started = time.perf_counter()
    slow = reference_series(subset, probe)
    slow_seconds = (time.perf_counter() - started) / len(subset)
    difference = max_difference(evaluate_series(subset, probe), slow)

    rows = [
        ("evaluate_series (one model, pattern+z forward)", len(checkpoints), fast_seconds),
        ("naive reference (load_model, per-head forwards)", len(subset), slow_seconds),
    ]
    text = 0 if probe.text is None else len(probe.text)
    print(
        f"run: {run}{' (stand-in with random weights)' if stand_in else ''}; probe {len(probe.repeated)}+{len(probe.spans)} rows x {probe.repeated.shape[1]} tokens, {text} text rows"
    )
    print(f"{'method':52s} {'checkpoints':>11s} {'s/checkpoint':>13s}")
    for name, count, seconds in rows:
        print(f"{name:52s} {count:11d} {seconds:13.3f}")
    print(f"machine load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.threads} torch threads")
    print(f"speed-up: {slow_seconds / fast_seconds:.1f}x; largest difference between the two: {difference:.2e}")
    met = fast_seconds <= TARGET_SECONDS
    print(f"target <= {TARGET_SECONDS:g} s per checkpoint: {'met' if met else 'NOT met'}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "headline": f"{fast_seconds:.2f} s/checkpoint over {len(checkpoints)} checkpoints vs naive {slow_seconds:.1f} s ({slow_seconds / fast_seconds:.0f}x)",
                "met": met,
                "target_seconds_per_checkpoint": TARGET_SECONDS,
                "run": str(run),
                "stand_in": stand_in,
                "checkpoints": len(checkpoints),
                "probe_rows": len(probe.repeated),
                "seconds_per_checkpoint": {"series": fast_seconds, "reference": slow_seconds},
                "reference_checkpoints": len(subset),
                "speedup": slow_seconds / fast_seconds,
                "max_difference": difference,
                "threads": args.threads,
                "load_average": list(os.getloadavg()),
                "torch": torch.__version__,
                "machine": platform.machine(),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
