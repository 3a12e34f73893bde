"""Edge-level circuit discovery: exact edge patching against the per-edge hook loop on the 4-layer IOI model, and
EAP-IG, EAP and exact patching over every edge of a demo checkpoint, side by side in one process.

    python benchmarks/bench_edges.py [--ioi-run DIR] [--demo-run DIR] [--n 64] [--threads 1]
                                     # prints two tables, writes benchmarks/results/edges.json

(a) The 4-layer attention-only IOI model (the last checkpoint of models/runs/ioi-attn-only-4l*, else the preset's
    model with random weights), `ioi_task` on the corpus it trains on: `edge_patching` (batched, on the engine)
    against `reference_edge_patching` (one hooked forward of the bridge per edge, all prompts batched), every
    edge, the largest differences of their per-prompt and mean effects, and the same in float64 (what is left
    in float32 is rounding). Targets: exact <= 30 s and >= 20x the loop.
(b) A demo checkpoint (the last of models/runs/demo, else the attn-only-2l preset's model with random weights) on
    the induction task of `interp circuit --task induction`: EAP-IG with m = 5 (on the inputs, and on the edges),
    EAP, exact and the loop. Target: EAP-IG <= 1 s.

CPU time (time.process_time) of one thread, as in the other benchmarks: these are many small tensor operations,
for which one thread is faster than several on a shared machine (--threads to compare; with more than one
thread the wall time is reported instead). Fast methods: best of 3; the loop: one run (it takes seconds), or
--loop-edges N to time it on the first N edges and extrapolate (printed as such).
"""

import argparse
import copy
import json
import os
import platform
import time
from pathlib import Path

import torch

from interp.analysis.edges.attribution import edge_attribution
from interp.analysis.edges.exact import edge_patching
from interp.analysis.edges.reference import reference_edge_patching

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "edges.json"
RUNS = ROOT / "models" / "runs"
IOI_PRESET, DEMO_PRESET = "ioi-attn-only-4l", "attn-only-2l"
TARGETS = {"exact_ioi_seconds": 30.0, "exact_vs_loop": 20.0, "eap_ig_demo_seconds": 1.0, "demo_timeline_seconds": 60.0}


def timed(fn, repeats: int, threads: int) -> tuple[float, object]:
    """Smallest time of `repeats` calls (CPU time with one thread, wall time otherwise) and the last result."""
    clock = time.process_time if threads == 1 else time.perf_counter
    best, out = float("inf"), None
    for _ in range(repeats):
        started = clock()
        out = fn()
        best = min(best, clock() - started)
    return best, out


def _first_run(pattern: str) -> Path | None:
    found = [path for path in sorted(RUNS.glob(pattern)) if (path / "checkpoints").is_dir()]
    return found[0] if found else None


def ioi_setup(run: Path | None, n: int):
    """The 4-layer IOI model (trained if a run exists) and its task, with a label."""
    from interp.tasks.ioi.task import ioi_task

    run = run or _first_run(f"{IOI_PRESET}*")
    if run is not None:
        from interp.tasks.ioi.patching import ioi_model
        from interp.train.checkpoints import resolve_checkpoint

        ckpt = resolve_checkpoint(run)
        model, corpus = ioi_model(ckpt)
        return model, ioi_task(corpus, n=n), f"{ckpt.path} (step {ckpt.step})"
    from interp.model.build import build_model
    from interp.tasks.ioi.prompts import ioi_corpus
    from interp.train.presets import run_config

    corpus = ioi_corpus()
    model = build_model(run_config(IOI_PRESET).model.with_vocab(corpus.tokenizer.vocab_size))
    return model, ioi_task(corpus, n=n), f"untrained {IOI_PRESET} (no run in {RUNS})"


