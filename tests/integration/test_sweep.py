"""`interp sweep` on Optuna: spec parsing and checks, the grid and seeded random/TPE draws, end-to-end sweeps through
the CLI, several processes sharing one study, pruning, an interrupted trial resumed exactly, the spec-hash refusal,
failures, and the wandb path (with a fake wandb module; wandb is never required)."""

import csv
import dataclasses
import itertools
import json
import math
import multiprocessing
import os
import sys
import types
from pathlib import Path

import optuna
import pytest
from helpers.cli_run import run_cli, tree_digest
from safetensors.torch import load_file

from interp.sweep import runner
from interp.sweep.results import collect_results
from interp.sweep.runner import run_sweep
from interp.sweep.spec import SweepSpec
from interp.sweep.study import open_study, sampler, take_trial
from interp.sweep.trials import available_cores, check_trials, suggest_overrides, trial_name
from interp.train.checkpoints import list_checkpoints
from interp.train.loop import read_metrics

# The tiny run of tests/helpers/cli_run.py: synthetic repeated spans, a 1-layer 32-wide model, 12 steps (well under a second).
TINY = {
    "data.corpus": "none", "data.repeated_fraction": 1.0, "data.span_min": 2, "data.span_max": 6,
    "model.n_ctx": 16, "model.d_model": 32, "model.d_head": 8,
    "train.threads": 1, "train.batch_size": 4, "train.eval_batches": 1, "train.eval_every": 4,
    "train.n_checkpoints": 4, "train.steps": 12,
}  # fmt: skip


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def spec_text(sweep: dict, *, fixed: dict | None = None, **top) -> str:
    top = {"preset": "attn-only-1l", "metric": "val_repeated", **top}
    lines = [f"{key} = {toml_value(value)}" for key, value in top.items()]
    lines += ["[fixed]"] + [f"{json.dumps(k)} = {toml_value(v)}" for k, v in (TINY if fixed is None else fixed).items()]
    lines += ["[sweep]"] + [f"{json.dumps(k)} = {toml_value(v)}" for k, v in sweep.items()]
    return "\n".join(lines) + "\n"


def write_spec(tmp_path: Path, sweep: dict, name: str = "spec", fixed: dict | None = None, **top) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(spec_text(sweep, fixed=fixed, out=str(tmp_path / f"{name}-out"), **top))
    return path


def read_csv(path: Path) -> list[dict]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


def page_figures(html: str) -> list[dict]:
    """The plotly figures a report page draws (interp.report.html puts them in one JSON script element)."""
    start = html.index('<script type="application/json" id="interp-data">') + len(
        '<script type="application/json" id="interp-data">'
    )
    return json.loads(html[start : html.index("</script>", start)])["figures"]


def final_record(run_dir: Path) -> dict:
    return read_metrics(run_dir)[-1]


# --- the spec and its trials ---------------------------------------------------------------------------------


def test_grid_is_the_cartesian_product_and_every_trial_gets_its_values(tmp_path):
    lrs, seeds = [1e-3, 3e-3, 1e-2], [0, 1]
    widths = [{"model.d_model": 32, "model.d_head": 8}, {"model.d_model": 64, "model.d_head": 16}]
    fixed = {k: v for k, v in TINY.items() if k not in ("model.d_model", "model.d_head")}
    spec = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": lrs, "width": widths, "train.seed": seeds}, fixed=fixed))
    trials = check_trials(spec)
    expected = [{"train.lr": lr, **w, "train.seed": s} for lr, w, s in itertools.product(lrs, widths, seeds)]
    assert [t.overrides_dict for t in trials] == expected
    assert len({t.name for t in trials}) == 12
    assert trials[0].name == "lr=0.001,d_model=32,d_head=8,seed=0"
    for trial, wanted in zip(trials, expected):
        run = trial.run
        assert (run.train.lr, run.model.d_model, run.model.d_head, run.train.seed) == tuple(wanted.values())
        assert run.train.steps == 12 and run.data.corpus == "none" and run.model.n_layers == 1  # fixed + preset
    # the study queues each grid point once, with its parameters (a group by its option's label)
    study = open_study(spec, planned=trials)
    queued = [(t.state.name, t.user_attrs["trial"], t.system_attrs["fixed_params"]) for t in study.trials]
    assert [name for _, name, _ in queued] == [t.name for t in trials] and {s for s, _, _ in queued} == {"WAITING"}
    assert queued[0][2] == {"train.lr": 1e-3, "width": "d_model=32,d_head=8", "train.seed": 0}
    assert isinstance(study.sampler, optuna.samplers.GridSampler) and isinstance(study.pruner, optuna.pruners.MedianPruner)


