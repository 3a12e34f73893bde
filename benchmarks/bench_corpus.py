"""Tokenizing a corpus of one's own into its memory-mapped token file, and training memory against corpus size.

Generates a text corpus here (the Shakespeare plays, each copy with its lines shuffled by a seed, written as files
of 50 MB in one folder; default 1 GB), then:

- tokenizes it into a token file (`interp.text.token_file`, datasets' map in --workers processes) with the GPT-2
  tokenizer and with the char tokenizer (two passes: alphabet, then ids), reporting MB/s of UTF-8 text
  (target >= 5 MB/s for GPT-2 on a 2-core machine);
- trains a short run (d_model 64, n_ctx 64, char tokenizer) in a fresh subprocess on two prefixes of the corpus
  (default 5% and 50% of --size-mb, i.e. 50 MB and 500 MB), with the token file already built, and reports the
  child's peak RSS, VmHWM of /proc/self/status at exit, printed as JSON (its ru_maxrss is printed too, but on
  Linux that keeps the peak of the image before exec, i.e. of this parent process after tokenizing, so it is not the
  child's own figure; the parent's RUSAGE_CHILDREN is the maximum over every child so far): training memory must
  not grow with the corpus (target: the larger corpus's peak within 10% + 20 MB of the smaller's).

Prints a table and writes benchmarks/results/corpus.json.

    python benchmarks/bench_corpus.py [--size-mb 1000] [--rss-mb 50 500] [--workers 2] [--keep DIR]
"""

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "corpus.json"
FILE_MB = 50
TARGET_MB_S = 5.0


def generate(folder: Path, size_mb: float, seed: int = 0) -> int:
    """Files of FILE_MB (the last one shorter) totalling `size_mb` MB of shuffled Shakespeare lines; returns bytes."""
    from interp.text.corpora import corpus_text

    lines = corpus_text("shakespeare").splitlines(keepends=True)
    folder.mkdir(parents=True, exist_ok=True)
    rng, total, target, number = random.Random(seed), 0, int(size_mb * 1e6), 0
    while total < target:
        with open(folder / f"part-{number:04d}.txt", "w", encoding="utf-8") as handle:
            written = 0
            while written < FILE_MB * 1e6 and total + written < target:
                rng.shuffle(lines)
                chunk = "".join(lines)[: target - total - written]
                handle.write(chunk)
                written += len(chunk.encode("utf-8"))
        total, number = total + written, number + 1
    return total


def tokenize(folder: Path, tokenizer_kind: str, cache: Path, workers: int) -> dict:
    from interp.text.token_file import token_file
    from interp.text.tokenizers import load_tokenizer
    from interp.text.user_corpus import open_user_corpus

    corpus = open_user_corpus(str(folder))
    tokenizer = None if tokenizer_kind == "char" else load_tokenizer(tokenizer_kind)
    n_bytes = sum(os.path.getsize(f) for f in corpus.files)
    start = time.perf_counter()
    tokens = token_file(corpus, tokenizer, cache_dir=cache, num_proc=workers, progress=True)
    seconds = time.perf_counter() - start
    return {
        "tokenizer": tokenizer_kind,
        "mb": n_bytes / 1e6,
        "tokens": int(tokens.meta["n_tokens"]),
        "seconds": seconds,
        "mb_per_s": n_bytes / 1e6 / seconds,
        "token_file_mb": (tokens.path / "tokens.bin").stat().st_size / 1e6,
    }


def child(corpus: str, cache: str, out: str) -> None:
    """One short training run on `corpus` whose token file is in `cache` (run in a fresh process)."""
    import interp
    import interp.text.token_file as token_file_module

    def refuse(*args, **kwargs):
        raise SystemExit("the token file was not in the cache: the benchmark would measure tokenizing")

    token_file_module._build = refuse
    overrides = {
        "data.corpus": corpus,
        "data.tokenizer": "char",
        "data.repeated_fraction": 0.0,
        "model.n_ctx": 64,
        "model.d_model": 64,
        "model.d_head": 16,
        "model.n_heads": 4,
        "train.steps": 50,
        "train.batch_size": 32,
        "train.eval_every": 25,
        "train.eval_batches": 2,
        "train.threads": 1,
    }
    interp.train_run("tiny", out, overrides=overrides, cache_dir=Path(cache), progress=False)
    status = {line.split(":")[0]: int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")}
    print(json.dumps({"peak_rss_kib": status["VmHWM"], "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def training_peak_rss(corpus: Path, cache: Path, out: Path) -> float:
    """Peak RSS (MB) of a fresh process training on `corpus` (its token file already in `cache`)."""
    command = [sys.executable, __file__, "--child", str(corpus), str(cache), str(out)]
    done = subprocess.run(command, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_kib"] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1000.0, help="corpus size to tokenize (MB of UTF-8 text)")
    parser.add_argument("--rss-mb", type=float, nargs=2, default=None, help="two corpus sizes to train on (default 5%% and 50%%)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="tokenizing processes (datasets map num_proc)")
    parser.add_argument(
        "--keep", type=Path, default=None, help="generate into this folder and keep it (default: a temporary one)"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    small_mb, large_mb = args.rss_mb or (args.size_mb * 0.05, args.size_mb * 0.5)
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    try:
        start = time.perf_counter()
        n_bytes = generate(root / "corpus", args.size_mb)
        print(f"generated {n_bytes / 1e6:,.0f} MB in {time.perf_counter() - start:.0f} s under {root}")
        rows = [tokenize(root / "corpus", kind, root / "cache", args.workers) for kind in ("gpt2", "char")]
        memory = []
        for size in sorted((small_mb, large_mb)):
            folder = root / f"train-{size:g}mb"
            generate(folder, size, seed=1)
            tokenize(folder, "char", root / "cache", args.workers)  # the token file exists before the child runs
            memory.append({"corpus_mb": size, "peak_rss_mb": training_peak_rss(folder, root / "cache", root / f"run-{size:g}")})
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    print(f"{'tokenizer':10s} {'MB':>8s} {'tokens':>14s} {'s':>8s} {'MB/s':>7s}")
    for r in rows:
        print(f"{r['tokenizer']:10s} {r['mb']:8.0f} {r['tokens']:14,d} {r['seconds']:8.1f} {r['mb_per_s']:7.2f}")
    for m in memory:
        print(f"training on {m['corpus_mb']:,.0f} MB: peak RSS {m['peak_rss_mb']:,.0f} MB")
    gpt2_rate = rows[0]["mb_per_s"]
    small, large = memory[0]["peak_rss_mb"], memory[1]["peak_rss_mb"]
    flat = large <= small * 1.10 + 20
    met = gpt2_rate >= TARGET_MB_S and flat
    headline = (
        f"GPT-2 tokenizing {gpt2_rate:.1f} MB/s over {rows[0]['mb']:,.0f} MB (target >= {TARGET_MB_S:g}), char {rows[1]['mb_per_s']:.1f} MB/s; "
        f"training peak RSS {small:,.0f} MB on {memory[0]['corpus_mb']:,.0f} MB vs {large:,.0f} MB on {memory[1]['corpus_mb']:,.0f} MB"
    )
    print(f"{headline}: {'met' if met else 'NOT met'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "corpus",
                "machine": platform.machine(),
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg(),
                "workers": args.workers,
                "size_mb": args.size_mb,
                "tokenizing": rows,
                "training_memory": memory,
                "target_mb_per_s": TARGET_MB_S,
                "memory_flat": flat,
                "met": met,
                "headline": headline,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
