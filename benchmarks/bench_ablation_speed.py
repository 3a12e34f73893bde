"""Ablation study speed: stacked, layer-skipping `ablation_study` against a naive loop, side by side.

The naive loop is what one writes by hand: for every ablation and mini-batch, one full forward with a
TransformerLens hook (`run_with_hooks`). Both compute the same numbers (checked here to 1e-5). Demo-size
models (the presets with a 65-symbol vocabulary), 64 rows x n_ctx tokens, mean ablation, one thread.

    python benchmarks/bench_ablation_speed.py        # prints a table, writes benchmarks/results/ablation_speed.json
"""

import functools
import itertools
import json
import time
from pathlib import Path

import torch

from interp.analysis.ablation.study import ablation_study
from interp.analysis.core.cache import cache_activations
from interp.analysis.core.metrics import loss_metric
from interp.model.build import build_model
from interp.model.sites import Site
from interp.train.presets import run_config

RESULTS = Path(__file__).parent / "results" / "ablation_speed.json"
VOCAB, ROWS, BATCH = 65, 64, 32


@torch.no_grad()
def naive(model, tokens, over: str) -> torch.Tensor:
    cfg = model.cfg
    means = cache_activations(model, tokens, [Site.z(layer) for layer in range(cfg.n_layers)], reduce="mean")
    heads = list(itertools.product(range(cfg.n_layers), range(cfg.n_heads)))
    units = [[h] for h in heads] + ([list(p) for p in itertools.combinations(heads, 2)] if over == "pairs" else [])
    values = []
    for unit in units:
        total = 0.0
        for start in range(0, len(tokens), BATCH):
            chunk = tokens[start : start + BATCH]
            hooks = []
            for layer, head in unit:
                mean = means[Site.z(layer)]

                def hook(z, hook, head=head, mean=mean):
                    z = z.clone()
                    z[:, :, head] = mean[: z.shape[1], head]
                    return z

                hooks.append((f"blocks.{layer}.attn.hook_z", hook))
            total += float(loss_metric(model.run_with_hooks(chunk, fwd_hooks=hooks), chunk, None).sum())
        values.append(total / len(tokens))
    return torch.tensor(values)


def timed(fn, repeats: int = 3):
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    torch.set_num_threads(1)
    records = []
    for preset in ("attn-only-2l", "2l-mlp"):
        model = build_model(run_config(preset).model.with_vocab(VOCAB))
        tokens = torch.randint(VOCAB, (ROWS, model.cfg.n_ctx), generator=torch.Generator().manual_seed(0))
        for over in ("heads", "pairs"):
            fast_seconds, fast = timed(
                functools.partial(ablation_study, model, tokens, method="mean", over=over, batch_size=BATCH)
            )
            naive_seconds, reference = timed(functools.partial(naive, model, tokens, over), repeats=1 if over == "pairs" else 3)
            n = model.cfg.n_layers * model.cfg.n_heads
            ours = (
                fast.values.flatten()
                if over == "heads"
                else torch.cat(
                    [
                        torch.diagonal(fast.values.view(n, n)),
                        fast.values.view(n, n)[tuple(zip(*itertools.combinations(range(n), 2)))],
                    ]
                )
            )
            difference = float((ours - reference).abs().max())
            assert difference <= 1e-5, difference
            records.append(
                {
                    "preset": preset,
                    "over": over,
                    "ablations": len(reference),
                    "ours_seconds": fast_seconds,
                    "naive_seconds": naive_seconds,
                    "speedup": naive_seconds / fast_seconds,
                    "max_abs_difference": difference,
                }
            )
    print(f"{'preset':13s} {'over':6s} {'ablations':>9s} {'ours s':>8s} {'naive s':>8s} {'speedup':>8s} {'max diff':>9s}")
    for r in records:
        print(
            f"{r['preset']:13s} {r['over']:6s} {r['ablations']:9d} {r['ours_seconds']:8.3f} {r['naive_seconds']:8.3f} {r['speedup']:7.1f}x {r['max_abs_difference']:9.1e}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": ROWS, "batch": BATCH, "records": records}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