def test_unquoted_dotted_keys_mean_the_same_as_quoted_ones(tmp_path):
    quoted = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [1e-3, 3e-3]}, name="a"))
    path = tmp_path / "b.toml"
    path.write_text(
        f'preset = "attn-only-1l"\nmetric = "val_repeated"\nout = "{tmp_path / "a-out"}"\n'
        "[fixed]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in TINY.items()) + "[sweep]\ntrain.lr = [1e-3, 3e-3]\n"
    )
    unquoted = SweepSpec.from_toml(path)
    assert dataclasses.replace(unquoted, name="a") == quoted
    assert unquoted.spec_hash == quoted.spec_hash


def test_threads_default_to_cores_divided_by_parallel_unless_fixed(tmp_path):
    fixed = {k: v for k, v in TINY.items() if k != "train.threads"}
    path = tmp_path / "s.toml"
    path.write_text(spec_text({"train.lr": [1e-3, 3e-3]}, fixed=fixed, parallel=3))
    spec = SweepSpec.from_toml(path)
    assert {t.run.train.threads for t in check_trials(spec, cores=8)} == {2}
    assert {t.run.train.threads for t in check_trials(spec, cores=2)} == {1}
    assert {t.run.train.threads for t in check_trials(spec.with_options(parallel=1), cores=8)} == {8}
    assert spec.with_options(parallel=1).spec_hash == spec.spec_hash  # how many at once is not part of the sweep
    fixed_spec = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [1e-3]}, parallel=3))
    assert {t.run.train.threads for t in check_trials(fixed_spec, cores=8)} == {1}


def draw(spec: SweepSpec, objective=lambda overrides: overrides["train.lr"]) -> list[dict]:
    """Run the spec's study with a stand-in objective instead of training: each trial's drawn fields, in order."""
    study = open_study(spec)
    drawn = []
    while (trial_id := take_trial(study)) is not None:
        study.sampler = sampler(spec, study._storage.get_trial_number_from_id(trial_id))
        trial = optuna.Trial(study, trial_id)
        drawn.append(suggest_overrides(trial, spec))
        study.tell(trial, objective(drawn[-1]))
    return drawn


@pytest.mark.parametrize("method", ["random", "tpe"])
def test_random_and_tpe_draws_are_reproducible_by_seed_and_stay_in_range(tmp_path, method):
    def spec(seed, out):
        return SweepSpec.from_dict(
            {"preset": "attn-only-1l", "method": method, "seed": seed, "n_trials": 8, "metric": "val_repeated",
             "fixed": {k: v for k, v in TINY.items() if k != "train.steps"}, "out": str(tmp_path / out),
             "sweep": {"train.lr": {"log_uniform": [1e-5, 1e-1]}, "train.steps": {"uniform": [5, 50]},
                       "model.normalization_type": ["LN", "RMS"]}},
            name="r",
        )  # fmt: skip

    a, again, other = draw(spec(0, "a")), draw(spec(0, "b")), draw(spec(1, "c"))
    assert a == again and a != other and len(a) == 8
    for overrides in a:
        lr, steps, norm = overrides["train.lr"], overrides["train.steps"], overrides["model.normalization_type"]
        assert isinstance(lr, float) and 1e-5 <= lr <= 1e-1 and lr == float(f"{lr:.4g}")  # 4 digits: the name is exact
        assert isinstance(steps, int) and 5 <= steps <= 50 and norm in ("LN", "RMS")
    if method == "random":  # log-uniform: the draws spread over the decades, not just the top one
        assert len({math.floor(math.log10(o["train.lr"])) for o in a}) >= 3
    else:  # after its random start-up trials TPE draws near the best (lowest lr) so far
        best = min(o["train.lr"] for o in a[:2])  # n_startup_trials = n_trials // 4
        assert sum(o["train.lr"] < 10 * best for o in a[2:]) >= len(a[2:]) // 2