def demo_setup(run: Path | None, n: int):
    """A demo checkpoint and the induction task `interp circuit` runs on it, with a label."""
    run = run or _first_run("demo")
    if run is not None:
        from interp.tasks.for_run import task_for_run
        from interp.train.checkpoints import load_model, resolve_checkpoint

        ckpt = resolve_checkpoint(run)
        return load_model(ckpt), task_for_run("induction", ckpt, n=n), f"{ckpt.path} (step {ckpt.step})"
    from interp.model.build import build_model
    from interp.tasks.for_run import INDUCTION_HALF
    from interp.tasks.induction.task import induction_task
    from interp.train.presets import run_config

    cfg = run_config(DEMO_PRESET).model.with_vocab(65)  # the demo's character vocabulary
    return build_model(cfg), induction_task(65, n=n, half=INDUCTION_HALF), f"untrained {DEMO_PRESET} (no run in {RUNS})"


def loop(model, task, threads: int, edges: int | None) -> tuple[float, object, str]:
    """The per-edge loop's time over every edge: measured, or from the first `edges` edges extrapolated."""
    if edges is None:
        seconds, result = timed(lambda: reference_edge_patching(model, task), 1, threads)
        return seconds, result, "measured"
    from interp.analysis.edges.graph import Graph

    total = Graph.of(model).n_edges
    seconds, _ = timed(lambda: _loop_subset(model, task, edges), 1, threads)
    return seconds * total / edges, None, f"extrapolated from {edges} of {total} edges"


def _loop_subset(model, task, edges: int) -> None:
    """The loop's work for the first `edges` edges: the two cached runs, then one hooked forward per edge."""
    from interp.analysis.edges.graph import Graph
    from interp.analysis.edges.reference import head_weights, receiver_hooks, sender_outputs

    graph = Graph.of(model)
    with torch.no_grad():
        _, clean = model.run_with_cache(task.clean)
        _, corrupted = model.run_with_cache(task.corrupted)
        delta = sender_outputs(model, graph, corrupted) - sender_outputs(model, graph, clean)
        weights = head_weights(model, graph)
        for receiver, sender in graph.edge_index[:edges].tolist():
            with model.hooks(fwd_hooks=receiver_hooks(model, graph, receiver, delta[:, :, sender], weights)):
                task.metric.per_row(model(task.clean))


def differences(a, b) -> dict:
    return {"rows": float((a.rows - b.rows).abs().max()), "effects": float((a.effects - b.effects).abs().max())}


def bench_ioi(args) -> dict:
    model, task, source = ioi_setup(args.ioi_run, args.n)
    print(f"(a) model: {source}; {task.batch} prompts x {task.pos} tokens")
    exact_s, exact = timed(lambda: edge_patching(model, task), 3, args.threads)
    loop_s, slow, how = loop(model, task, args.threads, args.loop_edges)
    diff = differences(exact, slow) if slow is not None else None
    double = copy.deepcopy(model).double()
    diff64 = differences(edge_patching(double, task), reference_edge_patching(double, task)) if slow is not None else None
    print(f"{'method':44s} {'edges':>5s} {'seconds':>8s} {'vs loop':>8s}")
    print(f"{'exact edge_patching (batched, engine)':44s} {exact.graph.n_edges:5d} {exact_s:8.3f} {loop_s / exact_s:7.1f}x")
    print(f"{'per-edge hook loop (reference)':44s} {exact.graph.n_edges:5d} {loop_s:8.3f} {1.0:7.1f}x   ({how})")
    if diff is not None:
        print(
            f"max |exact - loop|: per-prompt effects {diff['rows']:.2e}, mean effects {diff['effects']:.2e} (float32); "
            f"in float64 {diff64['rows']:.1e} / {diff64['effects']:.1e}; metric clean {exact.clean:.2f}, corrupted {exact.corrupted:.2f}"
        )
    print()
    return {
        "model": source,
        "prompts": task.batch,
        "tokens": task.pos,
        "edges": exact.graph.n_edges,
        "exact_s": exact_s,
        "loop_s": loop_s,
        "loop_timing": how,
        "speedup": loop_s / exact_s,
        "max_abs_diff": diff,
        "max_abs_diff_float64": diff64,
        "clean": exact.clean,
        "corrupted": exact.corrupted,
    }


