# %% [markdown]
# # Training a model that does IOI, from scratch
#
# Trains a preset on generated IOI sentences (`data.corpus = "ioi"`, see interp/tasks/ioi/prompts.py) and evaluates
# every checkpoint on fresh prompts of four splits — training names and templates, held-out names, held-out
# templates, both held out — with ABBA and BABA orders reported separately. Learning is a sudden jump after
# a flat stretch and depends on the seed (DESIGN.md), so train several seeds and choose among them:
#
#     python analyses/ioi_train.py                                # the preset's seed -> models/runs/ioi-attn-only-4l-seed4
#     python analyses/ioi_train.py --preset ioi-2l-mlp --seed 1
#     python analyses/ioi_train.py --extend models/runs/ioi-2l-mlp-seed1 --set train.steps=20000   # train it for longer
#     python analyses/ioi_train.py --summary models/runs/ioi-*    # the final scores of several runs
#     python analyses/ioi_train.py --choose models/runs/ioi-2l-*  # choose on the validation half, report the test half
#     python analyses/ioi_train.py --rescore RUN... [--last-only] # score finished runs again
#
# Protocol. The held-out names and templates are split into a validation half and a test half. A run is judged
# at its last checkpoint (a fixed training budget), on 1024 prompts per split, order-balanced, for all held-out
# prompts and for each half. Runs (presets, seeds, budgets) are compared on the validation half alone — the
# worst accuracy over held-out splits and name orders — and the chosen run is reported on the test half.
# "Passed" means logit diff > 2 and accuracy (IO beats S) > 90% on every split and both orders.
# Picking the best of many checkpoints by validation (tried first, with 256 prompts) chose lucky checkpoints
# that did worse on the test half, hence the last checkpoint.
#
# Each run directory gets ioi_eval.jsonl (scores per checkpoint) and ioi_eval.json (the last checkpoint's scores).
#
# Seeds tried (one thread each, two at a time, on 2 cores shared with other jobs; scores: logit diff / accuracy,
# held-out names | held-out templates | both held out, at the last step):
#   recipe 1 (30% filler, half of its names held out), 4000 steps, ~22 min each:
#     seed 0  never left chance
#     seed 1  jump at ~1000 steps; 3.64/84% | 8.94/98% | 3.06/81%
#     seed 2  (6000 steps) jump at ~4500; 1.73/80% | 5.49/97% | 1.55/75%
#   recipe 2 (40% filler, 80% of its names held out), 5000 steps, ~18 min each:
#     seed 1  jump at ~1000; 3.98/85% | 9.01/98% | 2.82/80%
#     seed 3  never left chance
#   recipe 3 (the current one: recipe 2 with half the filler IOI-shaped, one name and a non-name person):
#     seed 1  (5000 steps) jump at ~900; 3.09/88% | 9.71/100% | 1.69/75%
#     seed 4  (5000 steps) jump at ~1500; 4.01/91% | 7.02/97% | 3.73/89%
#     seed 4  (10000 steps, the preset; identical to the 5000-step run up to step 5000), 25 min:
#             4.20/97% | 6.69/96% | 3.58/89% (both held out: ABBA 84%, BABA 95%); every checkpoint from 4500 on has
#             logit diff > 2 on every split and order; step 9500 passes everything (2048 prompts: 97% | 98% | 96%)
#     seed 4  (10000 steps, cosine decay to 5% of lr), 36 min on a loaded machine: 3.58/96% | 7.16/93% | 2.93/89%
#             (held-out templates ABBA 86%): decaying the learning rate does not settle it above 90%
#   Checkpoint chosen on the validation half of the held-out names and templates (--rescore), reported on the
#   test half: seed 4 (the preset) -> step 8000, validation worst case 97%; test 3.96/96% | 7.62/89% | 3.77/87%,
#   fails: of the 6 held-out templates, 5 score >= 99% in both orders, but "Later, {N1} and {N2} walked to the
#   {PLACE}. {S} handed a {OBJECT} to {IO}" scores 40% in ABBA order — it is in the test half.
#   ioi-attn-only-4l (the 3-layer preset with 4 layers), seed 4, 10000 steps, 10.5 min on a quiet machine: PASSES at
#             the last step — 5.82/98% | 10.26/100% | 4.77/98%, every order >= 98% (first passing checkpoint 3981);
#             on the test half alone, worst case 93.8%. The checkpoint chosen on the validation half (step 6000,
#             validation worst case 96%) fails on the test half (both held out, ABBA 82%): choosing the maximum of a
#             noisy 128-prompt statistic picked a lucky checkpoint (the last one: validation 94.5%, test 93.8%).
#   ioi-2l-mlp, recipe 3, 6000 steps, 23 min:
#     seed 0  jump at ~3000; 3.18/88% | 9.20/97% | 1.29/66%: learns IOI on training names and held-out templates,
#             generalises worse to held-out names (BABA 84%) and fails when both are held out
#     seed 1  jump at ~1000, 15 min; 2.24/79% | 7.93/100% | 1.60/75%: the same picture
#     seed 0  (cosine decay to 5%, weight decay 0.1), 29 min: 2.48/90% | 8.60/100% | 1.56/75%: held-out names
#             stay the MLP model's weak point (BABA 86%, both held out BABA 65%)
#   narrower MLPs (quiet machine, 10000 steps unless said, ~8 min each):
#     d_mlp 128, seed 0, 6000 steps: 5.04/91% | 9.94/100% | 3.56/90% (names BABA 88%); test half passes (>= 93%),
#             validation half does not (names BABA 85%)
#     d_mlp 128, seed 0: 5.90/95% | 10.28/100% | 4.73/91% (both BABA 90%); first passing checkpoint 7000
#     d_mlp 128, seed 1: 4.77/96% | 10.25/100% | 3.62/89% (both BABA 84%)
#     d_mlp 64, seed 0 (the preset now): PASSES at the last step — 6.32/97% | 10.42/100% | 4.83/95% (worst: both
#             BABA 91%); on the test half held-out names BABA is 90% exactly, so it fails there by a hair
#     d_mlp 64, seed 1: 4.82/91% | 9.00/99% | 3.02/84% (both BABA 78%)
#     d_mlp 32, seed 0: 4.40/95% | 8.63/97% | 2.58/81% (both BABA 74%): narrower than 64 is worse again
#     d_mlp 64, seed 0, cosine decay: 4.27/94% | 10.24/100% | 3.10/84% (both BABA 78%)
#     d_mlp 64, seed 2: last step 7.79/95% | 11.13/97% | 6.80/90% (both BABA 85%); its validation-chosen step 8000
#             passes the test half (>= 95% everywhere) but has the lower validation score (86.7%)
#   Chosen across all MLP runs by the validation half alone (config, seed and checkpoint): d_mlp 128 seed 0 step
#   10000 (validation worst case 92.2%) -> test half worst case 89.8%: just under the goal. Validation and test
#   halves disagree by up to 10 points: 128 prompts per order and half is a noisy estimate.
#
# Since then (1024 prompts per split and half; worst accuracy over held-out splits and orders; "all" = all held-out
# prompts, then validation / test halves; L = last checkpoint, A = average of the last 20% of checkpoints):
#   2l-mlp d_mlp 64 seed 0, 20,000 steps    L 87.9% (val 85.2 / test 90.0)   A 96.3% (val 95.7 / test 95.9)
#   2l-mlp d_mlp 64 seed 1, 20,000 steps    L val 81.2                        longer training alone does not help
#   2l-mlp seed 0 / 1, 10,000 constant + 2,000 linear decay to 0 ("wsd"): val 80.1 / 88.5 (A 86.3 / -)
#   2l-mlp seed 0 with 200 / 600 extra training names (data.ioi_extra_names): val 85.5 / 70.7: more names do not help
#   4l-mlp (ioi-4l-mlp) seed 0                L 89.6% (val 92.0 / test 82.0)   A 86.3% (val 94.1 / test 78.3)
#   4l-mlp seed 1 (the preset)                L 90.2% (val 93.2 / test 94.9)   A 98.4% (val 98.8 / test 98.2)
#   4l-mlp seed 4                             L 61.1% (val 79.1 / test 48.2)   A 77.9% (val 86.1 / test 64.8)
#   4l-mlp seed 2 (trained after the choice)  L 87.1% (val 90.0 / test 87.9)   A 93.6% (val 92.8 / test 93.8)
#   4l-mlp seed 3 (trained after the choice)  L 91.0% (val 89.5 / test 80.1)   A 95.1% (val 95.1 / test 90.4)
#   3l-mlp seed 4                             L 89.3% (val 93.4 / test 87.1)   A 92.8% (val 93.0 / test 92.6)
#   attn-only-4l seed 4 (the preset)          L 94.5% (val 95.9 / test 93.0)   A 96.7% (val 96.5 / test 93.8)
#   attn-only-3l seed 4                       L 86.9% (val 91.2 / test 74.8)   A 88.1% (val 97.3 / test 77.5)
# Choosing on the validation half: by last checkpoint, attention-only -> 4l seed 4 (test 93.0%, passes), MLP ->
# 3l-mlp seed 4 (test 87.1%, fails); by average, attention-only -> 3l seed 4 (test 77.5%, fails: its bad template is
# in the test half, invisible to validation), MLP -> 4l-mlp seed 1 (test 98.2%, passes). The averaging rule was
# added after the last-checkpoint rule's MLP result was seen; both are reported. The 4-layer presets pass on the
# test half under both rules; choosing among runs on three validation templates is the weak link. Seeds 2 and 3
# of ioi-4l-mlp, trained afterwards to measure seed variation, leave both choices unchanged: averaged, 3 of the 5
# seeds pass on the test half (last checkpoint: 1 of 5).

