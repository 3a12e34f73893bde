"""Memory of a names-filtered activation cache against TransformerLens's full `run_with_cache`, side by side.

For each model (the demo presets) and each request (a few sites), measured in one run:

- tensor bytes held by the full cache (distinct storages: aliases such as hook_resid_pre / blocks.L.hook_in
  share one tensor and are counted once), by `interp.analysis.core.cache.cache_activations`, and by
  TransformerLens's own `run_with_cache(names_filter=...)`;
- the requested fraction, `estimate_bytes(sites) / full bytes`, and the measured fraction, which must be at most
  the requested fraction + 10 percentage points (asserted);
- resident memory added by each way of caching, each in a fresh subprocess after building the model and a
  warm-up forward: the peak during the call (sampled every 2 ms) and what stays while the cache is held.
  Disable with --no-rss.
- a dataset 8x larger, mini-batched and mean-reduced: its cache is the size of one row.

Prints a table and writes benchmarks/results/cache_memory.json.

    python benchmarks/bench_cache_memory.py [--rows 256] [--no-rss]
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "cache_memory.json"
VOCAB = 65  # the character vocabulary of the Shakespeare presets
PRESETS = ("attn-only-2l", "2l-mlp")
REQUESTS = {
    "attn-only-2l": [["pattern1"], ["z0", "z1"], ["resid_post1", "head_out1h2"]],
    "2l-mlp": [["pattern1"], ["mlp_post0"], ["resid_pre0", "resid_mid1", "resid_post1"]],
}


def build(preset: str):
    from interp.model.build import build_model
    from interp.train.presets import run_config

    return build_model(run_config(preset).model.with_vocab(VOCAB))


def tokens_for(model, rows: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(VOCAB, (rows, model.cfg.n_ctx), generator=torch.Generator().manual_seed(seed))


def distinct_bytes(tensors) -> int:
    """Bytes of the distinct storages behind `tensors` (views and aliases counted once)."""
    seen: dict[int, int] = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def full_cache(model, tokens):
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    return cache


def tl_filtered_cache(model, tokens, sites):
    from interp.model.sites import Site

    names = [Site.parse(s).target.hook_name for s in sites]
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names)
    return cache


def ours(model, tokens, sites, **kwargs):
    from interp.analysis.core.cache import cache_activations

    return cache_activations(model, tokens, sites, **kwargs)


class PeakSampler:
    """Samples this process's resident memory every 2 ms in a thread; `.peak` is the highest seen."""

    def __init__(self) -> None:
        import threading

        import psutil

        self.process, self.peak, self.running = psutil.Process(), 0, True
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> "PeakSampler":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def child(preset: str, rows: int, mode: str, sites: list[str]) -> None:
    """Run one way of caching in this (fresh) process; print the RSS it added at peak and while holding the cache."""
    import gc

    import psutil

    torch.set_num_threads(1)
    model = build(preset)
    tokens = tokens_for(model, rows)
    with torch.no_grad():
        model(tokens[:2])
    gc.collect()
    before = psutil.Process().memory_info().rss
    with PeakSampler() as sampler:
        if mode == "full":
            held = full_cache(model, tokens)
        elif mode == "tl_filtered":
            held = tl_filtered_cache(model, tokens, sites)
        else:
            held = ours(model, tokens, sites, batch_size=32)
        gc.collect()
        holding = psutil.Process().memory_info().rss
    del held
    print(json.dumps({"peak": sampler.peak - before, "held": holding - before}))