BAD_SPECS = [
    ({"sweep": {}}, "[sweep] is empty"),
    ({"sweep": {"train.lrr": [1]}}, "'train.lrr' is not a config field"),
    ({"sweep": {"lr": [1e-3]}}, "'lr' must be section.field"),
    ({"sweep": {"train.lr": []}}, "[sweep] train.lr: give a non-empty list"),
    ({"sweep": {"train.lr": [1e-3, 1e-3]}}, "listed twice"),
    (
        {"sweep": {"train.lr": {"log_uniform": [1e-4, 1e-2]}}},
        "ranges ({log_uniform = [a, b]}) are for method = 'random' or 'tpe'",
    ),
    (
        {"method": "random", "n_trials": 2, "seed": 0, "sweep": {"train.lr": {"log_uniform": [0, 1e-2]}}},
        "log_uniform needs low > 0",
    ),
    ({"method": "tpe", "n_trials": 2, "seed": 0, "sweep": {"train.lr": {"uniform": [0.1, 0.01]}}}, "needs low < high"),
    ({"method": "random", "seed": 0, "sweep": {"train.lr": [1e-3]}}, "n_trials must be a positive integer"),
    ({"method": "tpe", "n_trials": 3, "sweep": {"train.lr": [1e-3]}}, "seed must be an integer >= 0 for method = 'tpe'"),
    ({"n_trials": 3, "sweep": {"train.lr": [1e-3]}}, "n_trials is for method = 'random' or 'tpe'"),
    ({"method": "bayes", "sweep": {"train.lr": [1e-3]}}, "method must be one of"),
    ({"parallel": 0, "sweep": {"train.lr": [1e-3]}}, "parallel must be a positive integer"),
    ({"goal": "lowest", "sweep": {"train.lr": [1e-3]}}, "goal must be one of"),
    ({"sweep": {"train.steps": [5]}}, "train.steps: in both [fixed] and [sweep]"),
    ({"sweep": {"train.lr": [1e-3]}, "epochs": 3}, "unknown sweep spec key(s) epochs"),
    ({"sweep": {"width": [{"model.d_model": 32}, {"model.d_modle": 64}]}}, "'model.d_modle' is not a config field"),
    ({"sweep": {"train.lr": [1e-3, 2.0]}}, "trial train.lr=2.0: train.lr must be in (0, 1)"),
    (
        {"method": "random", "n_trials": 2, "seed": 0, "sweep": {"train.lr": {"uniform": [1e-3, 2.0]}}},
        "trial train.lr=2.0: train.lr must be in (0, 1)",
    ),
    ({"sweep": {"model.n_heads": [4, 3]}}, "trial model.n_heads=3: d_model (32) must equal n_heads * d_head (3 * 8 = 24)"),
    ({"metric": "val", "sweep": {"train.lr": [1e-3]}}, "does not log metric 'val' (it logs train_loss, lr, val_repeated)"),
    ({"preset": "nope", "sweep": {"train.lr": [1e-3]}}, "unknown preset 'nope'"),
    ({"pruner": "hyperband", "sweep": {"train.lr": [1e-3]}}, "pruner type must be one of none, median, successive-halving"),
    ({"pruner": {"type": "median", "n_warmup": 3}, "sweep": {"train.lr": [1e-3]}}, "n_warmup: not a parameter of the median"),
    (
        {"pruner": {"type": "median", "n_startup_trials": -1}, "sweep": {"train.lr": [1e-3]}},
        "n_startup_trials must be an integer >= 0",
    ),
    ({"storage": "study.db", "sweep": {"train.lr": [1e-3]}}, "storage must be an Optuna storage URL"),
    ({"heartbeat": 0, "sweep": {"train.lr": [1e-3]}}, "heartbeat must be a positive number"),
]