def bench_demo(args) -> dict:
    model, task, source = demo_setup(args.demo_run, args.n)
    print(f"(b) model: {source}; induction task, {task.batch} prompts x {task.pos} tokens")
    methods = {
        "EAP-IG m=5 (inputs)": lambda: edge_attribution(model, task, method="eap-ig", steps=5, ig_on="inputs"),
        "EAP-IG m=5 (edges)": lambda: edge_attribution(model, task, method="eap-ig", steps=5, ig_on="edges"),
        "EAP": lambda: edge_attribution(model, task, method="eap"),
        "exact edge_patching": lambda: edge_patching(model, task),
    }
    times = {name: timed(fn, 3, args.threads)[0] for name, fn in methods.items()}
    times["per-edge hook loop (reference)"] = loop(model, task, args.threads, None)[0]
    fastest = min(times.values())
    print(f"{'method':44s} {'seconds':>8s} {'vs fastest':>10s}")
    for name, seconds in times.items():
        print(f"{name:44s} {seconds:8.3f} {seconds / fastest:9.1f}x")
    print()
    return {"model": source, "prompts": task.batch, "tokens": task.pos, "seconds": times}


def bench_timeline(args) -> dict | None:
    """The demo's whole circuit timeline (every checkpoint, EAP-IG m=5), as `interp circuit` runs it."""
    run = args.demo_run or _first_run("demo")
    if run is None:
        print("(c) no demo run: the timeline is not timed (train one with interp demo)\n")
        return None
    from interp.analysis.edges.timeline import circuit_timeline
    from interp.tasks.for_run import task_for_run
    from interp.train.checkpoints import list_checkpoints

    checkpoints = list_checkpoints(run)
    task = task_for_run("induction", checkpoints[-1], n=args.n)
    started = time.perf_counter()
    timeline = circuit_timeline(checkpoints, task, method="eap-ig")
    seconds = time.perf_counter() - started
    print(f"(c) demo timeline: {len(checkpoints)} checkpoints, {task.batch} prompts, EAP-IG m=5: {seconds:.1f} s (wall)\n")
    return {"run": str(run), "checkpoints": len(checkpoints), "seconds": seconds, "circuit_edges": timeline.circuit.n_edges}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ioi-run", type=Path, default=None, help=f"default: the first of {RUNS}/{IOI_PRESET}*")
    parser.add_argument("--demo-run", type=Path, default=None, help=f"default: {RUNS}/demo")
    parser.add_argument("--n", type=int, default=64, help="prompts per task")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--loop-edges", type=int, default=None, help="time the IOI loop on this many edges and extrapolate")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} torch thread(s); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    ioi, demo, timeline = bench_ioi(args), bench_demo(args), bench_timeline(args)
    eap_ig = demo["seconds"]["EAP-IG m=5 (inputs)"]
    met = {
        "exact_ioi_seconds": ioi["exact_s"] <= TARGETS["exact_ioi_seconds"],
        "exact_vs_loop": ioi["speedup"] >= TARGETS["exact_vs_loop"],
        "eap_ig_demo_seconds": eap_ig <= TARGETS["eap_ig_demo_seconds"],
        "demo_timeline_seconds": None if timeline is None else timeline["seconds"] <= TARGETS["demo_timeline_seconds"],
    }
    headline = (
        f"exact edge patching on the 4-layer IOI model: {ioi['exact_s']:.2f} s for {ioi['edges']} edges, "
        f"{ioi['speedup']:.1f}x the per-edge hook loop ({ioi['loop_s']:.1f} s; targets <= 30 s, >= 20x); "
        f"EAP-IG (m=5) on the demo: {eap_ig:.2f} s (target <= 1 s)"
        + ("" if timeline is None else f"; the demo's whole timeline: {timeline['seconds']:.1f} s (target <= 60 s)")
    )
    print(headline)
    print(
        "targets: "
        + ", ".join(f"{name} {'not measured' if ok is None else 'met' if ok else 'NOT met'}" for name, ok in met.items())
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "headline": headline,
                "targets": TARGETS,
                "met": met,
                "ioi": ioi,
                "demo": demo,
                "timeline": timeline,
                "threads": args.threads,
                "timer": "process_time" if args.threads == 1 else "perf_counter",
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
