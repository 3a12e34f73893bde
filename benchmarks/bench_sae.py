"""Sparse dictionaries: interp's SAE training step against a plain PyTorch loop of the same SAE, side by side, and
the issue's quality targets on the demo model and on the 4-layer IOI model.

    python benchmarks/bench_sae.py [--demo-run DIR] [--ioi-run DIR] [--rounds 5] [--steps 20] [--threads 1]
                                   [--skip-targets]      # prints two tables, writes benchmarks/results/sae.json

(a) Throughput (activations/s) on one batch source: 4096-token batches of the demo model's layer-0 residual
    stream (the last checkpoint of models/runs/demo, else the attn-only-2l preset's model with random weights),
    TopK k = 16, 512 features, Adam. interp: `DictionaryTrainer.step` (TopK + AuxK loss on dead features, dead-
    feature counters, learning-rate schedule); plain: the same SAE written here as five tensors and the TopK/MSE
    loss only; and interp with aux_coefficient = 0 (the same objective as plain). Rounds interleave the loops (the\n    median round counts). Target: interp >= 0.9x plain.
(b) Quality: `train_dictionary` with the default SAEConfig (TopK k = 16, 512 features) on resid_post0 of the demo
    run and on the middle of the IOI run (resid_post1 of 4 layers), then `evaluate_dictionary` on 128 held-out rows:
    training seconds, explained variance, CE loss recovered, L0, dead fraction. Targets: EV >= 0.9, CE recovered >=
    0.9, dead < 5%, training <= 180 s.

CPU time of one thread (time.process_time) for (a); wall time for (b), which includes the model forwards that fill
the activation buffer.
"""

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

import interp.tasks  # noqa: F401  registers the "ioi" data source the IOI run trains on
from interp.analysis.core.eval_tokens import evaluation_tokens
from interp.analysis.sae.activations import ActivationStream
from interp.analysis.sae.config import SAEConfig
from interp.analysis.sae.dictionary import SparseDictionary
from interp.analysis.sae.evaluation import evaluate_dictionary
from interp.analysis.sae.training import DictionaryTrainer, train_dictionary
from interp.train.checkpoints import load_model, resolve_checkpoint

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "sae.json"
RUNS = ROOT / "models" / "runs"
TARGETS = {"vs_plain": 0.9, "explained_variance": 0.9, "ce_recovered": 0.9, "dead_fraction": 0.05, "seconds": 180.0}


class PlainTopK:
    """A TopK SAE as a researcher writes it in a notebook: five tensors, Adam, MSE."""

    def __init__(self, d_in: int, n_features: int, k: int, lr: float, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)
        decoder = torch.randn(n_features, d_in, generator=generator)
        decoder /= decoder.norm(dim=-1, keepdim=True)
        self.W_enc = decoder.T.clone().requires_grad_()
        self.W_dec = decoder.requires_grad_()
        self.b_enc = torch.zeros(n_features, requires_grad=True)
        self.b_dec = torch.zeros(d_in, requires_grad=True)
        self.k = k
        self.optimizer = torch.optim.Adam([self.W_enc, self.b_enc, self.W_dec, self.b_dec], lr=lr)

    def step(self, x: torch.Tensor) -> float:
        pre = (x - self.b_dec) @ self.W_enc + self.b_enc
        top = pre.topk(self.k, dim=-1)
        features = torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
        loss = ((features @ self.W_dec + self.b_dec - x) ** 2).sum(-1).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def _last_checkpoint(name: str):
    run = RUNS / name
    return resolve_checkpoint(run) if (run / "checkpoints").is_dir() else None


