# %% [markdown]
# # A GPT-2-style model from scratch (ARENA 1.1 style), scaled to one CPU thread
#
# ARENA's chapter 1.1 ("Transformer from Scratch") describes a GPT-2 with a `Config` of d_model, debug,
# layer_norm_eps, d_vocab, init_range, n_ctx, d_head, d_mlp, n_heads, n_layers, and trains it with
# `TransformerTrainingArgs` (batch_size, epochs, max_steps_per_epoch, lr, weight_decay). The same two frozen
# dataclasses are here, under those names, and `to_run_config` maps them onto interp's ModelConfig/TrainConfig
# (tested in tests/integration/test_gpt2_from_scratch.py); the model itself is a TransformerLens bridge, as everywhere in interp.
#
# Scaled for a CPU: 4 layers, d_model 128, n_ctx 64 instead of 12 layers, 768, 1024. Data: the best offline
# prose mix, `prose` (Shakespeare plays and IMDB reviews interleaved half and half by characters; the Pile and
# OpenWebText are not available offline), GPT-2 BPE with the compact vocabulary (only the GPT-2 ids the corpus
# uses: the full 50257-row unembedding would be ~12x slower on a CPU). Reports the loss curve, the final
# validation loss over every held-out row against the bigram baseline, tokens/s, and samples at a few
# temperatures. Writes analyses/results/gpt2_from_scratch.json and reports/gpt2_from_scratch.html.
#
#     python analyses/gpt2_from_scratch.py                 # train into models/runs/gpt2-from-scratch, analyse
#     python analyses/gpt2_from_scratch.py --no-train      # analyse an existing run

# %%
import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from figures import experiment as experiment_figures

from interp.analysis.core.text_eval import corpus_loss, sample_texts
from interp.core.errors import ConfigError
from interp.model.config import ModelConfig
from interp.report import training_figures
from interp.report.html import Page
from interp.text.config import DataConfig
from interp.text.tokenizers import tokenizer_from_dict
from interp.train.baseline import bigram_loss, unigram_loss
from interp.train.checkpoints import list_checkpoints
from interp.train.config import RunConfig, TrainConfig
from interp.train.data import TrainingData
from interp.train.loop import train

CACHE = Path("models/cache")
TEMPERATURES = (0.5, 0.8, 1.0)
PROMPTS = ("I will", "This movie was")  # words both halves of the corpus use
LAYER_NORM_EPS = 1e-5  # what TransformerLens (and ARENA) use; ModelConfig has no field for another value


@dataclass(frozen=True, kw_only=True)
class TransformerConfig:
    """ARENA 1.1's `Config`, scaled to a CPU. `d_vocab = -1`: take it from the tokenizer (the compact vocabulary).

    `init_range = None` keeps TransformerLens's initialisation (normal, std 0.8 / sqrt(d_model)); ARENA's 0.02
    cannot be expressed in a ModelConfig, so another value is an error rather than silently ignored. `debug`
    prints the parameter shapes of the built model (ARENA prints activation shapes).
    """

    d_model: int = 128
    debug: bool = False
    layer_norm_eps: float = LAYER_NORM_EPS
    d_vocab: int = -1
    init_range: float | None = None
    n_ctx: int = 64
    d_head: int = 32
    d_mlp: int = 512
    n_heads: int = 4
    n_layers: int = 4


@dataclass(frozen=True, kw_only=True)
class TransformerTrainingArgs:
    """ARENA 1.1's training arguments: `epochs * max_steps_per_epoch` AdamW steps of `batch_size` rows."""

    batch_size: int = 16
    epochs: int = 1
    max_steps_per_epoch: int = 1000
    lr: float = 1e-3
    weight_decay: float = 1e-2
    warmup_steps: int = 100
    seed: int = 0


