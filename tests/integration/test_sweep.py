"""`interp sweep`: spec parsing and checks, grid/random expansion, end-to-end sweeps through the CLI, skipping and
resuming, parallel workers, failures, and the wandb path (with a fake wandb module; wandb is never required)."""

import csv
import dataclasses
import itertools
import json
import math
import sys
import types
from pathlib import Path

import pytest
from helpers.cli_run import run_cli, tree_digest
from hypothesis import given, settings
from hypothesis import strategies as st

from interp.core.errors import ConfigError
from interp.sweep import runner
from interp.sweep.results import TRIAL_FILE, collect_results
from interp.sweep.runner import TrialJob, plan_trials, run_in_workers, run_sweep
from interp.sweep.spec import SweepSpec
from interp.sweep.trials import expand_trials, trial_name
from interp.train.config import RunConfig
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
    trials = expand_trials(spec)
    expected = [{"train.lr": lr, **w, "train.seed": s} for lr, w, s in itertools.product(lrs, widths, seeds)]
    assert [t.overrides_dict for t in trials] == expected
    assert len({t.name for t in trials}) == 12
    assert trials[0].name == "lr=0.001,d_model=32,d_head=8,seed=0"
    for trial, wanted in zip(trials, expected):
        run = trial.run
        assert (run.train.lr, run.model.d_model, run.model.d_head, run.train.seed) == tuple(wanted.values())
        assert run.train.steps == 12 and run.data.corpus == "none" and run.model.n_layers == 1  # fixed + preset


def test_unquoted_dotted_keys_mean_the_same_as_quoted_ones(tmp_path):
    quoted = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [1e-3, 3e-3]}, name="a"))
    path = tmp_path / "b.toml"
    path.write_text(
        f'preset = "attn-only-1l"\nmetric = "val_repeated"\nout = "{tmp_path / "a-out"}"\n'
        "[fixed]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in TINY.items()) + "[sweep]\ntrain.lr = [1e-3, 3e-3]\n"
    )
    unquoted = SweepSpec.from_toml(path)
    assert dataclasses.replace(unquoted, name="a") == quoted


def test_threads_default_to_cores_divided_by_parallel_unless_fixed(tmp_path):
    fixed = {k: v for k, v in TINY.items() if k != "train.threads"}
    path = tmp_path / "s.toml"
    path.write_text(spec_text({"train.lr": [1e-3, 3e-3]}, fixed=fixed, parallel=3))
    spec = SweepSpec.from_toml(path)
    assert {t.run.train.threads for t in expand_trials(spec, cores=8)} == {2}
    assert {t.run.train.threads for t in expand_trials(spec, cores=2)} == {1}
    assert {t.run.train.threads for t in expand_trials(spec.with_options(parallel=1), cores=8)} == {8}
    fixed_spec = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [1e-3]}, parallel=3))
    assert {t.run.train.threads for t in expand_trials(fixed_spec, cores=8)} == {1}


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n_trials=st.integers(1, 6),
    kinds=st.tuples(st.sampled_from(["uniform", "log_uniform"]), st.sampled_from(["uniform", "log_uniform"])),
    low=st.floats(1e-6, 1e3),
    ratio=st.floats(1.001, 1e3),
    int_low=st.integers(1, 1000),
    int_span=st.integers(1, 1000),
)
def test_random_search_is_deterministic_by_seed_and_stays_in_range(seed, n_trials, kinds, low, ratio, int_low, int_span):
    high, int_high = low * ratio, int_low + int_span
    spec = SweepSpec.from_dict(
        {
            "preset": "attn-only-1l", "method": "random", "seed": seed, "n_trials": n_trials, "metric": "val_repeated",
            "fixed": {k: v for k, v in TINY.items() if k != "train.steps"},
            "sweep": {"train.weight_decay": {kinds[0]: [low, high]}, "train.steps": {kinds[1]: [int_low, int_high]},
                      "model.normalization_type": ["LN", "RMS"]},
        },
        name="r",
    )  # fmt: skip
    trials = expand_trials(spec, cores=2)
    assert [t.overrides for t in trials] == [t.overrides for t in expand_trials(spec, cores=2)]
    assert len(trials) == n_trials and len({t.name for t in trials}) == n_trials
    for trial in trials:
        decay, steps, norm = (trial.overrides_dict[k] for k in ("train.weight_decay", "train.steps", "model.normalization_type"))
        assert isinstance(decay, float) and low <= decay <= high
        assert decay == float(f"{decay:.4g}") or decay in (low, high)  # 4 significant digits: the name is exact
        assert isinstance(steps, int) and int_low <= steps <= int_high
        assert norm in ("LN", "RMS")
        assert trial.run.train.weight_decay == decay and trial.run.train.steps == steps
        assert trial.run.model.normalization_type == norm


