# %% [markdown]
# # A learning-rate x width sweep of the attention-only 1-layer model
#
# Runs the spec analyses/sweeps/lr_width.toml (6 trials of 300 steps) on its Optuna study from Python — the same as
# `interp sweep analyses/sweeps/lr_width.toml` — then prints the ranked table and the best trial. Run it again (or at
# the same time in another terminal) and it takes only the trials still queued; interrupt it and the next run resumes
# the interrupted trial from its last checkpoint. Each trial is an ordinary run directory, so every analysis command
# works on it (e.g. `interp report models/runs/sweeps/lr_width/trials/<trial>`).
#
#     python analyses/sweep_example.py [SPEC] [--parallel N] [--threads N] [--wandb]

# %%
import dataclasses
import sys
import time
from pathlib import Path

from interp.report.sweep_figures import write_sweep_page
from interp.sweep.results import collect_results, format_table
from interp.sweep.runner import run_sweep
from interp.sweep.spec import SweepSpec
from interp.sweep.study import open_study
from interp.sweep.trials import check_trials


def option(name: str) -> int | None:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else None


args = [a for i, a in enumerate(sys.argv[1:], start=1) if not a.startswith("-") and not sys.argv[i - 1].startswith("--")]
spec = SweepSpec.from_toml(Path(args[0]) if args else Path("analyses/sweeps/lr_width.toml"))
spec = spec.with_options(parallel=option("--parallel"), wandb="--wandb" in sys.argv)
if option("--threads") is not None:  # e.g. --threads 1 on a shared machine (threads do not change a trial's identity)
    spec = dataclasses.replace(spec, fixed=(*spec.fixed, ("train.threads", option("--threads"))))

# %% The trials: every config is validated before anything trains; their states are the study's (read-only here)
held = {t.name: t.status for t in collect_results(spec, open_study(spec, create=False)).trials}
for trial in check_trials(spec):
    print(f"{trial.name:36s} {held.get(trial.name, 'new'):9s} lr {trial.run.train.lr:g}, d_model {trial.run.model.d_model}")

# %% Train (or skip) them, then the table
started = time.perf_counter()
outcome = run_sweep(spec, progress=False)
outcome.paths["html"] = write_sweep_page(outcome.results)
print(format_table(outcome.results))
print(f"sweep wall time {time.perf_counter() - started:.0f} s; wrote {', '.join(str(p) for p in outcome.paths.values())}")

# %% The best trial and how much the swept fields mattered
best = outcome.results.best
if best is not None:
    print(f"best: {best.name}, final {spec.metric} {best.score(spec.metric):.4f} after {best.final['tokens_seen']:,} tokens")
for series in outcome.results.axis_series():
    for label, points in series.lines:
        print(f"{series.axis} ({label}): " + ", ".join(f"{x}: {y:.3f}" for x, y, _ in points))
