"""Forward + backward time of the PerceiverAR variant against standard models of the same width and depth.

At each sequence length n, side by side in one run (repetitions interleaved, so background load hits every
model alike), one training step's forward and backward (next-token loss on the positions each model
predicts) for:

- `bridge`: the standard interp model (TransformerLens `TransformerBridge.boot_native`), n_ctx = n;
- `dense`: interp's PerceiverAR code with n_latents = n, i.e. an ordinary causal transformer in the same code;
- `perceiver-m`: the PerceiverAR variant keeping the last m positions after its first block.

Ratios are dense / perceiver and bridge / perceiver (> 1: the variant is faster). Prints a table and writes
benchmarks/results/perceiver.json.

    python benchmarks/bench_perceiver.py [--lengths 128 256 512] [--latents 64] [--batch 8] [--reps 5] [--threads 1]
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results" / "perceiver.json"
VOCAB = 72  # about the birthplace corpus's character vocabulary


def build(kind: str, *, n_ctx: int, latents: int, layers: int, d_model: int, heads: int, seed: int = 0):
    from interp.model.build import build_model
    from interp.model.config import ModelConfig
    from interp.variants.perceiver_ar import PerceiverAR, PerceiverARConfig

    cfg = ModelConfig(
        n_layers=layers,
        d_model=d_model,
        n_ctx=n_ctx,
        n_heads=heads,
        d_head=d_model // heads,
        d_mlp=4 * d_model,
        d_vocab=VOCAB,
        seed=seed,
    )
    if kind == "bridge":
        return build_model(cfg).train()
    m = n_ctx if kind == "dense" else latents
    return PerceiverAR(PerceiverARConfig.from_model_config(cfg, m)).train()


def step_seconds(model, tokens: torch.Tensor) -> float:
    """One forward + backward of next-token loss on the positions the model predicts."""
    model.zero_grad(set_to_none=True)
    started = time.perf_counter()
    logits = model(tokens[:, :-1])
    targets = tokens[:, 1:][:, -logits.shape[1] :]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    loss.backward()
    return time.perf_counter() - started


def attention_cost(n: int, m: int, layers: int) -> int:
    """Query-key pairs scored per row: first block m x n, later blocks m x m (dense: n x n everywhere)."""
    return m * n + (layers - 1) * m * m


def run(lengths: list[int], latents: int, batch: int, reps: int, layers: int, d_model: int, heads: int) -> list[dict]:
    rows = []
    for n in lengths:
        m = min(latents, n)
        models = {
            "bridge": build("bridge", n_ctx=n, latents=m, layers=layers, d_model=d_model, heads=heads),
            "dense": build("dense", n_ctx=n, latents=m, layers=layers, d_model=d_model, heads=heads),
            f"perceiver-{m}": build("perceiver", n_ctx=n, latents=m, layers=layers, d_model=d_model, heads=heads),
        }
        tokens = torch.randint(VOCAB, (batch, n + 1), generator=torch.Generator().manual_seed(n))
        times: dict[str, list[float]] = {name: [] for name in models}
        for model in models.values():  # warm-up
            step_seconds(model, tokens)
        for _ in range(reps):
            for name, model in models.items():
                times[name].append(step_seconds(model, tokens))
        median = {name: statistics.median(values) for name, values in times.items()}
        perceiver = median[f"perceiver-{m}"]
        rows.append(
            {
                "seq_len": n,
                "n_latents": m,
                "ms": {name: round(1000 * value, 2) for name, value in median.items()},
                "dense_over_perceiver": round(median["dense"] / perceiver, 3),
                "bridge_over_perceiver": round(median["bridge"] / perceiver, 3),
                "attention_pairs_ratio": round(attention_cost(n, n, layers) / attention_cost(n, m, layers), 3),
                "tokens_per_second": {name: round(batch * n / value) for name, value in median.items()},
            }
        )
        print(format_row(rows[-1]), flush=True)
    return rows


def format_row(row: dict) -> str:
    ms = row["ms"]
    perceiver = next(k for k in ms if k.startswith("perceiver"))
    return (
        f"{row['seq_len']:>6} {row['n_latents']:>4} {ms['bridge']:>10.1f} {ms['dense']:>10.1f} {ms[perceiver]:>11.1f} "
        f"{row['dense_over_perceiver']:>10.2f} {row['bridge_over_perceiver']:>10.2f} {row['attention_pairs_ratio']:>10.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--latents", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{args.layers} layers, d_model {args.d_model}, {args.heads} heads, d_mlp {4 * args.d_model}, batch {args.batch}, "
        f"{args.threads} thread(s); median of {args.reps} forward+backward steps (ms)"
    )
    print(
        f"{'n':>6} {'m':>4} {'bridge':>10} {'dense':>10} {'perceiver':>11} {'dense/perc':>10} {'bridge/perc':>10} {'attn pairs':>10}"
    )
    rows = run(args.lengths, args.latents, args.batch, args.reps, args.layers, args.d_model, args.heads)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "layers": args.layers,
        "d_model": args.d_model,
        "heads": args.heads,
        "d_mlp": 4 * args.d_model,
        "batch": args.batch,
        "reps": args.reps,
        "threads": args.threads,
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    args.out.write_text(json.dumps({"config": meta, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