def test_random_search_differs_by_seed_and_covers_log_ranges():
    def draws(seed):
        spec = SweepSpec.from_dict(
            {"preset": "attn-only-1l", "method": "random", "seed": seed, "n_trials": 50, "metric": "val_repeated",
             "fixed": TINY, "sweep": {"train.lr": {"log_uniform": [1e-5, 1e-1]}}},
            name="r",
        )  # fmt: skip
        return [t.run.train.lr for t in expand_trials(spec, cores=2)]

    a, b = draws(0), draws(1)
    assert a == draws(0) and a != b
    decades = {math.floor(math.log10(x)) for x in a}
    assert decades == {-5, -4, -3, -2}  # log-uniform: every decade is hit, not just the top one


def test_random_space_too_small_is_an_error():
    spec = SweepSpec.from_dict(
        {"preset": "attn-only-1l", "method": "random", "seed": 0, "n_trials": 5, "metric": "val_repeated",
         "fixed": TINY, "sweep": {"train.lr": [1e-3, 3e-3]}},
        name="r",
    )  # fmt: skip
    with pytest.raises(ConfigError, match="only 2 different trials"):
        expand_trials(spec)


BAD_SPECS = [
    ({"sweep": {}}, "[sweep] is empty"),
    ({"sweep": {"train.lrr": [1]}}, "'train.lrr' is not a config field"),
    ({"sweep": {"lr": [1e-3]}}, "'lr' must be section.field"),
    ({"sweep": {"train.lr": []}}, "[sweep] train.lr: give a non-empty list"),
    ({"sweep": {"train.lr": [1e-3, 1e-3]}}, "listed twice"),
    ({"sweep": {"train.lr": {"log_uniform": [1e-4, 1e-2]}}}, "ranges ({log_uniform = [a, b]}) are for method = 'random'"),
    (
        {"method": "random", "n_trials": 2, "seed": 0, "sweep": {"train.lr": {"log_uniform": [0, 1e-2]}}},
        "log_uniform needs low > 0",
    ),
    ({"method": "random", "n_trials": 2, "seed": 0, "sweep": {"train.lr": {"uniform": [0.1, 0.01]}}}, "needs low < high"),
    ({"method": "random", "seed": 0, "sweep": {"train.lr": [1e-3]}}, "n_trials must be a positive integer"),
    ({"n_trials": 3, "sweep": {"train.lr": [1e-3]}}, "n_trials is for method = 'random'"),
    ({"method": "bayes", "sweep": {"train.lr": [1e-3]}}, "method must be one of"),
    ({"parallel": 0, "sweep": {"train.lr": [1e-3]}}, "parallel must be a positive integer"),
    ({"goal": "lowest", "sweep": {"train.lr": [1e-3]}}, "goal must be one of"),
    ({"sweep": {"train.steps": [5]}}, "train.steps: in both [fixed] and [sweep]"),
    ({"sweep": {"train.lr": [1e-3]}, "epochs": 3}, "unknown sweep spec key(s) epochs"),
    ({"sweep": {"width": [{"model.d_model": 32}, {"model.d_modle": 64}]}}, "'model.d_modle' is not a config field"),
    ({"sweep": {"train.lr": [1e-3, 2.0]}}, "trial train.lr=2.0: train.lr must be in (0, 1)"),
    ({"sweep": {"model.n_heads": [4, 3]}}, "trial model.n_heads=3: d_model (32) must equal n_heads * d_head (3 * 8 = 24)"),
    ({"metric": "val", "sweep": {"train.lr": [1e-3]}}, "does not log metric 'val' (it logs train_loss, lr, val_repeated)"),
    ({"preset": "nope", "sweep": {"train.lr": [1e-3]}}, "unknown preset 'nope'"),
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


def test_sweep_through_the_cli_writes_one_row_per_trial_then_skips_finished_trials(tmp_path):
    path = write_spec(tmp_path, {"train.lr": [3e-3, 1e-2], "train.seed": [0, 1]})
    out = tmp_path / "spec-out"
    code, stdout, err = run_cli("sweep", path, "--dry-run")
    assert code == 0 and stdout.count(" new ") == 4 and not out.exists(), (stdout, err)

    code, stdout, err = run_cli("sweep", path, "--no-progress")
    assert code == 0, err
    rows, saved = read_csv(out / "results.csv"), json.loads((out / "results.json").read_text())
    assert len(rows) == len(saved["rows"]) == 4
    assert {r["trial"] for r in rows} == {"lr=0.003,seed=0", "lr=0.003,seed=1", "lr=0.01,seed=0", "lr=0.01,seed=1"}
    for row, json_row in zip(rows, saved["rows"]):
        run_dir = out / "trials" / row["trial"]
        final = final_record(run_dir)
        assert json_row["trial"] == row["trial"] and json_row["status"] == row["status"] == "done"
        for key, value in final.items():  # the table holds exactly the last metrics.jsonl record
            assert json_row[key] == value and float(row[key]) == value, key
        assert float(row["train.lr"]) == json.loads((run_dir / "run.json").read_text())["run"]["train"]["lr"]
        assert json_row["tokens_per_second"] > 0 and json_row["wall_seconds"] > 0
    scores = [r["val_repeated"] for r in saved["rows"]]
    assert scores == sorted(scores) and [r["rank"] for r in saved["rows"]] == [1, 2, 3, 4]
    assert saved["best"] == saved["rows"][0]["trial"]
    html = (out / "sweep.html").read_text()
    assert all(r["trial"] in html for r in rows) and html.count('class="figure"') == 2 + 2  # 2 swept fields, 2 curve plots
    figures = page_figures(html)
    for figure in figures[:2]:  # final metric against lr, then against seed: every trial's point, at its value
        points = {(name, y) for trace in figure["data"] for name, y in zip(trace["text"], trace["y"])}
        assert points == {(r["trial"], final_record(out / "trials" / r["trial"])["val_repeated"]) for r in rows}
    curves = {trace["name"].removesuffix(" (best)"): trace["y"] for trace in figures[2]["data"]}
    assert curves == {r["trial"]: [m["val_repeated"] for m in read_metrics(out / "trials" / r["trial"])[1:]] for r in rows}

    before = tree_digest(out / "trials")
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "trials").rglob("*")}
    code, stdout, err = run_cli("sweep", path, "--no-progress")
    assert code == 0 and "4 of 4 trials already finished: skipped" in stdout, err
    assert tree_digest(out / "trials") == before  # nothing retrained
    assert {p: p.stat().st_mtime_ns for p in (out / "trials").rglob("*")} == mtimes
    assert json.loads((out / "results.json").read_text())["rows"] == saved["rows"]
    code, stdout, _ = run_cli("sweep", path, "--dry-run")
    assert stdout.count(" done ") == 4