# %%
import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from interp.core.config import apply_overrides
from interp.tasks.ioi.evaluation import choose_run, evaluate_ioi, format_scores, worst_heldout_accuracy
from interp.tasks.ioi.patching import ioi_model
from interp.tasks.ioi.prompts import HALVES
from interp.tasks.ioi.training_data import ioi_setup
from interp.train.averaging import save_average
from interp.train.checkpoints import list_checkpoints
from interp.train.config import RunConfig
from interp.train.loop import read_run_config, train
from interp.train.presets import parse_override, run_config

TARGET_LOGIT_DIFF, TARGET_ACCURACY = 2.0, 0.9
N_EVAL = 1024  # prompts per split (and per half): a standard error of about 1.2 points per name order at 92%
AVERAGE_FRACTION = 0.2  # the checkpoint average covers the last 20% of training


def passed(scores: dict) -> bool:
    """Every split and both orders above the targets (logit diff > 2, IO beats S in > 90% of prompts)."""
    return all(
        r["logit_diff"] > TARGET_LOGIT_DIFF and r["accuracy"] > TARGET_ACCURACY
        for split in scores.values()
        for r in split.values()
    )


def score_checkpoint(model, corpus, n_eval: int) -> dict:
    """Scores on all held-out prompts (as reported before this split existed), and on each half of them."""
    return {
        "scores": evaluate_ioi(model, corpus, n=n_eval),
        **{half: evaluate_ioi(model, corpus, n=n_eval, half=half) for half in HALVES},
    }