@pytest.mark.parametrize("changes, message", BAD_SPECS, ids=[m[:30] for _, m in BAD_SPECS])
def test_bad_specs_are_one_line_errors_on_the_command_line_and_nothing_starts(tmp_path, changes, message):
    changes = dict(changes)
    sweep = changes.pop("sweep")
    path = tmp_path / "bad.toml"
    path.write_text(spec_text(sweep, out=str(tmp_path / "out"), **changes))
    code, out, err = run_cli("sweep", path, "--no-progress")
    assert code == 2, (out, err)
    assert err.startswith("error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_invalid_toml_is_a_one_line_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("preset = \n")
    code, _, err = run_cli("sweep", path)
    assert code == 2 and "is not valid TOML" in err and len(err.strip().splitlines()) == 1


# --- sweeps end to end ------------------------------------------------------------------------------------------


def figure_titled(figures: list[dict], start: str) -> dict:
    return next(f for f in figures if f["layout"]["title"]["text"].startswith(start))


def test_sweep_through_the_cli_writes_one_row_per_trial_then_finds_nothing_to_do(tmp_path):
    path = write_spec(tmp_path, {"train.lr": [3e-3, 1e-2], "train.seed": [0, 1]})
    out = tmp_path / "spec-out"
    code, stdout, err = run_cli("sweep", path, "--dry-run")
    assert code == 0 and stdout.count(" new ") == 4 and "holds nothing yet" in stdout and not out.exists(), (stdout, err)

    code, stdout, err = run_cli("sweep", path, "--no-progress")
    assert code == 0, err
    rows, saved = read_csv(out / "results.csv"), json.loads((out / "results.json").read_text())
    assert len(rows) == len(saved["rows"]) == 4
    assert {r["trial"] for r in rows} == {"lr=0.003,seed=0", "lr=0.003,seed=1", "lr=0.01,seed=0", "lr=0.01,seed=1"}
    study = optuna.load_study(study_name="spec", storage=f"sqlite:///{out / 'study.db'}")
    values = {t.user_attrs["trial"]: t.value for t in study.trials}
    assert len(study.trials) == 4 and {t.state.name for t in study.trials} == {"COMPLETE"}
    for row, json_row in zip(rows, saved["rows"]):
        run_dir = out / "trials" / row["trial"]
        final = final_record(run_dir)
        assert json_row["trial"] == row["trial"] and json_row["status"] == row["status"] == "complete"
        for key, value in final.items():  # the table holds exactly the last metrics.jsonl record
            assert json_row[key] == value and float(row[key]) == value, key
        assert values[row["trial"]] == final["val_repeated"]  # the objective Optuna holds is the same number
        assert float(row["train.lr"]) == json.loads((run_dir / "run.json").read_text())["run"]["train"]["lr"]
        assert json_row["tokens_per_second"] > 0 and json_row["wall_seconds"] > 0
    scores = [r["val_repeated"] for r in saved["rows"]]
    assert scores == sorted(scores) and [r["rank"] for r in saved["rows"]] == [1, 2, 3, 4]
    assert saved["best"] == saved["rows"][0]["trial"] == study.best_trial.user_attrs["trial"]
    html = (out / "sweep.html").read_text()
    assert all(r["trial"] in html for r in rows)
    figures = page_figures(html)
    for start in ("final val_repeated against train.lr", "final val_repeated against train.seed"):
        points = {(name, y) for trace in figure_titled(figures, start)["data"] for name, y in zip(trace["text"], trace["y"])}
        assert points == {(r["trial"], final_record(out / "trials" / r["trial"])["val_repeated"]) for r in rows}
    history = figure_titled(figures, "final val_repeated by trial")["data"]
    assert history[0]["y"] == [values[t.user_attrs["trial"]] for t in study.trials]
    assert history[1]["y"] == list(itertools.accumulate(history[0]["y"], min))
    curves = {
        trace["name"].removesuffix(" (best)"): trace["y"] for trace in figure_titled(figures, "val_repeated during")["data"]
    }
    assert curves == {r["trial"]: [m["val_repeated"] for m in read_metrics(out / "trials" / r["trial"])[1:]] for r in rows}

    before = tree_digest(out / "trials")
    code, stdout, err = run_cli("sweep", path, "--no-progress")
    assert code == 0 and "4 of 4 trials of 'spec' already finished" in stdout, err
    assert tree_digest(out / "trials") == before  # nothing retrained
    assert json.loads((out / "results.json").read_text())["rows"] == saved["rows"]
    code, stdout, _ = run_cli("sweep", path, "--dry-run")
    assert stdout.count(" complete ") == 4 and "holds 4 complete" in stdout


def test_processes_sharing_one_study_run_every_trial_exactly_once(tmp_path):
    """Three workers started together on one new SQLite study (two forked processes and this one): they race to
    make the study and to take its trials. (Forked, so that they skip the 10-20 s import a new interpreter needs.)"""
    lrs, seeds = [1e-3, 3e-3, 1e-2], [0, 1]
    spec = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": lrs, "train.seed": seeds}, pruner="none"))
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=runner.run_worker, args=(spec,), kwargs={"log": lambda m: None}) for _ in range(2)]
    for worker in workers:
        worker.start()
    here = runner.run_worker(spec, log=lambda m: None)
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    study = open_study(spec)
    names = sorted(t.user_attrs["trial"] for t in study.trials)
    expected = sorted(
        trial_name({"train.lr": lr, "train.seed": s}, {"train.lr": "lr", "train.seed": "seed"}) for lr in lrs for s in seeds
    )
    assert names == expected and {t.state.name for t in study.trials} == {"COMPLETE"}  # each once, none lost, none extra
    pids = {t.user_attrs["trial"]: t.user_attrs["worker"].rpartition(":")[2] for t in study.trials}
    assert {pids[name] for name in here} == {str(os.getpid())}  # what this process says it ran is what the study says
    for name in names:  # each trained once: one record per evaluation step, one set of checkpoints
        assert [r["step"] for r in read_metrics(spec.out / "trials" / name)] == [0, 1, 3, 4, 8, 12]
        assert [c.step for c in list_checkpoints(spec.out / "trials" / name)] == [0, 1, 3, 12]
    results = collect_results(spec, study)
    assert sorted(t.name for t in results.trials) == expected and {t.status for t in results.trials} == {"complete"}