def test_an_interrupted_sweep_resumes_and_matches_an_uninterrupted_one(tmp_path, monkeypatch):
    straight = run_sweep(
        SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [3e-3, 1e-2]}, name="straight")), progress=False, log=lambda m: None
    )
    spec = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [3e-3, 1e-2]}, name="cut"))
    real_train = runner.train

    def train_until_killed(run, run_dir, **kwargs):
        def stop(ckpt):
            if ckpt.step == 3 and run.train.lr == 1e-2:  # checkpoints are at steps 0, 1, 3, 12
                raise KeyboardInterrupt  # the researcher presses Ctrl-C during the second trial

        return real_train(run, run_dir, on_checkpoint=stop, **kwargs)

    monkeypatch.setattr(runner, "train", train_until_killed)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, progress=False, log=lambda m: None)
    monkeypatch.setattr(runner, "train", real_train)
    assert [p.state for p in plan_trials(spec, expand_trials(spec))] == ["done", "partial"]

    messages = []
    resumed = run_sweep(spec, progress=False, log=messages.append)
    assert resumed.ran == ["lr=0.01"] and resumed.skipped == ["lr=0.003"]
    assert any("lr=0.01: resuming (partial)" in m for m in messages)
    for a, b in zip(straight.results.trials, resumed.results.trials):
        assert a.name == b.name and a.curve == b.curve and b.status == "done"


