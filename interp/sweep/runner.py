"""Run a sweep: every trial is an ordinary run directory under `<out>/trials/`, trained in this process one after
another, or `parallel` at a time in worker processes (`python -m interp.sweep.worker`).

Running the same spec again skips finished trials and resumes interrupted or failed ones from their last
checkpoint (`train(resume=True)`), so the results are those of uninterrupted runs. A trial that raises is recorded
as failed with its one-line error; the others go on.

>>> import tempfile
>>> from interp.sweep.spec import SweepSpec
>>> from interp.sweep.trials import expand_trials
>>> tiny = {"model.d_model": 16, "model.n_heads": 2, "model.d_head": 8, "model.n_ctx": 16, "data.corpus": "none",
...     "data.repeated_fraction": 1.0, "data.span_min": 2, "data.span_max": 4, "train.steps": 10, "train.batch_size": 4,
...     "train.eval_every": 5, "train.n_checkpoints": 3, "train.checkpoint_every": 0}
>>> spec = SweepSpec.from_dict({"preset": "attn-only-1l", "fixed": tiny, "sweep": {"train.lr": [3e-3, 1e-3]},
...     "metric": "val_repeated", "out": tempfile.mkdtemp()}, name="lr")
>>> outcome = run_sweep(spec, progress=False, log=lambda line: None)   # two tiny trials, in this process
>>> outcome.ran, outcome.failed, sorted(path.name for path in outcome.paths.values())
(['lr=0.003', 'lr=0.001'], [], ['results.csv', 'results.json'])
>>> run_sweep(spec, progress=False, log=lambda line: None).skipped      # finished trials are not run again
['lr=0.003', 'lr=0.001']
"""

import json
import os
import subprocess
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from interp.core.errors import ConfigError, InterpError
from interp.core.io import write_json
from interp.sweep.results import (
    TRIAL_FILE,
    SweepResults,
    collect_results,
    read_outcome,
    trial_dir,
    write_outcome,
    write_results,
)
from interp.sweep.spec import SweepSpec
from interp.sweep.tracking import WandbTracker, import_wandb
from interp.sweep.trials import Trial, expand_trials
from interp.train.config import RunConfig
from interp.train.loop import RUN_FILE, read_metrics, read_run_config, train

DEFAULT_CACHE = Path("models/cache")
LOG_FILE = "train.log"  # a worker process's output, in its trial directory
POLL_SECONDS = 0.2
WORKER_COMMAND = (sys.executable, "-m", "interp.sweep.worker")  # reads a TrialJob as JSON on stdin
STATES = ("new", "partial", "failed", "done")


@dataclass(frozen=True)
class TrialJob:
    """What one worker needs to train one trial (plain data: it crosses a process boundary as JSON)."""

    name: str
    run: dict[str, Any]
    run_dir: str
    resume: bool
    threads: int = 1  # the worker's OMP_NUM_THREADS while it imports, before train.threads applies
    cache_dir: str | None = None
    wandb_project: str | None = None
    wandb_dir: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrialJob":
        return cls(**data)


@dataclass(frozen=True)
class PlannedTrial:
    trial: Trial
    run_dir: Path
    state: str  # one of STATES
    run: RunConfig  # the config to train with: a resumed trial keeps the one it was started with


@dataclass
class SweepOutcome:
    results: SweepResults
    paths: dict[str, Path]
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [t.name for t in self.results.trials if t.status != "done"]


def _without_threads(run: RunConfig) -> dict[str, Any]:
    """A config as data without train.threads: how many threads trained a run does not change which run it is."""
    data = run.to_dict()
    data["train"] = {k: v for k, v in data["train"].items() if k != "threads"}
    return data


def _differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _differences(x, y, f"{prefix}{key}.")
        elif x != y:
            out.append(f"{prefix}{key}: {x!r} -> {y!r}")
    return out


def plan_trials(spec: SweepSpec, trials: list[Trial]) -> list[PlannedTrial]:
    """Each trial's state on disk; a trial directory trained with another config is an error (nothing starts)."""
    planned = []
    for trial in trials:
        run_dir = trial_dir(spec, trial)
        if not (run_dir / RUN_FILE).is_file():
            planned.append(PlannedTrial(trial, run_dir, "new", trial.run))
            continue
        stored = read_run_config(run_dir)
        differences = _differences(_without_threads(stored), _without_threads(trial.run))
        if differences:
            raise ConfigError(
                f"{run_dir} was trained with another config ({'; '.join(differences[:3])}); "
                "sweep into a new out directory, or delete that trial directory"
            )
        outcome = read_outcome(run_dir) or {}
        records = read_metrics(run_dir)
        finished = bool(records) and records[-1].get("step") == stored.train.steps
        if outcome.get("status") == "done" and finished:
            state = "done"
        elif outcome.get("status") == "failed":
            state = "failed"
        else:
            state = "partial"
        planned.append(PlannedTrial(trial, run_dir, state, stored))
    return planned