def test_parallel_starts_that_many_worker_processes_on_the_spec(tmp_path, monkeypatch):
    # A stand-in worker: records the job it was given and its thread setting (a real one imports torch: 10-20 s).
    records = (
        "import json, os, sys; job = json.loads(sys.stdin.read()); "
        "print(json.dumps({'name': job['spec']['name'], 'parallel': job['spec']['parallel'], 'threads': os.environ['OMP_NUM_THREADS']}))"
    )
    monkeypatch.setattr(runner, "WORKER_COMMAND", (sys.executable, "-c", records))
    fixed = {k: v for k, v in TINY.items() if k != "train.threads"}
    spec = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [3e-3, 1e-2]}, fixed=fixed, parallel=2))
    messages = []
    runner.run_local_workers(spec, None, messages.append)
    logs = sorted((spec.out / runner.WORKERS_DIR).iterdir())
    assert [p.name for p in logs] == ["worker-0.log", "worker-1.log"] and "2 worker processes" in messages[0]
    threads = str(max(1, available_cores() // 2))
    assert [json.loads(p.read_text()) for p in logs] == [{"name": "spec", "parallel": 2, "threads": threads}] * 2


def test_a_trial_clearly_worse_at_its_evaluations_is_pruned_with_its_run_directory_intact(tmp_path):
    # lr 0.9 blows the loss up after one step; the median pruner compares each evaluation with the finished trial's
    fixed = {**TINY, "train.steps": 24, "train.n_checkpoints": 4}
    path = write_spec(tmp_path, {"train.lr": [3e-3, 0.9]}, fixed=fixed, pruner={"type": "median", "n_startup_trials": 1})
    code, stdout, err = run_cli("sweep", path, "--no-progress")
    assert code == 0, err
    out = tmp_path / "spec-out"
    study = optuna.load_study(study_name="spec", storage=f"sqlite:///{out / 'study.db'}")
    states = {t.user_attrs["trial"]: t for t in study.trials}
    assert states["lr=0.003"].state.name == "COMPLETE" and states["lr=0.9"].state.name == "PRUNED", stdout
    pruned = states["lr=0.9"]
    step = max(pruned.intermediate_values)
    assert pruned.intermediate_values[step] > states["lr=0.003"].intermediate_values[step]
    run_dir = out / "trials" / "lr=0.9"
    records = read_metrics(run_dir)
    assert records[-1]["step"] == step < 24  # stopped at the evaluation that pruned it
    assert {r["step"]: r["val_repeated"] for r in records[1:]} == pruned.intermediate_values
    checkpoints = list_checkpoints(run_dir)  # the checkpoints written before it stopped, all complete and loadable
    assert checkpoints and all(c.step <= step for c in checkpoints) and load_file(checkpoints[-1].path / "model.safetensors")
    row = {r["trial"]: r for r in read_csv(out / "results.csv")}["lr=0.9"]
    assert row["status"] == "pruned" and row["rank"] == ""


class Killed(BaseException):
    """Stands in for SIGKILL: not an Exception, so the worker neither records nor re-queues its trial."""


def kill_at_step(monkeypatch, step, when=lambda run: True, error=Killed):
    real_train = runner.train

    def train_until_killed(run, run_dir, **kwargs):
        def stop(ckpt):
            if ckpt.step == step and when(run):
                raise error()

        return real_train(run, run_dir, on_checkpoint=stop, **kwargs)

    monkeypatch.setattr(runner, "train", train_until_killed)
    return real_train


def test_a_killed_trial_is_taken_over_and_resumed_exactly(tmp_path, monkeypatch):
    sweep = {"train.lr": [3e-3, 1e-2]}
    straight = run_sweep(SweepSpec.from_toml(write_spec(tmp_path, sweep, name="straight")), progress=False, log=lambda m: None)
    spec = SweepSpec.from_toml(write_spec(tmp_path, sweep, name="cut", heartbeat=0.2))
    real_train = kill_at_step(monkeypatch, 3, when=lambda run: run.train.lr == 1e-2)  # checkpoints: 0, 1, 3, 12
    with pytest.raises(Killed):
        run_sweep(spec, progress=False, log=lambda m: None)
    monkeypatch.setattr(runner, "train", real_train)
    study = open_study(spec)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "RUNNING"]  # its worker died: no one told the study

    messages = []
    resumed = run_sweep(spec, progress=False, log=messages.append)  # waits for the heartbeat to go stale, then resumes
    assert resumed.ran == ["lr=0.01"] and any("its worker stopped; queued again" in m for m in messages)
    study = open_study(spec)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert study.trials[2].params == study.trials[1].params and study.trials[2].user_attrs["trial"] == "lr=0.01"
    (row,) = [r for r in resumed.results.rows() if r["trial"] == "lr=0.01"]
    assert row["status"] == "complete" and row["attempts"] == 2
    for a, b in zip(straight.results.trials, resumed.results.trials):
        assert a.name == b.name and a.curve == b.curve and b.status == "complete"
        final_a, final_b = (list_checkpoints(t.run_dir)[-1].path / "model.safetensors" for t in (a, b))
        weights_a, weights_b = load_file(final_a), load_file(final_b)
        assert weights_a.keys() == weights_b.keys() and all((weights_a[k] == weights_b[k]).all() for k in weights_a)


def test_a_failing_trial_is_recorded_and_the_others_finish(tmp_path):
    fixed = {k: v for k, v in TINY.items() if k != "data.corpus"}
    path = write_spec(tmp_path, {"data.corpus": ["none", "no-such-corpus"], "train.lr": [3e-3, 1e-2]}, fixed=fixed)
    code, stdout, err = run_cli("sweep", path, "--no-progress")
    assert code == 1 and "2 of 4 trials failed" in err
    rows = {r["trial"]: r for r in read_csv(tmp_path / "spec-out" / "results.csv")}
    for name, row in rows.items():
        if "no-such-corpus" in name:
            assert row["status"] == "failed" and row["rank"] == "" and "no-such-corpus" in row["error"]
            assert "\n" not in row["error"]
        else:
            assert row["status"] == "complete" and row["error"] == ""
            assert float(row["val_repeated"]) == final_record(tmp_path / "spec-out" / "trials" / name)["val_repeated"]
    assert [r["status"] for r in read_csv(tmp_path / "spec-out" / "results.csv")] == ["complete", "complete", "failed", "failed"]
    assert "FAILED" in stdout and "failed:" in (tmp_path / "spec-out" / "sweep.html").read_text()


def test_a_study_made_by_another_spec_is_refused_and_nothing_is_written(tmp_path):
    path = write_spec(tmp_path, {"train.lr": [3e-3]})
    assert run_cli("sweep", path, "--no-progress")[0] == 0
    out = tmp_path / "spec-out"
    before = tree_digest(out)
    path.write_text(path.read_text().replace('"train.steps" = 12', '"train.steps" = 16'))
    for extra in ([], ["--dry-run"]):
        code, _, err = run_cli("sweep", path, "--no-progress", *extra)
        assert code == 2 and "holds sweep 'spec' made by another spec" in err and len(err.strip().splitlines()) == 1, err
    other = write_spec(tmp_path, {"train.lr": [3e-3]}, name="other")
    other.write_text(other.read_text().replace(str(tmp_path / "other-out"), str(out)))
    code, _, err = run_cli("sweep", other, "--no-progress")
    assert code == 2 and "holds sweep 'spec', not 'other'" in err
    assert tree_digest(out) == before


def test_a_journal_file_storage_works_like_sqlite(tmp_path):
    journal = tmp_path / "shared" / "study.log"
    path = write_spec(tmp_path, {"train.lr": [3e-3, 1e-2]}, storage=f"journal:{journal}")
    code, stdout, err = run_cli("sweep", path, "--no-progress")
    assert code == 0, err
    study = optuna.load_study(
        study_name="spec", storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    )
    assert sorted(t.user_attrs["trial"] for t in study.trials) == ["lr=0.003", "lr=0.01"]
    assert not (tmp_path / "spec-out" / "study.db").exists()
    assert len(read_csv(tmp_path / "spec-out" / "results.csv")) == 2


def test_results_group_points_by_the_other_swept_fields(tmp_path):
    spec = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [3e-3, 1e-2], "train.seed": [0, 1]}))
    run_sweep(spec, progress=False, log=lambda m: None)
    results = collect_results(spec, open_study(spec))
    lr_series, seed_series = results.axis_series()
    assert lr_series.numeric and [label for label, _ in lr_series.lines] == ["train.seed=0", "train.seed=1"]
    for label, points in lr_series.lines:
        seed = int(label.split("=")[1])
        assert [x for x, _, _ in points] == [3e-3, 1e-2]
        for x, y, name in points:
            assert name == trial_name({"train.lr": x, "train.seed": seed}, {"train.lr": "lr", "train.seed": "seed"})
            assert y == final_record(spec.out / "trials" / name)["val_repeated"]
    assert [label for label, _ in seed_series.lines] == ["train.lr=0.003", "train.lr=0.01"]
    assert results.importances is not None and set(results.importances) == {"train.lr", "train.seed"}