def test_parallel_workers_give_the_same_results_as_sequential(tmp_path):
    sweep = {"train.lr": [3e-3, 1e-2]}
    sequential = run_sweep(SweepSpec.from_toml(write_spec(tmp_path, sweep, name="seq")), progress=False, log=lambda m: None)
    parallel = run_sweep(
        SweepSpec.from_toml(write_spec(tmp_path, sweep, name="par", parallel=2)), progress=False, log=lambda m: None
    )
    assert [t.status for t in parallel.results.trials] == ["done", "done"]
    for a, b in zip(sequential.results.trials, parallel.results.trials):
        assert a.name == b.name and a.curve == b.curve and len(a.curve) == 6
        assert (b.run_dir / runner.LOG_FILE).read_text().count("val_repeated") == 6  # the worker's output
    assert [r["trial"] for r in sequential.results.rows()] == [r["trial"] for r in parallel.results.rows()]


def test_a_failing_trial_is_recorded_and_the_others_finish(tmp_path):
    fixed = {k: v for k, v in TINY.items() if k != "data.corpus"}
    path = write_spec(tmp_path, {"data.corpus": ["none", "no-such-corpus"], "train.lr": [3e-3, 1e-2]}, fixed=fixed)
    code, stdout, err = run_cli("sweep", path, "--no-progress")
    assert code == 1 and "2 of 4 trials did not finish" in err
    rows = {r["trial"]: r for r in read_csv(tmp_path / "spec-out" / "results.csv")}
    for name, row in rows.items():
        if "no-such-corpus" in name:
            assert row["status"] == "failed" and row["rank"] == "" and "no-such-corpus" in row["error"]
            assert "\n" not in row["error"]
        else:
            assert row["status"] == "done" and row["error"] == ""
            assert float(row["val_repeated"]) == final_record(tmp_path / "spec-out" / "trials" / name)["val_repeated"]
    assert [r["status"] for r in read_csv(tmp_path / "spec-out" / "results.csv")] == ["done", "done", "failed", "failed"]
    assert "FAILED" in stdout and "failed:" in (tmp_path / "spec-out" / "sweep.html").read_text()


def test_a_worker_that_dies_fails_only_its_trial(tmp_path, monkeypatch):
    # A stand-in worker that is killed (as by the kernel when out of memory) unless its trial is "good".
    dies_unless_good = (
        "import json, sys; from pathlib import Path; job = json.loads(sys.stdin.read()); "
        "print('Killed', flush=True) if job['name'] != 'good' else None; "
        "sys.exit(137) if job['name'] != 'good' else Path(job['run_dir'], 'trial.json').write_text(json.dumps({'status': 'done'}))"
    )
    monkeypatch.setattr(runner, "WORKER_COMMAND", (sys.executable, "-c", dies_unless_good))
    jobs = [TrialJob(name=name, run={}, run_dir=str(tmp_path / name), resume=False) for name in ("bad", "good", "worse")]
    outcomes = {}
    run_in_workers(jobs, 2, lambda job, outcome: outcomes.setdefault(job.name, outcome))
    assert outcomes["good"] == {"status": "done"}
    for name in ("bad", "worse"):
        assert outcomes[name]["status"] == "failed"
        assert outcomes[name]["error"] == "worker process exited with code 137: Killed"
        assert json.loads((tmp_path / name / TRIAL_FILE).read_text()) == outcomes[name]  # recorded for the results table


