"""Training throughput of the demo preset against a plain PyTorch model of identical shape, same loop, on a device.

Models of the preset's shape (attn-only-2l: 2 layers, d_model 64, 4 heads x 16, n_ctx 64, LayerNorm, vocab 80),
trained on the same batches with the same AdamW step, measured side by side in one process (rounds interleave
the models, so machine noise hits them alike; the median round counts):

- interp (training path): what `interp train` runs, `interp.model.engine.fast_forward` over the bridge's parameters;
- interp, torch.compile (with --compile): the same forward through torch.compile (inductor), as train.compile = true;
- TransformerBridge forward: the same parameters through the bridge's hooked forward (the path before the fix);
- plain (explicit attention): a minimal PyTorch transformer written here (matmul, causal mask, softmax);
- plain (SDPA): the same with `F.scaled_dot_product_attention` (the plain models only for attention-only presets).

Every step runs as training does (interp.train.precision): autocast for --precision bf16/fp16, loss scaling for
fp16, TF32 matmuls on CUDA. Utilisation uses the model FLOPs of interp.train.throughput (6 N + attention, PaLM's
accounting): on the CPU against a large float32 matmul timed in the same rounds (the practical peak of this
machine and thread count); on CUDA as MFU against the device's peak dense FLOP/s from the table there.

Prints a table and writes benchmarks/results/training.json. Target: interp >= 0.95x plain (explicit).

    python benchmarks/bench_training.py [--rounds 7] [--steps 10] [--threads 2] [--device auto] [--precision fp32]
                                        [--compile] [--preset attn-only-2l] [--matmul 2048]
"""

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

RESULTS = Path(__file__).parent / "results" / "training.json"
INTERP, COMPILED, PLAIN = "interp (training path)", "interp, torch.compile", "plain PyTorch, explicit attention"


class PlainAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_head: int, n_ctx: int, sdpa: bool):
        super().__init__()
        self.n_heads, self.d_head, self.sdpa = n_heads, d_head, sdpa
        self.q, self.k, self.v = (nn.Linear(d_model, n_heads * d_head) for _ in range(3))
        self.o = nn.Linear(n_heads * d_head, d_model)
        self.register_buffer("mask", torch.triu(torch.ones(n_ctx, n_ctx, dtype=torch.bool), 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, pos, _ = x.shape
        q, k, v = (f(x).view(batch, pos, self.n_heads, self.d_head).transpose(1, 2) for f in (self.q, self.k, self.v))
        if self.sdpa:
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = (q @ k.transpose(-2, -1)) / self.d_head**0.5
            z = scores.masked_fill(self.mask[:pos, :pos], float("-inf")).softmax(-1) @ v
        return self.o(z.transpose(1, 2).reshape(batch, pos, -1))


class PlainAttnOnly(nn.Module):
    """Embedding + positions, pre-LN attention blocks, final LN, unembedding: the demo shape in plain PyTorch."""

    def __init__(self, *, n_layers: int, d_model: int, n_heads: int, d_head: int, n_ctx: int, d_vocab: int, sdpa: bool):
        super().__init__()
        self.embed, self.pos = nn.Embedding(d_vocab, d_model), nn.Embedding(n_ctx, d_model)
        self.ln = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(n_layers))
        self.attn = nn.ModuleList(PlainAttention(d_model, n_heads, d_head, n_ctx, sdpa) for _ in range(n_layers))
        self.ln_final, self.unembed = nn.LayerNorm(d_model), nn.Linear(d_model, d_vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for ln, attn in zip(self.ln, self.attn):
            x = x + attn(ln(x))
        return self.unembed(self.ln_final(x))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_time(module, optimizer, batches: list[torch.Tensor], loss_fn, precision, device: torch.device) -> float:
    """Seconds per training step, as interp.train.loop takes one (autocast, scaled backward, unscale, clip, step)."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    synchronize(device)
    started = time.perf_counter()
    for tokens in batches:
        with precision.autocast():
            logits = module(tokens)
        loss = loss_fn(logits.float(), tokens)
        optimizer.zero_grad(set_to_none=True)
        precision.scale(loss).backward()
        precision.unscale(optimizer)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        precision.step(optimizer)
    synchronize(device)
    return (time.perf_counter() - started) / len(batches)


def matmul_time(size: int, repeats: int, device: torch.device) -> float:
    """Seconds per float32 [size size] @ [size size] product (the machine's practical peak; TF32 off on CUDA)."""
    a, b = (torch.randn(size, size, generator=torch.Generator().manual_seed(i)).to(device) for i in (1, 2))
    a @ b  # warm the kernels
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="training steps per model per round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--no-tf32", dest="tf32", action="store_false", help="plain float32 CUDA matmuls")
    parser.add_argument("--compile", action="store_true", help="add the torch.compile row (and its speed-up)")
    parser.add_argument("--preset", default="attn-only-2l", help="the model shape (plain rows: attention-only LN presets)")
    parser.add_argument("--matmul", type=int, default=2048, help="CPU peak: size of the float32 matmul timed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from interp.core.device import describe_device, resolve_device
    from interp.model.build import build_model, move_model
    from interp.model.engine.fast_forward import fast_forward
    from interp.train.compiled import CompiledForward, check_compile
    from interp.train.loop import next_token_loss
    from interp.train.precision import MixedPrecision, check_precision, tf32_matmuls
    from interp.train.presets import run_config
    from interp.train.throughput import mfu, peak_flops, peak_key, training_flops_per_token

    device = resolve_device(args.device)
    check_precision(args.precision, device)
    if args.compile:
        check_compile(device)
    run = run_config(args.preset)
    cfg = run.model.with_vocab(80)
    shape = dict(n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head, n_ctx=cfg.n_ctx, d_vocab=80)
    batch = run.train.batch_size
    generator = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, 80, (batch, cfg.n_ctx), generator=generator).to(device) for _ in range(args.steps)]

    torch.manual_seed(0)
    bridge = move_model(build_model(cfg), device).train()
    eager = fast_forward(bridge, cfg)
    models = {INTERP: eager}
    if args.compile:
        models[COMPILED] = CompiledForward(eager)
    models["TransformerBridge forward"] = bridge
    if cfg.attn_only and cfg.normalization_type == "LN":
        models[PLAIN] = PlainAttnOnly(**shape, sdpa=False).to(device)
        models["plain PyTorch, SDPA"] = PlainAttnOnly(**shape, sdpa=True).to(device)
    n_params = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items() if isinstance(m, nn.Module)}
    assert len(set(n_params.values())) == 1, f"models differ in size: {n_params}"
    parameters = {name: (bridge if not isinstance(m, nn.Module) else m).parameters() for name, m in models.items()}
    optimizers = {name: torch.optim.AdamW(parameters[name], lr=1e-3, weight_decay=0.01) for name in models}
    precisions = {name: MixedPrecision(args.precision, device) for name in models}
    flops_per_token = training_flops_per_token(cfg)
    tokens_per_step = batch * cfg.n_ctx

    with tf32_matmuls(device, args.tf32):
        warmup = {}
        for name, module in models.items():  # warm-up (the compiled forward compiles here)
            started = time.perf_counter()
            step_time(module, optimizers[name], batches[:2], next_token_loss, precisions[name], device)
            warmup[name] = time.perf_counter() - started
        times: dict[str, list[float]] = {name: [] for name in models}
        matmuls: list[float] = []
        for _ in range(args.rounds):
            for name, module in models.items():
                times[name].append(step_time(module, optimizers[name], batches, next_token_loss, precisions[name], device))
            if device.type == "cpu":
                with tf32_matmuls(device, False):
                    matmuls.append(matmul_time(args.matmul, 5, device))

    reference_name = PLAIN if PLAIN in times else INTERP
    reference = statistics.median(times[reference_name])
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        rows.append(
            {
                "model": name,
                "ms_per_step": 1000 * median,
                "tokens_per_s": tokens_per_step / median,
                "model_gflops_per_s": flops_per_token * tokens_per_step / median / 1e9,
                "ratio_vs_plain": reference / median,
            }
        )
    by_name = {row["model"]: row for row in rows}
    where = describe_device(device)
    print(
        f"training step on {where}, {args.precision}{' + TF32' if device.type == 'cuda' and args.tf32 else ''}, "
        f"{args.preset} shape, batch {batch} x {cfg.n_ctx}, {n_params[next(iter(n_params))]:,} parameters, "
        f"{flops_per_token:,} model FLOPs/token, {args.threads} threads, median of {args.rounds} rounds x {args.steps} steps"
    )
    print(
        f"{'model':36s} {'ms/step':>8s} {'tokens/s':>10s} {'GFLOP/s':>8s} {'x ' + ('plain' if PLAIN in times else 'interp'):>8s}"
    )
    for row in rows:
        print(
            f"{row['model']:36s} {row['ms_per_step']:8.1f} {row['tokens_per_s']:10,.0f} {row['model_gflops_per_s']:8.1f} "
            f"{row['ratio_vs_plain']:8.2f}"
        )
    summary = {}
    interp_row = by_name[INTERP]
    if PLAIN in times:
        ratio = interp_row["ratio_vs_plain"]
        summary.update(target=0.95, met=ratio >= 0.95)
        print(f"interp / plain (explicit attention): {ratio:.2f}x (target >= 0.95x): {'met' if ratio >= 0.95 else 'NOT met'}")
    if COMPILED in by_name:
        speedup = interp_row["ms_per_step"] / by_name[COMPILED]["ms_per_step"]
        summary.update(compile_speedup=speedup, compile_warmup_s=warmup[COMPILED])
        print(
            f"torch.compile vs eager (interp training path): {speedup:.2f}x (first two steps, compiling: {warmup[COMPILED]:.1f} s)"
        )
    if device.type == "cpu":
        peak = 2 * args.matmul**3 / statistics.median(matmuls)
        summary.update(matmul_size=args.matmul, matmul_gflops_per_s=peak / 1e9)
        print(
            f"{args.matmul}x{args.matmul} float32 matmul: {peak / 1e9:.1f} GFLOP/s (this machine's practical peak, {args.threads} threads)"
        )
        for name in (INTERP, COMPILED):
            if name in by_name:
                utilisation = by_name[name]["model_gflops_per_s"] * 1e9 / peak
                by_name[name]["utilisation_vs_matmul"] = utilisation
                print(f"{name}: {by_name[name]['model_gflops_per_s']:.1f} GFLOP/s = {utilisation:.1%} of the matmul")
    elif device.type == "cuda":
        peak = peak_flops(torch.cuda.get_device_name(device), args.precision, tf32=args.tf32)
        summary.update(peak_tflops=None if peak is None else peak / 1e12, peak_kind=peak_key(args.precision, args.tf32))
        for name in (INTERP, COMPILED):
            if name in by_name and peak is not None:
                by_name[name]["mfu"] = mfu(by_name[name]["tokens_per_s"], flops_per_token, peak)
                print(
                    f"{name}: {by_name[name]['tokens_per_s']:,.0f} tokens/s, {by_name[name]['model_gflops_per_s'] / 1e3:.2f} TFLOP/s "
                    f"= MFU {by_name[name]['mfu']:.2%} of {peak / 1e12:.0f} TFLOP/s {peak_key(args.precision, args.tf32)}"
                )
        if peak is None:
            print(f"no peak FLOP/s known for {where} at {args.precision}: MFU not reported (interp.train.throughput)")
    headline = f"training {interp_row['tokens_per_s']:,.0f} tokens/s on {where} ({args.precision})"
    if PLAIN in times:
        headline += f" = {interp_row['ratio_vs_plain']:.2f}x plain PyTorch (target >= 0.95x)"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "training",
                "machine": platform.machine(),
                "device": where,
                "precision": args.precision,
                "tf32": args.tf32 and device.type == "cuda",
                "preset": args.preset,
                "threads": args.threads,
                "rounds": args.rounds,
                "steps": args.steps,
                "flops_per_token": flops_per_token,
                "rows": rows,
                **summary,
                "headline": headline,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