def test_the_spec_crosses_to_a_worker_process_unchanged(tmp_path):
    spec = SweepSpec.from_toml(
        write_spec(tmp_path, {"train.lr": [3e-3]}, pruner={"type": "successive-halving", "min_resource": 2}, heartbeat=2.5)
    )
    data = {key: value for key, value in json.loads(json.dumps(spec.to_dict())).items() if value is not None}
    assert SweepSpec.from_dict(data, name=data["name"]) == spec


# --- wandb --------------------------------------------------------------------------------------------------------


class FakeWandb(types.ModuleType):
    """Records what the sweep asks of wandb."""

    def __init__(self):
        super().__init__("wandb")
        self.runs = []

    def init(self, **kwargs):
        run = types.SimpleNamespace(kwargs=kwargs, logged=[], finished=[])
        run.log = lambda record, step: run.logged.append((dict(record), step))
        run.finish = lambda **kw: run.finished.append(kw)
        self.runs.append(run)
        return run


def test_wandb_logs_every_record_of_every_trial_offline(tmp_path, monkeypatch):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    path = write_spec(tmp_path, {"train.lr": [3e-3, 1e-2]})
    code, _, err = run_cli("sweep", path, "--no-progress", "--wandb")
    assert code == 0, err
    out = (tmp_path / "spec-out").resolve()
    assert [r.kwargs["name"] for r in fake.runs] == ["lr=0.003", "lr=0.01"]
    for run in fake.runs:
        run_dir = out / "trials" / run.kwargs["name"]
        assert run.kwargs["mode"] == "offline" and run.kwargs["dir"] == str(out) and run.kwargs["project"] == "interp-sweep-spec"
        assert run.kwargs["config"] == json.loads((run_dir / "run.json").read_text())["run"]
        assert run.logged == [(record, record["step"]) for record in read_metrics(run_dir)]
        assert run.finished == [{}]