def finish(out: Path, records: list[dict], header: dict) -> dict:
    """ioi_eval.json: the last checkpoint's scores on all held-out prompts and on each half. Runs are judged at
    the end of their fixed training budget; choosing among runs uses the validation half only (`--choose`)."""
    final = records[-1]
    summary = {
        **header,
        "step": final["step"],
        "n_eval": header.get("n_eval"),
        "passed": passed(final["scores"]),
        "passed_test": passed(final["test"]),
        "validation_worst": worst_heldout_accuracy(final["validation"]),
        "first_step_passing": next((r["step"] for r in records if passed(r["scores"])), None),
        "scores": final["scores"],
        "validation": final["validation"],
        "test": final["test"],
    }
    (out / "ioi_eval.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def train_seed(preset: str, seed: int, out: Path, overrides: dict, n_eval: int = N_EVAL) -> dict:
    run = run_config(preset, overrides={"model.seed": seed, "train.seed": seed, "train.threads": 1, **overrides})
    header = {"preset": preset, "seed": seed, "overrides": overrides, "ioi_setup": dataclasses.asdict(ioi_setup(run.data))}
    if (out / "checkpoints").exists():  # before anything is written: the run's scores stay as they are
        raise SystemExit(
            f"{out} holds a trained run; continue it with --extend {out} --set train.steps=N, or choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "ioi_eval.jsonl").write_text("")
    return train_and_score(run, out, header, n_eval)


def extend(run_dir: Path, overrides: dict, n_eval: int = N_EVAL) -> dict:
    """Train a finished run for longer or give it a final decay (`interp train --resume --set train.steps=N`;
    exactly the run the new config trains from the start, interp.train.extend), scoring the new checkpoints."""
    longer = RunConfig.from_dict(apply_overrides(read_run_config(run_dir).to_dict(), overrides))
    old = json.loads((run_dir / "ioi_eval.json").read_text())
    header = {k: old[k] for k in ("preset", "seed", "ioi_setup") if k in old} | {
        "overrides": {**old.get("overrides", {}), **overrides}
    }
    return train_and_score(longer, run_dir, header, n_eval, resume=True, seconds_before=old.get("seconds", 0.0))


def train_and_score(run, out: Path, header: dict, n_eval: int, *, resume: bool = False, seconds_before: float = 0.0) -> dict:
    """Train (or resume) `run` in `out`, scoring every checkpoint into ioi_eval.jsonl; then write ioi_eval.json."""
    log = out / "ioi_eval.jsonl"
    started = time.perf_counter()

    def on_checkpoint(ckpt) -> None:
        record = {
            "step": ckpt.step,
            "seconds": seconds_before + time.perf_counter() - started,
            "val": ckpt.metrics.get("val"),
            "n_eval": n_eval,
            **score_checkpoint(*ioi_model(ckpt), n_eval),
        }
        with open(log, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        both = record["scores"]["both"]
        print(
            f"step {ckpt.step:5d}  {record['seconds']:6.0f}s  val {record['val'] or 0:.3f}  held-out both: "
            f"ABBA {both['ABBA']['logit_diff']:+.2f}/{both['ABBA']['accuracy']:.0%}  BABA {both['BABA']['logit_diff']:+.2f}/{both['BABA']['accuracy']:.0%}",
            flush=True,
        )

    result = train(run, out, resume=resume, cache_dir=Path("models/cache"), progress=False, on_checkpoint=on_checkpoint)
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    header = {
        **header,
        "steps": run.train.steps,
        "seconds": seconds_before + time.perf_counter() - started,
        "tokens_per_second": result.tokens_per_second,
        "n_eval": n_eval,
    }
    return finish(out, records, header)


def rescore(run_dir: Path, n_eval: int = N_EVAL, *, last_only: bool = False) -> dict:
    """Score the checkpoints of a finished run again (e.g. with more prompts), without retraining; `last_only`
    scores just the last one (then the first passing step is unknown)."""
    checkpoints = list_checkpoints(run_dir)[-1:] if last_only else list_checkpoints(run_dir)
    records = [{"step": c.step, "val": c.metrics.get("val"), **score_checkpoint(*ioi_model(c), n_eval)} for c in checkpoints]
    if not last_only:
        (run_dir / "ioi_eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    old = json.loads((run_dir / "ioi_eval.json").read_text()) if (run_dir / "ioi_eval.json").exists() else {}
    header = {
        k: old[k] for k in ("preset", "seed", "overrides", "steps", "ioi_setup", "seconds", "tokens_per_second") if k in old
    } | {"n_eval": n_eval}
    summary = finish(run_dir, records, header) | {
        k: old[k] for k in ("average",) if k in old
    }  # same checkpoints: the average stands
    if last_only:
        summary["first_step_passing"] = None  # earlier checkpoints were not scored again
    (run_dir / "ioi_eval.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def score_average(run_dir: Path, fraction: float = AVERAGE_FRACTION, n_eval: int = N_EVAL) -> dict:
    """Average the checkpoints of the last `fraction` of training (interp.train.averaging; saved as
    RUN/average-last-<pct>pct) and add its scores to ioi_eval.json under "average"."""
    ckpt = save_average(run_dir, fraction)
    scores = score_checkpoint(*ioi_model(ckpt), n_eval)
    block = {
        "fraction": fraction,
        "from_step": int(ckpt.metrics["averaged_from_step"]),
        "checkpoints": int(ckpt.metrics["averaged_checkpoints"]),
        "n_eval": n_eval,
        "passed": passed(scores["scores"]),
        "passed_test": passed(scores["test"]),
        "validation_worst": worst_heldout_accuracy(scores["validation"]),
        **scores,
    }
    summary = json.loads((run_dir / "ioi_eval.json").read_text()) | {"average": block}
    (run_dir / "ioi_eval.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def load_summary(run_dir: Path) -> dict | None:
    path = run_dir / "ioi_eval.json"
    if not path.exists():
        print(f"{run_dir}: no ioi_eval.json (still training?)")
        return None
    summary = json.loads(path.read_text())
    if "validation" not in summary:
        print(f"{run_dir}: ioi_eval.json predates the validation/test halves; rescore it with --rescore {run_dir}")
        return None
    return {"run": run_dir.name, **summary}


def summarise(run_dirs: list[Path]) -> list[dict]:
    rows = [s for s in map(load_summary, run_dirs) if s is not None]
    for s in rows:
        print(
            f"{s['run']}: seed {s['seed']}, last step {s['step']}, {s['n_eval']} prompts per split and half: "
            f"{'PASSED' if s['passed'] else 'failed'} on all held-out prompts (first passing checkpoint: {s['first_step_passing'] or 'none scored'}); "
            f"validation half worst case {s['validation_worst']:.1%}"
        )
        for line in format_scores(s["scores"]):
            print("   " + line)
    return rows


def choose(run_dirs: list[Path], by: str = "last") -> dict:
    """The run with the best worst-case validation accuracy — of its last checkpoint (`by="last"`) or of its
    checkpoint average (`by="average"`) — reported on the test half."""
    rows = [s for s in map(load_summary, run_dirs) if s is not None]
    if by == "average":
        missing = [s["run"] for s in rows if "average" not in s]
        if missing:
            raise SystemExit(f"no checkpoint average scored for {', '.join(missing)}; run --average on them first")
        rows = [{"run": s["run"], **s["average"]} for s in rows]
    for s in sorted(rows, key=lambda s: -s["validation_worst"]):
        print(f"{s['run']:40s} validation worst case {s['validation_worst']:.1%}")
    best = choose_run(rows)
    print(
        f"chosen on the validation half ({by}): {best['run']}; on the test half it {'PASSES' if best['passed_test'] else 'fails'} "
        f"(worst case {worst_heldout_accuracy(best['test']):.1%}):"
    )
    for line in format_scores(best["test"]):
        print("   " + line)
    return best


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="ioi-attn-only-4l")
    parser.add_argument("--seed", type=int, default=None, help="weight and data seed (default: the preset's train.seed)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], help="extra override, e.g. train.steps=6000")
    parser.add_argument("--summary", nargs="*", type=Path, default=None, help="summarise these run directories instead")
    parser.add_argument(
        "--rescore", nargs="*", type=Path, default=None, help="score every checkpoint of these finished runs again"
    )
    parser.add_argument(
        "--choose",
        nargs="*",
        type=Path,
        default=None,
        help="choose among these runs on the validation half; report the test half",
    )
    parser.add_argument(
        "--by",
        choices=("last", "average"),
        default="last",
        help="with --choose: judge each run by its last checkpoint or its checkpoint average",
    )
    parser.add_argument(
        "--average", nargs="*", type=Path, default=None, help="score the average of these runs' last 20%% of checkpoints"
    )
    parser.add_argument("--n-eval", type=int, default=N_EVAL, help="prompts per split and half")
    parser.add_argument("--last-only", action="store_true", help="with --rescore: score only the last checkpoint")
    parser.add_argument(
        "--extend", type=Path, default=None, help="continue this finished run with --set train.steps=N (and a schedule)"
    )
    args = parser.parse_args()
    if args.rescore is not None:
        for run_dir in args.rescore:
            rescore(run_dir, args.n_eval, last_only=args.last_only)
        args.summary = args.rescore
    if args.extend is not None:
        if not args.set:
            parser.error("--extend needs the new budget, e.g. --set train.steps=20000 (and optionally a 'wsd' decay)")
        extend(args.extend, dict(parse_override(s) for s in args.set), args.n_eval)
        args.summary = [args.extend]
    if args.average is not None:
        for run_dir in args.average:
            block = score_average(run_dir, n_eval=args.n_eval)["average"]
            print(
                f"{run_dir.name}: average of {block['checkpoints']} checkpoints from step {block['from_step']}: validation worst case {block['validation_worst']:.1%}"
            )
    if args.choose is not None:
        choose(args.choose, args.by)
    if any(v is not None for v in (args.rescore, args.extend, args.average, args.choose, args.summary)):
        if args.summary is not None:
            summarise(args.summary)
        sys.exit(0)
    seed = run_config(args.preset).train.seed if args.seed is None else args.seed
    out = args.out or Path("models/runs") / f"{args.preset}-seed{seed}"
    train_seed(args.preset, seed, out, dict(parse_override(s) for s in args.set), args.n_eval)
    summarise([out])
