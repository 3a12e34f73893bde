"""Issue 20's figures: direct logit attribution and the logit vs tuned lens on the demo and IOI runs, across training.

    python analyses/logit_findings.py [--runs models/runs/demo:induction models/runs/ioi:ioi]
                                      [--checkpoints log|all|STEPS] [--rows 1024] [--steps 250]
                                      [--out analyses/results/logit_findings.json] [--page reports/logit_findings.html]

For each RUN:TASK (a run missing here is reported as missing, not an error):
- DLA of the task's answer - distractor at the last checkpoint: how far the parts' sum is from the model's own logit
  difference, the top heads, and the same against TransformerLens 4.3's `direct_logit_attribution` (components,
  and heads without value-bias folding) on the same rows; then every chosen checkpoint (the head-by-step figure).
- Logit lens and tuned lens at the last checkpoint: KL(final || lens) per layer on held-out validation rows (the
  first half of --rows trains the tuned lens, the second half measures), the tuned lens's training time, the task
  answer's probability at its read position, and the logit lens against TransformerLens's `logit_lens`; then both
  lenses at every chosen checkpoint.
Prints the figures, writes them all to --out and a page with the plots to --page.
"""

import argparse
import json
import time
from pathlib import Path

import torch

import interp.tasks  # noqa: F401  registers the IOI data source, so an IOI run's validation rows can be rebuilt
from interp.analysis.core.eval_tokens import evaluation_tokens
from interp.analysis.edges.timeline import select_checkpoints
from interp.analysis.lens.metrics import lens_metrics, lens_targets
from interp.analysis.lens.reference import reference_lens
from interp.analysis.lens.series import lens_series
from interp.analysis.lens.training import split_rows, train_tuned_lens
from interp.analysis.logit_attribution.decompose import direct_logit_attribution
from interp.analysis.logit_attribution.directions import task_direction
from interp.analysis.logit_attribution.reference import reference_attribution
from interp.analysis.logit_attribution.series import attribution_series
from interp.report import dla_figures, lens_figures
from interp.report.html import Page
from interp.tasks.for_run import task_for_run
from interp.train.checkpoints import list_checkpoints, load_model

CACHE = Path("models/cache")


def _round(values) -> list:
    return [round(float(v), 4) for v in values]


def dla_figures_of(run: Path, task_name: str, checkpoints: str, page: Page) -> dict:
    every = list_checkpoints(run)
    last = every[-1]
    task = task_for_run(task_name, last, n=64, seed=0)
    direction = task_direction(task)
    model = load_model(last)
    started = time.perf_counter()
    result = direct_logit_attribution(model, task.clean, direction, position_labels=task.position_labels)
    seconds = time.perf_counter() - started
    _, tl_components = reference_attribution(model, task.clean, direction, unit="component")
    _, tl_heads = reference_attribution(model, task.clean, direction, unit="head", fold_value_biases=False)
    chosen = select_checkpoints(every, checkpoints)
    started = time.perf_counter()
    series = attribution_series(chosen, task)
    series_seconds = time.perf_counter() - started
    value, value_sem = result.mean_sem("logit_value")
    figures = {
        "step": last.step,
        "rows": result.n_rows,
        "logit_value": round(float(value), 4),
        "logit_value_sem": round(float(value_sem), 4),
        "max_sum_error": result.error,
        "series_max_sum_error": float(series.max_error.max()),
        "max_abs_diff_vs_transformer_lens_components": float((tl_components - result.components.T.float()).abs().max()),
        "max_abs_diff_vs_transformer_lens_heads": float((tl_heads[:-1] - result.heads.flatten(1).T.float()).abs().max()),
        "top_heads": [{"head": h, "mean": round(m, 4), "sem": round(s, 4)} for h, m, s in result.top_heads(6)],
        "components": [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()} for row in result.component_rows()
        ],
        "seconds_one_checkpoint": round(seconds, 3),
        "series_steps": list(series.steps),
        "series_seconds": round(series_seconds, 2),
        "series_logit_value": _round(series.logit_value),
    }
    print(
        f"{run.name} DLA step {last.step}: value {float(value):.3f} ± {float(value_sem):.3f}, parts sum error {result.error:.1e} "
        f"(series {figures['series_max_sum_error']:.1e}); vs TransformerLens: components "
        f"{figures['max_abs_diff_vs_transformer_lens_components']:.1e}, heads {figures['max_abs_diff_vs_transformer_lens_heads']:.1e}"
    )
    print("  top heads: " + ", ".join(f"{r['head']} {r['mean']:+.3f} ± {r['sem']:.3f}" for r in figures["top_heads"]))
    page.heading(f"{run.name}: direct logit attribution ({task_name})")
    page.text(
        f"Step {last.step}, {result.n_rows} prompts: logit difference {float(value):.3f} ± {float(value_sem):.3f}; the parts "
        f"sum to the model's value within {result.error:.1e}; TransformerLens 4.3's DLA agrees within "
        f"{figures['max_abs_diff_vs_transformer_lens_components']:.1e} (components) and "
        f"{figures['max_abs_diff_vs_transformer_lens_heads']:.1e} (heads)."
    )
    page.figure(dla_figures.component_bars(result))
    page.figure(dla_figures.head_heatmap(result))
    page.figure(dla_figures.source_heatmap(result))
    page.figure(dla_figures.head_curves(series), caption=f"{len(series.steps)} checkpoints in {series_seconds:.1f} s.")
    return figures


