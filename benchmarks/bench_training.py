"""Training throughput of the demo preset against a plain PyTorch model of identical shape, same loop.

Three models with the attn-only-2l shape (2 layers, d_model 64, 4 heads x 16, n_ctx 64, LayerNorm, vocab 80),
trained on the same batches with the same AdamW step, measured side by side in one process (rounds interleave
the models, so machine noise hits them alike; the median round counts):

- interp (training path): what `interp train` runs, `interp.model.engine.fast_forward` over the bridge's parameters;
- TransformerBridge forward: the same parameters through the bridge's hooked forward (the path before the fix);
- plain (explicit attention): a minimal PyTorch transformer written here (matmul, causal mask, softmax);
- plain (SDPA): the same with `F.scaled_dot_product_attention`.

Prints a table and writes benchmarks/results/training.json. Target: interp >= 0.95x plain (explicit).

    python benchmarks/bench_training.py [--rounds 7] [--steps 10] [--threads 2]
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
        x = self.embed(tokens) + self.pos(torch.arange(tokens.shape[1]))
        for ln, attn in zip(self.ln, self.attn):
            x = x + attn(ln(x))
        return self.unembed(self.ln_final(x))


def step_time(module, optimizer, batches: list[torch.Tensor], loss_fn) -> float:
    params = [p for group in optimizer.param_groups for p in group["params"]]
    started = time.perf_counter()
    for tokens in batches:
        loss = loss_fn(module(tokens), tokens)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
    return (time.perf_counter() - started) / len(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=10, help="training steps per model per round")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from interp.model.build import build_model
    from interp.model.engine.fast_forward import fast_forward
    from interp.train.loop import next_token_loss
    from interp.train.presets import run_config

    run = run_config("attn-only-2l")
    cfg = run.model.with_vocab(80)
    shape = dict(n_layers=cfg.n_layers, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head, n_ctx=cfg.n_ctx, d_vocab=80)
    batch = run.train.batch_size
    generator = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, 80, (batch, cfg.n_ctx), generator=generator) for _ in range(args.steps)]

    torch.manual_seed(0)
    bridge = build_model(cfg).train()
    models = {
        "interp (training path)": fast_forward(bridge, cfg),
        "TransformerBridge forward": bridge,
        "plain PyTorch, explicit attention": PlainAttnOnly(**shape, sdpa=False),
        "plain PyTorch, SDPA": PlainAttnOnly(**shape, sdpa=True),
    }
    n_params = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items() if isinstance(m, nn.Module)}
    assert len(set(n_params.values())) == 1, f"models differ in size: {n_params}"
    parameters = {name: (bridge if not isinstance(m, nn.Module) else m).parameters() for name, m in models.items()}
    optimizers = {name: torch.optim.AdamW(parameters[name], lr=1e-3, weight_decay=0.01) for name in models}
    for name, module in models.items():  # warm-up
        step_time(module, optimizers[name], batches[:2], next_token_loss)

    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, module in models.items():
            times[name].append(step_time(module, optimizers[name], batches, next_token_loss))

    tokens_per_step = batch * cfg.n_ctx
    reference = statistics.median(times["plain PyTorch, explicit attention"])
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        rows.append(
            {
                "model": name,
                "ms_per_step": 1000 * median,
                "tokens_per_s": tokens_per_step / median,
                "ratio_vs_plain": reference / median,
            }
        )
    print(
        f"training step, attn-only-2l shape, batch {batch} x {cfg.n_ctx}, {n_params[next(iter(n_params))]:,} parameters, "
        f"{args.threads} threads, median of {args.rounds} rounds x {args.steps} steps"
    )
    print(f"{'model':36s} {'ms/step':>8s} {'tokens/s':>10s} {'x plain':>8s}")
    for row in rows:
        print(f"{row['model']:36s} {row['ms_per_step']:8.1f} {row['tokens_per_s']:10,.0f} {row['ratio_vs_plain']:8.2f}")
    ratio = rows[0]["ratio_vs_plain"]
    print(f"interp / plain (explicit attention): {ratio:.2f}x (target >= 0.95x): {'met' if ratio >= 0.95 else 'NOT met'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "training",
                "machine": platform.machine(),
                "threads": args.threads,
                "rounds": args.rounds,
                "steps": args.steps,
                "rows": rows,
                "target": 0.95,
                "met": ratio >= 0.95,
                "headline": f"training {rows[0]['tokens_per_s']:,.0f} tokens/s = {ratio:.2f}x plain PyTorch (target >= 0.95x)",
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
