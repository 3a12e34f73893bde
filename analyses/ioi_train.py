# %% [markdown]
# # Training a model that does IOI, from scratch
#
# Trains a preset on generated IOI sentences (`data.corpus = "ioi"`, see interp/data/ioi.py) and evaluates
# every checkpoint on fresh prompts of four splits — training names and templates, held-out names, held-out
# templates, both held out — with ABBA and BABA orders reported separately. Learning is a sudden jump after
# a flat stretch and depends on the seed (DESIGN.md), so train several seeds and keep the one that worked:
#
#     python analyses/ioi_train.py                                # the preset's seed -> models/runs/ioi-attn-only-3l-seed4
#     python analyses/ioi_train.py --seed 1 --set train.steps=5000
#     python analyses/ioi_train.py --preset ioi-2l-mlp --seed 0
#     python analyses/ioi_train.py --summary models/runs/ioi-*    # table of the final scores of several runs
#
# Each run directory gets ioi_eval.jsonl (scores per checkpoint) and ioi_eval.json (final scores, wall time).
# "Passed" means logit diff > 2 and accuracy (IO beats S) > 90% on every split and both orders, 256 prompts each.
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

# %%
import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from interp.analysis.ioi_eval import evaluate_ioi, format_scores, select_checkpoint
from interp.checkpoints import list_checkpoints, load_model
from interp.data.ioi import HALVES, IOISetup, ioi_corpus
from interp.presets import parse_override, run_config
from interp.train.loop import train

TARGET_LOGIT_DIFF, TARGET_ACCURACY = 2.0, 0.9


def passed(scores: dict) -> bool:
    """Every split and both orders above the targets (logit diff > 2, IO beats S in > 90% of prompts)."""
    return all(r["logit_diff"] > TARGET_LOGIT_DIFF and r["accuracy"] > TARGET_ACCURACY for split in scores.values() for r in split.values())


def score_checkpoint(model, corpus, n_eval: int) -> dict:
    """Scores on all held-out prompts (as reported before this split existed), and on each half of them."""
    return {"scores": evaluate_ioi(model, corpus, n=n_eval), **{half: evaluate_ioi(model, corpus, n=n_eval, half=half) for half in HALVES}}


def finish(out: Path, records: list[dict], header: dict) -> dict:
    """ioi_eval.json: the final checkpoint's scores, and the checkpoint chosen on the validation half with its
    scores on the test half (never used for the choice)."""
    final, chosen = records[-1], select_checkpoint(records)
    summary = {
        **header, "passed": passed(final["scores"]), "scores": final["scores"],
        "first_step_passing": next((r["step"] for r in records if passed(r["scores"])), None),
        "selected_step": chosen["step"], "selected_validation": chosen["validation"], "selected_test": chosen["test"],
        "selected_passed": passed(chosen["test"]),
    }
    (out / "ioi_eval.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def train_seed(preset: str, seed: int, out: Path, overrides: dict, n_eval: int = 256) -> dict:
    run = run_config(preset, overrides={"model.seed": seed, "train.seed": seed, "train.threads": 1, **overrides})
    corpus = ioi_corpus(IOISetup())
    log = out / "ioi_eval.jsonl"
    started = time.perf_counter()
    records: list[dict] = []

    def on_checkpoint(ckpt) -> None:
        record = {"step": ckpt.step, "seconds": time.perf_counter() - started, "val": ckpt.metrics.get("val"), **score_checkpoint(load_model(ckpt), corpus, n_eval)}
        records.append(record)
        with open(log, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        both = record["scores"]["both"]
        print(f"step {ckpt.step:5d}  {record['seconds']:6.0f}s  val {record['val'] or 0:.3f}  held-out both: "
              f"ABBA {both['ABBA']['logit_diff']:+.2f}/{both['ABBA']['accuracy']:.0%}  BABA {both['BABA']['logit_diff']:+.2f}/{both['BABA']['accuracy']:.0%}", flush=True)

    out.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    result = train(run, out, cache_dir=Path("models/cache"), progress=False, on_checkpoint=on_checkpoint)
    header = {
        "preset": preset, "seed": seed, "overrides": overrides, "steps": run.train.steps, "ioi_setup": dataclasses.asdict(IOISetup()),
        "seconds": time.perf_counter() - started, "tokens_per_second": result.tokens_per_second,
    }
    return finish(out, records, header)


def rescore(run_dir: Path, n_eval: int = 256) -> dict:
    """Score every checkpoint of a finished run again (e.g. after an evaluation change), without retraining."""
    corpus = ioi_corpus(IOISetup())
    records = [{"step": c.step, "val": c.metrics.get("val"), **score_checkpoint(load_model(c), corpus, n_eval)} for c in list_checkpoints(run_dir)]
    (run_dir / "ioi_eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    old = json.loads((run_dir / "ioi_eval.json").read_text()) if (run_dir / "ioi_eval.json").exists() else {}
    header = {k: old[k] for k in ("preset", "seed", "overrides", "steps", "ioi_setup", "seconds", "tokens_per_second") if k in old}
    return finish(run_dir, records, header)


def summarise(run_dirs: list[Path]) -> list[dict]:
    rows = []
    for run_dir in run_dirs:
        path = run_dir / "ioi_eval.json"
        if not path.exists():
            print(f"{run_dir}: no ioi_eval.json (still training?)")
            continue
        s = json.loads(path.read_text())
        rows.append({"run": run_dir.name, **s})
        print(f"{run_dir.name}: seed {s['seed']} {'PASSED' if s['passed'] else 'failed'} at the last step in {s['seconds']:.0f}s "
              f"(first passing checkpoint: step {s['first_step_passing']})")
        for line in format_scores(s["scores"]):
            print("   " + line)
        if "selected_step" in s:
            print(f"   chosen on the validation half: step {s['selected_step']}; on the test half it "
                  f"{'PASSES' if s['selected_passed'] else 'fails'}:")
            for line in format_scores(s["selected_test"]):
                print("   " + line)
    return rows


# %%
if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="ioi-attn-only-3l")
    parser.add_argument("--seed", type=int, default=None, help="weight and data seed (default: the preset's train.seed)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--set", action="append", default=[], help="extra override, e.g. train.steps=6000")
    parser.add_argument("--summary", nargs="*", type=Path, default=None, help="summarise these run directories instead")
    parser.add_argument("--rescore", nargs="*", type=Path, default=None, help="score every checkpoint of these finished runs again")
    args = parser.parse_args()
    if args.rescore is not None:
        for run_dir in args.rescore:
            rescore(run_dir)
        args.summary = args.rescore
    if args.summary is not None:
        summarise(args.summary)
        sys.exit(0)
    seed = run_config(args.preset).train.seed if args.seed is None else args.seed
    out = args.out or Path("models/runs") / f"{args.preset}-seed{seed}"
    summary = train_seed(args.preset, seed, out, dict(parse_override(s) for s in args.set))
    summarise([out])