def test_changing_a_fixed_field_under_an_existing_sweep_is_refused(tmp_path):
    path = write_spec(tmp_path, {"train.lr": [3e-3]})
    assert run_cli("sweep", path, "--no-progress")[0] == 0
    text = path.read_text().replace('"train.steps" = 12', '"train.steps" = 16')
    path.write_text(text)
    code, _, err = run_cli("sweep", path, "--no-progress")
    assert code == 2 and "was trained with another config (train.steps: 12 -> 16)" in err


def test_results_group_points_by_the_other_swept_fields(tmp_path):
    spec = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [3e-3, 1e-2], "train.seed": [0, 1]}))
    run_sweep(spec, progress=False, log=lambda m: None)
    results = collect_results(spec, expand_trials(spec))
    lr_series, seed_series = results.axis_series()
    assert lr_series.numeric and [label for label, _ in lr_series.lines] == ["train.seed=0", "train.seed=1"]
    for label, points in lr_series.lines:
        seed = int(label.split("=")[1])
        assert [x for x, _, _ in points] == [3e-3, 1e-2]
        for x, y, name in points:
            assert name == trial_name({"train.lr": x, "train.seed": seed}, {"train.lr": "lr", "train.seed": "seed"})
            assert y == final_record(spec.out / "trials" / name)["val_repeated"]
    assert [label for label, _ in seed_series.lines] == ["train.lr=0.003", "train.lr=0.01"]


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


def test_a_resumed_trial_sends_wandb_its_whole_history(tmp_path, monkeypatch):
    spec = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [3e-3]})).with_options(wandb=True)
    monkeypatch.setitem(sys.modules, "wandb", FakeWandb())
    real_train = runner.train

    def killed_at_step_3(run, run_dir, **kwargs):
        def stop(ckpt):
            if ckpt.step == 3:
                raise RuntimeError("power cut")

        return real_train(run, run_dir, on_checkpoint=stop, **kwargs)

    monkeypatch.setattr(runner, "train", killed_at_step_3)
    first = run_sweep(spec, progress=False, log=lambda m: None)
    assert first.failed == ["lr=0.003"] and sys.modules["wandb"].runs[0].finished == [{"exit_code": 1}]
    monkeypatch.setattr(runner, "train", real_train)
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    run_sweep(spec, progress=False, log=lambda m: None)
    (run,) = fake.runs
    records = read_metrics(spec.out / "trials" / "lr=0.003")
    assert [r["step"] for r in records] == [0, 1, 3, 4, 8, 12]
    assert run.logged == [(r, r["step"]) for r in records]


def test_missing_wandb_is_a_one_line_error_before_anything_trains(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    path = write_spec(tmp_path, {"train.lr": [3e-3]})
    code, _, err = run_cli("sweep", path, "--wandb")
    assert code == 2 and "wandb is not installed: pip install wandb" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "spec-out" / "trials").exists()


def test_trial_configs_round_trip_through_the_worker_job(tmp_path):
    spec = SweepSpec.from_toml(write_spec(tmp_path, {"train.lr": [3e-3]}))
    (planned,) = plan_trials(spec, expand_trials(spec))
    job = runner._job(spec, planned, None)
    assert RunConfig.from_dict(TrialJob.from_dict(json.loads(json.dumps(job.to_dict()))).run) == planned.run