def throughput(ckpt, *, rounds: int, steps: int) -> dict:
    """Activations/s of interp's step (with and without the AuxK term) and the plain loop, on the same batches."""
    config = SAEConfig(site="resid_post0", kind="topk", n_features=512, k=16)
    stream = ActivationStream.from_checkpoint(ckpt, config)
    batches = [stream.batch(step)[0] for step in range(steps)]
    scale = stream.d_in**0.5 / float(batches[0].norm(dim=-1).mean())
    batches = [b * scale for b in batches]
    loops = {}
    for name, cfg in (("interp", config), ("interp_no_auxk", SAEConfig(**{**config.to_dict(), "aux_coefficient": 0.0}))):
        trainer = DictionaryTrainer(SparseDictionary(d_in=stream.d_in, n_features=512, kind="topk", k=16), cfg)
        loops[name] = lambda b, trainer=trainer: trainer.step(b, b)
    loops["plain"] = PlainTopK(stream.d_in, 512, 16, lr=config.lr).step
    times = {name: [] for name in loops}
    for _ in range(rounds):
        for name, run in loops.items():
            started = time.process_time()
            for batch in batches:
                run(batch)
            times[name].append(time.process_time() - started)
    tokens = steps * config.batch_tokens
    rate = {name: tokens / statistics.median(t) for name, t in times.items()}
    return {
        **{f"{name}_per_second": value for name, value in rate.items()},
        "ratio": rate["interp"] / rate["plain"],
        "ratio_no_auxk": rate["interp_no_auxk"] / rate["plain"],
    }


def quality(ckpt, site: str) -> dict:
    config = SAEConfig(site=site, kind="topk", n_features=512, k=16)
    started = time.perf_counter()
    saved = train_dictionary(ckpt, config, out=Path(tempfile.mkdtemp()) / "sae", progress=False)
    seconds = time.perf_counter() - started
    tokens, _ = evaluation_tokens(ckpt, n_rows=128)
    e = evaluate_dictionary(load_model(ckpt), saved.sae, config, tokens)
    return {
        "site": site,
        "seconds": seconds,
        "training_tokens": config.tokens,
        "explained_variance": e.explained_variance,
        "ce_recovered": e.ce_recovered,
        "ce_recovered_mean": e.ce_recovered_mean,
        "l0": e.l0,
        "dead_fraction": e.dead_fraction,
        "n_tokens": e.n_tokens,
        "met": e.explained_variance >= TARGETS["explained_variance"]
        and e.ce_recovered >= TARGETS["ce_recovered"]
        and e.dead_fraction < TARGETS["dead_fraction"]
        and seconds <= TARGETS["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-targets", action="store_true", help="Only the throughput comparison.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    demo, ioi = _last_checkpoint("demo"), _last_checkpoint("ioi-attn-only-4l")
    if demo is None:
        raise SystemExit("models/runs/demo is missing: run `interp train --preset attn-only-2l --out models/runs/demo` first")
    speed = throughput(demo, rounds=args.rounds, steps=args.steps)
    print(
        f"(a) SAE training step, 4096 activations, 1 thread: interp {speed['interp_per_second']:,.0f}/s, plain "
        f"{speed['plain_per_second']:,.0f}/s: {speed['ratio']:.2f}x (target >= {TARGETS['vs_plain']}x); without the AuxK "
        f"term (the plain loop's objective) {speed['ratio_no_auxk']:.2f}x"
    )
    targets = {}
    if not args.skip_targets:
        for name, ckpt, site in (("demo", demo, "resid_post0"), ("ioi-attn-only-4l", ioi, "resid_post1")):
            if ckpt is None:
                print(f"(b) {name}: no run in models/runs/{name}; skipped")
                continue
            q = targets[name] = quality(ckpt, site)
            print(
                f"(b) {name} {site}: {q['seconds']:.0f} s, EV {q['explained_variance']:.3f}, CE recovered {q['ce_recovered']:.3f} "
                f"(mean-ablation baseline {q['ce_recovered_mean']:.3f}), L0 {q['l0']:.1f}, dead {q['dead_fraction']:.1%} on {q['n_tokens']:,} tokens"
                f" -> {'met' if q['met'] else 'NOT met'}"
            )
    met = speed["ratio"] >= TARGETS["vs_plain"] and all(q["met"] for q in targets.values())
    headline = f"SAE step {speed['ratio']:.2f}x plain ({speed['ratio_no_auxk']:.2f}x without AuxK); " + "; ".join(
        f"{n}: EV {q['explained_variance']:.2f}, CE rec {q['ce_recovered']:.2f}, dead {q['dead_fraction']:.1%}, {q['seconds']:.0f} s"
        for n, q in targets.items()
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "headline": headline,
                "met": met,
                "targets": TARGETS,
                "throughput": speed,
                "quality": targets,
                "threads": args.threads,
                "machine": platform.processor() or platform.machine(),
            },
            indent=2,
        )
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