def test_an_interrupted_trial_is_queued_again_and_sends_wandb_its_whole_history(tmp_path, monkeypatch):
    spec = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [3e-3]})).with_options(wandb=True)
    monkeypatch.setitem(sys.modules, "wandb", FakeWandb())
    real_train = kill_at_step(monkeypatch, 3, error=KeyboardInterrupt)  # Ctrl-C: the trial fails and is queued again
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, progress=False, log=lambda m: None)
    assert sys.modules["wandb"].runs[0].finished == [{"exit_code": 1}]
    assert [t.state.name for t in open_study(spec).trials] == ["FAIL", "WAITING"]
    monkeypatch.setattr(runner, "train", real_train)
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    assert run_sweep(spec, progress=False, log=lambda m: None).ran == ["lr=0.003"]
    (run,) = fake.runs
    records = read_metrics(spec.out / "trials" / "lr=0.003")
    assert [r["step"] for r in records] == [0, 1, 3, 4, 8, 12]
    assert run.logged == [(r, r["step"]) for r in records]


def test_missing_wandb_is_a_one_line_error_before_anything_trains(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    path = write_spec(tmp_path, {"train.lr": [3e-3]})
    code, _, err = run_cli("sweep", path, "--wandb")
    assert code == 2 and "wandb is not installed: pip install wandb" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "spec-out").exists()