def rss_added(preset: str, rows: int, mode: str, sites: list[str]) -> dict[str, int]:
    """{"peak": bytes, "held": bytes} of resident memory added by one way of caching, in a fresh process."""
    command = [sys.executable, __file__, "--child", preset, mode, ",".join(sites), "--rows", str(rows)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def measure(rows: int, rss: bool) -> list[dict]:
    from interp.analysis.core.cache import estimate_bytes

    records = []
    for preset in PRESETS:
        model = build(preset)
        tokens = tokens_for(model, rows)
        started = time.perf_counter()
        full = full_cache(model, tokens)
        full_seconds = time.perf_counter() - started
        full_bytes = distinct_bytes(full.values())
        full_rss = rss_added(preset, rows, "full", []) if rss else None
        for sites in REQUESTS[preset]:
            started = time.perf_counter()
            acts = ours(model, tokens, sites, batch_size=32)
            seconds = time.perf_counter() - started
            requested = estimate_bytes(model, sites, n_rows=rows, pos=model.cfg.n_ctx) / full_bytes
            measured = acts.nbytes / full_bytes
            tl_bytes = distinct_bytes(tl_filtered_cache(model, tokens, sites).values())
            big = ours(model, tokens_for(model, rows * 8, seed=1), sites, batch_size=64, reduce="mean")
            record = {
                "preset": preset,
                "sites": sites,
                "rows": rows,
                "pos": model.cfg.n_ctx,
                "full_bytes": full_bytes,
                "full_seconds": full_seconds,
                "filtered_bytes": acts.nbytes,
                "filtered_seconds": seconds,
                "tl_filtered_bytes": tl_bytes,
                "requested_fraction": requested,
                "measured_fraction": measured,
                "mean_reduced_rows": rows * 8,
                "mean_reduced_bytes": big.nbytes,
                "estimate_exact": acts.nbytes == estimate_bytes(model, sites, n_rows=rows, pos=model.cfg.n_ctx),
            }
            if rss:
                record["full_rss_added"] = full_rss
                record["filtered_rss_added"] = rss_added(preset, rows, "ours", sites)
                record["tl_filtered_rss_added"] = rss_added(preset, rows, "tl_filtered", sites)
            assert record["estimate_exact"], record
            assert measured <= requested + 0.10, (
                f"filtered cache uses {measured:.1%} of the full cache; requested {requested:.1%}"
            )
            records.append(record)
    return records


def mib(value) -> str:
    return "-" if value is None else f"{value / 2**20:8.1f}"


def rss(record: dict, key: str) -> str:
    value = record.get(key)
    return "-" if value is None else f"{value['peak'] / 2**20:.0f}/{value['held'] / 2**20:.0f}"


def print_table(records: list[dict]) -> None:
    header = f"{'preset':13s} {'sites':36s} {'full MiB':>9s} {'ours MiB':>9s} {'TL filt':>9s} {'requested':>9s} {'measured':>9s} {'mean 8x':>9s} {'RSS full':>10s} {'RSS ours':>10s} {'RSS TL':>10s}"
    print("sizes in MiB; RSS columns: resident memory added, peak/held while the cache is alive (fresh process each)")
    print(header)
    print("-" * len(header))
    for r in records:
        print(
            f"{r['preset']:13s} {','.join(r['sites']):36s} {mib(r['full_bytes']):>9s} {mib(r['filtered_bytes']):>9s} "
            f"{mib(r['tl_filtered_bytes']):>9s} {r['requested_fraction']:9.2%} {r['measured_fraction']:9.2%} "
            f"{mib(r['mean_reduced_bytes']):>9s} {rss(r, 'full_rss_added'):>10s} {rss(r, 'filtered_rss_added'):>10s} {rss(r, 'tl_filtered_rss_added'):>10s}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--no-rss", action="store_true", help="skip the subprocess peak-RSS measurements")
    parser.add_argument("--child", nargs=3, metavar=("PRESET", "MODE", "SITES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        preset, mode, sites = args.child
        child(preset, args.rows, mode, [s for s in sites.split(",") if s])
        return
    torch.set_num_threads(1)
    records = measure(args.rows, rss=not args.no_rss)
    print_table(records)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"torch": torch.__version__, "records": records}, indent=2) + "\n")
    print(f"all filtered caches within requested fraction + 10%; wrote {RESULTS}")


if __name__ == "__main__":
    main()