def lens_figures_of(run: Path, task_name: str, checkpoints: str, rows: int, steps: int, page: Page) -> dict:
    every = list_checkpoints(run)
    last = every[-1]
    tokens, source = evaluation_tokens(last, n_rows=rows, cache_dir=CACHE)
    train, test = split_rows(tokens)
    model = load_model(last)
    lens, record = train_tuned_lens(model, train, steps=steps)
    logit, tuned = lens_metrics(model, test), lens_metrics(model, test, lens=lens, heads=False)
    reference = reference_lens(model, test[:64])
    ours = lens_metrics(model, test[:64], heads=False)
    task = task_for_run(task_name, last, n=64, seed=0)
    targets = lens_targets(task.clean, task)
    on_task = {
        name: lens_metrics(model, task.clean, lens=which, targets=targets, read_positions=task.metric.positions, heads=False)
        for name, which in (("logit", None), ("tuned", lens))
    }
    chosen = select_checkpoints(every, checkpoints)
    started = time.perf_counter()
    series, _ = lens_series(chosen, train, test, steps=steps)
    series_seconds = time.perf_counter() - started
    figures = {
        "step": last.step,
        "source": source,
        "train_rows": len(train),
        "test_rows": len(test),
        "layers": list(logit.labels),
        "kl_logit": _round(logit.per_layer("kl")[0]),
        "kl_logit_sem": _round(logit.per_layer("kl")[1]),
        "kl_tuned": _round(tuned.per_layer("kl")[0]),
        "kl_tuned_sem": _round(tuned.per_layer("kl")[1]),
        "next_token_top1_logit": _round(logit.per_layer("top1")[0]),
        "next_token_top1_tuned": _round(tuned.per_layer("top1")[0]),
        "answer_prob_at_read_logit": _round(on_task["logit"].per_layer("prob", at_read=True)[0]),
        "answer_prob_at_read_tuned": _round(on_task["tuned"].per_layer("prob", at_read=True)[0]),
        "tuned_lens_training_seconds": round(record.seconds, 2),
        "tuned_lens_training": {"steps": record.steps, "batch_size": record.batch_size, "lr": record.lr},
        "max_abs_diff_vs_transformer_lens_prob": float((ours.prob[:, :, :-1] - reference["prob"][:, :, :-1]).abs().max()),
        "max_abs_diff_vs_transformer_lens_kl": float((ours.kl - reference["kl"].clamp(min=0)).abs().max()),
        "series_steps": list(series.steps),
        "series_kl_logit": [_round(row) for row in series.kl_logit],
        "series_kl_tuned": [_round(row) for row in series.kl_tuned],
        "series_training_seconds": _round(series.train_seconds),
        "series_seconds": round(series_seconds, 2),
    }
    print(
        f"{run.name} lenses step {last.step} ({len(test)} held-out rows): KL logit {figures['kl_logit']} tuned {figures['kl_tuned']}; "
        f"tuned lens trained in {record.seconds:.1f} s ({steps} steps on {len(train)} rows); vs TransformerLens logit_lens: "
        f"prob {figures['max_abs_diff_vs_transformer_lens_prob']:.1e}, KL {figures['max_abs_diff_vs_transformer_lens_kl']:.1e}"
    )
    page.heading(f"{run.name}: logit lens and tuned lens")
    page.text(
        f"Step {last.step}; tuned lens trained in {record.seconds:.1f} s on {len(train)} rows of {source}, measured on {len(test)} "
        "held-out rows."
    )
    page.figure(lens_figures.kl_by_layer(logit, tuned))
    page.figure(lens_figures.by_layer(on_task["logit"], on_task["tuned"], name="prob", at_read=True))
    page.figure(lens_figures.kl_heatmap(logit))
    page.figure(lens_figures.head_heatmap(logit, name="prob"))
    page.figure(lens_figures.kl_series(series), caption=f"{len(series.steps)} checkpoints in {series_seconds:.1f} s.")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", default=["models/runs/demo:induction", "models/runs/ioi:ioi"])
    parser.add_argument("--checkpoints", default="log")
    parser.add_argument("--rows", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--out", type=Path, default=Path("analyses/results/logit_findings.json"))
    parser.add_argument("--page", type=Path, default=Path("reports/logit_findings.html"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    page = Page("Direct logit attribution and lenses across training", subtitle=" ".join(args.runs))
    results = {}
    for spec in args.runs:
        run, _, task_name = spec.partition(":")
        run = Path(run)
        if not (run / "checkpoints").is_dir():
            print(f"{run}: missing (train it first); its figures are left out")
            results[str(run)] = {"missing": True}
            continue
        results[str(run)] = {
            "task": task_name,
            "dla": dla_figures_of(run, task_name, args.checkpoints, page),
            "lens": lens_figures_of(run, task_name, args.checkpoints, args.rows, args.steps, page),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out} and {page.write(args.page)}")


if __name__ == "__main__":
    main()