def to_run_config(
    cfg: TransformerConfig,
    args: TransformerTrainingArgs,
    *,
    corpus: str = "prose",
    max_documents: int | None = 300,
    compact_vocab: bool = True,
) -> RunConfig:
    """The interp RunConfig that trains the model `cfg` describes with `args` (GPT-2 BPE, cosine schedule, one thread)."""
    if cfg.layer_norm_eps != LAYER_NORM_EPS:
        raise ConfigError(f"layer_norm_eps must be {LAYER_NORM_EPS} (TransformerLens's LayerNorm), got {cfg.layer_norm_eps}")
    if cfg.init_range is not None:
        raise ConfigError(
            f"init_range={cfg.init_range} cannot be set: interp models use TransformerLens's initialisation; leave it None"
        )
    for name in ("epochs", "max_steps_per_epoch"):
        value = getattr(args, name)
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"TransformerTrainingArgs.{name} must be a positive integer, got {value!r}")
    steps = args.epochs * args.max_steps_per_epoch
    model = ModelConfig(
        n_layers=cfg.n_layers,
        d_model=cfg.d_model,
        n_ctx=cfg.n_ctx,
        d_head=cfg.d_head,
        n_heads=cfg.n_heads,
        d_mlp=cfg.d_mlp,
        d_vocab=cfg.d_vocab,
        act_fn="gelu_new",  # GPT-2's activation
        normalization_type="LN",
        seed=args.seed,
        model_name="gpt2-from-scratch",
    )
    data = DataConfig(corpus=corpus, tokenizer="gpt2", max_documents=max_documents, compact_vocab=compact_vocab)
    training = TrainConfig(
        steps=steps,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=min(args.warmup_steps, steps),
        schedule="cosine",
        eval_every=max(1, steps // 10),
        n_checkpoints=12,
        seed=args.seed,
        threads=1,
    )
    return RunConfig(model=model, data=data, train=training)


def analyse(run_dir: Path, *, n_tokens: int, seed: int, train_seconds: float | None, tokens_per_second: float | None) -> dict:
    checkpoints = list_checkpoints(run_dir)
    final = checkpoints[-1]
    data = TrainingData.prepare(final.run, cache_dir=CACHE, tokenizer=tokenizer_from_dict(final.tokenizer))
    train_rows, val_rows = data.packed.train, data.packed.val
    val_text = data.tokenizer.decode(val_rows.flatten()[1:].tolist())  # the predicted tokens' text
    tokens_per_char = (val_rows.numel() - 1) / len(val_text)
    val_loss = corpus_loss(final, val_rows)
    return {
        "run": str(run_dir),
        "steps": final.step,
        "tokens_seen": final.tokens_seen,
        "config": final.run.to_dict(),
        "n_params": sum(math.prod(s) for s in _param_shapes(final)),
        "vocab_size": data.vocab_size,
        "train_tokens": train_rows.numel(),
        "val_tokens": val_rows.numel(),
        "val_loss": val_loss,
        "val_bits_per_char": val_loss * tokens_per_char / math.log(2),
        "val_loss_step0": corpus_loss(checkpoints[0], val_rows),
        "bigram_val_loss": bigram_loss(train_rows, val_rows, vocab_size=data.vocab_size),
        # add-one smoothing over ~10^4 ids is heavy on ~2e5 training tokens; a lighter one is a fairer baseline
        "bigram_val_loss_add_0.01": bigram_loss(train_rows, val_rows, vocab_size=data.vocab_size, smoothing=0.01),
        "unigram_val_loss": unigram_loss(train_rows, val_rows, vocab_size=data.vocab_size),
        "train_seconds": train_seconds,
        "tokens_per_second": tokens_per_second,
        "samples": {
            prompt: {
                str(t): s for t, s in sample_texts(final, prompt, temperatures=TEMPERATURES, n_tokens=n_tokens, seed=seed).items()
            }
            for prompt in PROMPTS
        },
    }


def _param_shapes(checkpoint) -> list[tuple[int, ...]]:
    from interp.train.checkpoints import load_model

    return [tuple(p.shape) for p in load_model(checkpoint).parameters()]


def render(result: dict, metrics: list[dict], page_path: Path) -> None:
    model = result["config"]["model"]
    page = Page(
        "GPT-2-style model from scratch (ARENA 1.1 style)",
        subtitle=f"{result['run']}: {result['steps']} steps, {result['tokens_seen']:,} tokens seen, {result['n_params']:,} parameters",
    )
    page.text(
        f"{model['n_layers']} layers, d_model {model['d_model']}, {model['n_heads']} heads x {model['d_head']}, d_mlp {model['d_mlp']}, "
        f"n_ctx {model['n_ctx']}, gelu_new, pre-LN. GPT-2 BPE restricted to the {result['vocab_size']:,} ids the corpus uses "
        "(compact vocabulary). Corpus: Shakespeare and IMDB reviews interleaved half and half by characters ('prose'). "
        "Validation over every held-out row (the end of the token stream)."
    )
    losses = {
        "model (final)": result["val_loss"],
        "bigram (add-one, run.json)": result["bigram_val_loss"],
        "bigram (add-0.01)": result["bigram_val_loss_add_0.01"],
        "unigram": result["unigram_val_loss"],
        "model (step 0)": result["val_loss_step0"],
    }
    page.table([{"": k, "val loss (nats/token)": v} for k, v in losses.items()])
    page.text(f"Final model: {result['val_bits_per_char']:.3f} bits per character of validation text.")
    if result.get("tokens_per_second"):
        page.text(
            f"Training: {result['train_seconds']:.0f} s on one (shared) thread, {result['tokens_per_second']:.0f} tokens/s."
        )
    page.figure(experiment_figures.baseline_bars(losses, unit="nats per token"))
    page.figure(
        training_figures.training_curves(metrics, bigram_val_loss=result["bigram_val_loss"]),
        caption="Training loss and validation loss (4 fixed batches) during training.",
    )
    page.heading("Samples")
    page.text("Top-k off, the same seed at each temperature. Line breaks shown as ⏎.")
    page.table(
        [
            {"prompt": p, "temperature": float(t), "sample": s.replace("\n", " ⏎ ")}
            for p, by_t in result["samples"].items()
            for t, s in by_t.items()
        ],
        digits=1,
    )
    page.write(page_path)


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Train an ARENA-1.1-style GPT-2 (scaled to a CPU) on offline prose and report loss, speed and samples."
    )
    parser.add_argument("--out", type=Path, default=Path("models/runs/gpt2-from-scratch"))
    parser.add_argument("--steps", type=int, default=None, help="override epochs * max_steps_per_epoch (default 1000)")
    parser.add_argument("--max-documents", type=int, default=300, help="prose documents (300: ~0.8 M characters, ~12k GPT-2 ids)")
    parser.add_argument("--no-train", action="store_true", help="analyse the run in --out as it is")
    parser.add_argument("--tokens", type=int, default=80, help="tokens to sample per prompt and temperature")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--results", type=Path, default=Path("analyses/results/gpt2_from_scratch.json"))
    parser.add_argument("--page", type=Path, default=Path("reports/gpt2_from_scratch.html"))
    cli = parser.parse_args()

    cfg, args = TransformerConfig(), TransformerTrainingArgs()
    if cli.steps is not None:
        args = dataclasses.replace(args, epochs=1, max_steps_per_epoch=cli.steps)
    seconds = speed = None
    if not cli.no_train:
        run = to_run_config(cfg, args, max_documents=cli.max_documents)
        started = time.perf_counter()
        trained = train(run, cli.out, cache_dir=CACHE)
        seconds, speed = time.perf_counter() - started, trained.tokens_per_second
    if cfg.debug:
        for shape in _param_shapes(list_checkpoints(cli.out)[-1]):
            print(shape)
    result = analyse(cli.out, n_tokens=cli.tokens, seed=cli.seed, train_seconds=seconds, tokens_per_second=speed)
    cli.results.parent.mkdir(parents=True, exist_ok=True)
    cli.results.write_text(json.dumps(result, indent=2) + "\n")
    metrics = [json.loads(line) for line in (cli.out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    render(result, metrics, cli.page)
    print(
        f"val loss {result['val_loss']:.3f} nats/token ({result['val_bits_per_char']:.3f} bits/char) vs bigram {result['bigram_val_loss']:.3f}, "
        f"unigram {result['unigram_val_loss']:.3f}; {speed or 0:.0f} tokens/s"
    )
    print(f"wrote {cli.results}, {cli.page}")