def one_line(error: BaseException) -> str:
    """An exception as one line: our own errors by their message, others with their type."""
    message = " ".join(str(error).split())
    return message if isinstance(error, InterpError) else f"{type(error).__name__}: {message}"


class _TrackerLog:
    """Sends records to wandb. A resumed trial gets a new wandb run: it first gets the records written before."""

    def __init__(self, tracker: WandbTracker, run_dir: Path, resumed: bool) -> None:
        self.tracker, self.run_dir, self.pending = tracker, run_dir, resumed

    def __call__(self, record: dict[str, Any]) -> None:
        if self.pending:  # metrics.jsonl now holds the kept history and, last, this record
            self.pending = False
            for earlier in read_metrics(self.run_dir)[:-1]:
                self.tracker.log(earlier)
        self.tracker.log(record)

    def close(self) -> None:
        if self.pending:  # resumed at the last step: nothing new was logged
            self.pending = False
            for earlier in read_metrics(self.run_dir):
                self.tracker.log(earlier)


def _echo_record(record: dict[str, Any]) -> None:
    print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()), flush=True)


def run_trial(job: TrialJob, *, progress: bool = False, echo: bool = False) -> dict[str, Any]:
    """Train one trial and write its trial.json; an exception becomes status 'failed' with a one-line error."""
    run_dir = Path(job.run_dir)
    run = RunConfig.from_dict(job.run)
    (run_dir / TRIAL_FILE).unlink(missing_ok=True)
    threads, started = torch.get_num_threads(), time.perf_counter()
    tracker, tracker_log, outcome = None, None, {}
    try:
        sinks = []
        if job.wandb_project:
            tracker = WandbTracker.start(
                project=job.wandb_project, directory=Path(job.wandb_dir), name=job.name, config=run.to_dict()
            )
            tracker_log = _TrackerLog(tracker, run_dir, job.resume)
            sinks.append(tracker_log)
        if echo:
            sinks.append(_echo_record)

        def on_log(record: dict[str, Any]) -> None:
            for sink in sinks:
                sink(record)

        cache = None if job.cache_dir is None else Path(job.cache_dir)
        result = train(run, run_dir, resume=job.resume, cache_dir=cache, progress=progress, on_log=on_log if sinks else None)
        if tracker_log is not None:
            tracker_log.close()
        outcome = {"status": "done", "error": "", "tokens_per_second": result.tokens_per_second}
    except Exception as error:  # any failure of this trial: recorded, and the sweep goes on
        outcome = {"status": "failed", "error": one_line(error), "tokens_per_second": None, "traceback": traceback.format_exc()}
    finally:
        torch.set_num_threads(threads)  # train.threads sets the process-wide count
        if tracker is not None:
            tracker.finish(failed=outcome.get("status") != "done")
    outcome = {"name": job.name, **outcome, "wall_seconds": time.perf_counter() - started, "resumed": job.resume}
    write_outcome(run_dir, outcome)
    return outcome


def _job(spec: SweepSpec, planned: PlannedTrial, cache_dir: Path | None) -> TrialJob:
    return TrialJob(
        name=planned.trial.name,
        run=planned.run.to_dict(),
        run_dir=str(planned.run_dir.resolve()),
        resume=planned.state != "new",
        threads=max(1, planned.run.train.threads),
        cache_dir=None if cache_dir is None else str(Path(cache_dir).resolve()),
        wandb_project=spec.project if spec.wandb else None,
        wandb_dir=str(Path(spec.out).resolve()) if spec.wandb else None,
    )


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def run_in_workers(jobs: list[TrialJob], parallel: int, done: Callable[[TrialJob, dict], None]) -> None:
    """Run `jobs` in worker processes (`WORKER_COMMAND`), at most `parallel` at a time, one per trial, calling
    `done(job, outcome)` as each ends. A worker that dies fails only its trial: its outcome is a "failed" record
    naming the exit code and the log's last line, written to the trial's trial.json.

    >>> import tempfile
    >>> from interp.train.presets import run_config
    >>> tiny = {"data.corpus": "none", "data.repeated_fraction": 1.0, "data.span_min": 2, "data.span_max": 6,
    ...     "model.n_ctx": 16, "model.d_model": 32, "model.d_head": 8, "train.steps": 4, "train.batch_size": 4}
    >>> run_dir = Path(tempfile.mkdtemp()) / "a"
    >>> jobs = [TrialJob(name="a", run=run_config("attn-only-1l", overrides=tiny).to_dict(), run_dir=str(run_dir), resume=False)]
    >>> outcomes = {}
    >>> run_in_workers(jobs, 2, lambda job, outcome: outcomes.setdefault(job.name, outcome))   # ~10 s: the worker imports torch
    >>> outcomes["a"]["status"], sorted(path.name for path in run_dir.iterdir())
    ('done', ['checkpoints', 'metrics.jsonl', 'run.json', 'train.log', 'trial.json'])
    """
    pending, running = deque(jobs), {}
    try:
        while pending or running:
            while pending and len(running) < parallel:
                job = pending.popleft()
                Path(job.run_dir).mkdir(parents=True, exist_ok=True)
                (Path(job.run_dir) / TRIAL_FILE).unlink(missing_ok=True)
                log = open(Path(job.run_dir) / LOG_FILE, "ab")
                env = {**os.environ, "OMP_NUM_THREADS": str(job.threads), "MKL_NUM_THREADS": str(job.threads)}
                process = subprocess.Popen(
                    list(WORKER_COMMAND), stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env
                )
                process.stdin.write(json.dumps(job.to_dict()).encode())
                process.stdin.close()
                running[process] = (job, log)
            time.sleep(POLL_SECONDS)
            for process in [p for p in running if p.poll() is not None]:
                job, log = running.pop(process)
                log.close()
                outcome = read_outcome(Path(job.run_dir))
                if outcome is None:  # the worker died before it could record anything (killed, out of memory, ...)
                    hint = _last_line(Path(job.run_dir) / LOG_FILE)
                    outcome = {
                        "name": job.name,
                        "status": "failed",
                        "error": f"worker process exited with code {process.returncode}" + (f": {hint}" if hint else ""),
                        "tokens_per_second": None,
                        "wall_seconds": None,
                        "resumed": job.resume,
                    }
                    write_outcome(Path(job.run_dir), outcome)
                done(job, outcome)
    finally:  # interrupted: stop the workers; their trials resume on the next run
        for process, (_, log) in running.items():
            process.terminate()
            process.wait()
            log.close()


def run_sweep(
    spec: SweepSpec,
    *,
    cache_dir: Path | None = DEFAULT_CACHE,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> SweepOutcome:
    """Run every unfinished trial of `spec`, then write results.csv and results.json in `spec.out`.

    The page (sweep.html) is the caller's to write from `outcome.results`: rendering sits above this layer.
    """
    trials = expand_trials(spec)
    planned = plan_trials(spec, trials)
    if spec.wandb:
        import_wandb()  # missing wandb is an error before anything trains
    out = Path(spec.out)
    write_json(
        out / "sweep.json", {"spec": spec.to_dict(), "trials": [{"name": t.name, "overrides": t.overrides_dict} for t in trials]}
    )
    todo = [p for p in planned if p.state != "done"]
    outcome = SweepOutcome(
        results=collect_results(spec, trials), paths={}, skipped=[p.trial.name for p in planned if p.state == "done"]
    )
    if outcome.skipped:
        log(f"{len(outcome.skipped)} of {len(trials)} trials already finished: skipped")
    jobs = [_job(spec, p, cache_dir) for p in todo]
    states = {p.trial.name: p.state for p in todo}
    count = {"done": 0}

    def finished(job: TrialJob, result: dict[str, Any]) -> None:
        count["done"] += 1
        outcome.ran.append(job.name)
        if result["status"] == "done":
            final = (read_metrics(Path(job.run_dir)) or [{}])[-1]
            score = final.get(spec.metric)
            what = f"{spec.metric} {score:.4f}, {result['tokens_per_second']:,.0f} tokens/s, {result['wall_seconds']:.1f} s"
        else:
            what = f"FAILED: {result['error']}"
        log(f"[{count['done']}/{len(jobs)}] {job.name}: {what}")
        write_results(collect_results(spec, trials))  # the table fills in as trials finish

    for job in jobs:
        if states[job.name] != "new":
            log(f"{job.name}: resuming ({states[job.name]})")
    if spec.parallel == 1 or len(jobs) <= 1:
        for job in jobs:
            if progress:
                log(f"training {job.name}")
            finished(job, run_trial(job, progress=progress))
    else:
        log(
            f"{len(jobs)} trials, {min(spec.parallel, len(jobs))} at a time; each worker's output is in its trial directory's {LOG_FILE}"
        )
        run_in_workers(jobs, spec.parallel, finished)

    outcome.results = collect_results(spec, trials)
    outcome.paths = write_results(outcome.results)
    return outcome
