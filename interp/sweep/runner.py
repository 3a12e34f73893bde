"""Run a sweep on its Optuna study: each worker takes queued trials until none is left; every trial is an ordinary
run directory under `<out>/trials/`, trained in the worker's process.

`run_worker` is one worker (`interp sweep SPEC` started on several machines or terminals gives several on one
storage); `run_sweep` runs one in this process, or `parallel` of them as local processes (`python -m
interp.sweep.worker`), then writes results.csv and results.json. Each evaluation reports the metric to the trial,
and a trial the pruner stops ends PRUNED with its run directory and checkpoints as they were. A trial that raises
ends FAIL with its one-line error and the others go on. A trial whose worker is interrupted (Ctrl-C) or killed (its
heartbeat stops) is queued again with the same parameters and resumes from its last checkpoint (`train(resume=
True)`), so its result is that of an uninterrupted run.

>>> import tempfile
>>> from interp.sweep.spec import Range, SweepSpec
>>> tiny = {"model.d_model": 16, "model.n_heads": 2, "model.d_head": 8, "model.n_ctx": 16, "data.corpus": "none",
...     "data.repeated_fraction": 1.0, "data.span_min": 2, "data.span_max": 4, "train.steps": 10, "train.batch_size": 4,
...     "train.eval_every": 5, "train.n_checkpoints": 3, "train.checkpoint_every": 0}
>>> spec = SweepSpec.from_dict({"preset": "attn-only-1l", "fixed": tiny, "sweep": {"train.lr": [3e-3, 1e-3]},
...     "metric": "val_repeated", "out": tempfile.mkdtemp()}, name="lr")
>>> outcome = run_sweep(spec, progress=False, log=lambda line: None)   # two tiny trials, in this process
>>> outcome.ran, outcome.failed, sorted(path.name for path in outcome.paths.values())
(['lr=0.003', 'lr=0.001'], [], ['results.csv', 'results.json'])
>>> run_sweep(spec, progress=False, log=lambda line: None).ran          # nothing is queued any more
[]
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import TrialState

from interp.core.errors import ConfigError, InterpError
from interp.sweep.results import TRIALS_DIR, SweepResults, collect_results, write_results
from interp.sweep.spec import Range, SweepSpec
from interp.sweep.study import NAME_ATTR, Heartbeat, claim_lock, fail_stale_trials, open_study, requeue, sampler, take_trial
from interp.sweep.tracking import WandbTracker, import_wandb
from interp.sweep.trials import check_trials, short_names, suggest_overrides, trial_config, trial_name
from interp.train.config import RunConfig
from interp.train.loop import RUN_FILE, read_metrics, read_run_config, train

DEFAULT_CACHE = Path("models/cache")
WORKERS_DIR = "workers"  # OUT/workers/worker-N.log: each local worker process's output
WORKER_COMMAND = (sys.executable, "-m", "interp.sweep.worker")  # reads {"spec": ..., "cache_dir": ...} on stdin
POLL_SECONDS = 0.5


@dataclass
class SweepOutcome:
    results: SweepResults
    paths: dict[str, Path]
    ran: list[str] = field(default_factory=list)  # trials this process trained (or resumed), in order

    @property
    def failed(self) -> list[str]:
        return [t.name for t in self.results.trials if t.status == "failed"]


def one_line(error: BaseException) -> str:
    """An exception as one line: our own errors by their message, others with their type."""
    message = " ".join(str(error).split())
    return message if isinstance(error, InterpError) else f"{type(error).__name__}: {message}"


def _without_threads(run: RunConfig) -> dict[str, Any]:
    """A config as data without train.threads: how many threads trained a run does not change which run it is."""
    data = run.to_dict()
    data["train"] = {k: v for k, v in data["train"].items() if k != "threads"}
    return data


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


def _prepare(spec: SweepSpec, trial: optuna.Trial) -> tuple[str, RunConfig, Path, bool]:
    """The trial's name, config, run directory and whether it resumes one already there (same config but threads)."""
    overrides = suggest_overrides(trial, spec)
    name = trial.user_attrs.get(NAME_ATTR) or trial_name(
        overrides, short_names(spec.swept_keys), None if spec.method == "grid" else trial.number
    )
    trial.set_user_attr(NAME_ATTR, name)
    trial.set_user_attr("overrides", overrides)
    for key, value in {"error": "", "worker": f"{socket.gethostname()}:{os.getpid()}"}.items():
        trial.set_user_attr(key, value)
    run = trial_config(spec, overrides)
    run_dir = Path(spec.out) / TRIALS_DIR / name
    if not (run_dir / RUN_FILE).is_file():
        return name, run, run_dir, False
    stored = read_run_config(run_dir)
    if _without_threads(stored) != _without_threads(run):
        raise ConfigError(f"{run_dir} was trained with another config; sweep into a new out directory, or delete it")
    return name, stored, run_dir, True


def run_trial(
    study: optuna.Study, trial_id: int, spec: SweepSpec, *, cache_dir: Path | None, progress: bool, echo: bool = False
) -> tuple[str, TrialState, str]:
    """Train one taken trial and tell the study how it ended: (name, state, what happened in a few words).

    KeyboardInterrupt fails the trial, queues it again and is raised on; anything else that is not an Exception
    (the process dying) leaves it RUNNING for `fail_stale_trials` to find."""
    study.sampler = sampler(spec, study._storage.get_trial_number_from_id(trial_id))
    trial = optuna.Trial(study, trial_id)
    threads, started = torch.get_num_threads(), time.perf_counter()
    name, tracker, pruned = f"trial {trial.number}", None, {"step": None}

    def on_eval(step: int, metrics: dict[str, float]) -> bool:
        trial.report(metrics[spec.metric], step)
        if trial.should_prune():
            pruned["step"] = step
            return True
        return False

    try:
        with Heartbeat(study, trial_id, spec.heartbeat):
            name, run, run_dir, resume = _prepare(spec, trial)
            sinks = [_echo_record] if echo else []
            if spec.wandb:
                tracker = WandbTracker.start(
                    project=spec.project, directory=Path(spec.out).resolve(), name=name, config=run.to_dict()
                )
                tracker_log = _TrackerLog(tracker, run_dir, resume)
                sinks.append(tracker_log)
            on_log = (lambda record: [sink(record) for sink in sinks]) if sinks else None
            result = train(run, run_dir, resume=resume, cache_dir=cache_dir, progress=progress, on_log=on_log, on_eval=on_eval)
            if spec.wandb:
                tracker_log.close()
    except KeyboardInterrupt:
        _finish_tracker(tracker, failed=True)
        study.tell(trial, state=TrialState.FAIL)
        requeue(study, study._storage.get_trial(trial_id))
        raise
    except Exception as error:  # this trial failed: recorded, and the sweep goes on
        _finish_tracker(tracker, failed=True)
        trial.set_user_attr("error", one_line(error))
        trial.set_user_attr("traceback", traceback.format_exc())
        study.tell(trial, state=TrialState.FAIL)
        return name, TrialState.FAIL, f"FAILED: {one_line(error)}"
    finally:
        torch.set_num_threads(threads)  # train.threads sets the process-wide count
    _finish_tracker(tracker, failed=False)
    trial.set_user_attr("tokens_per_second", result.tokens_per_second)
    trial.set_user_attr("wall_seconds", time.perf_counter() - started)
    if pruned["step"] is not None:
        study.tell(trial, state=TrialState.PRUNED)
        return name, TrialState.PRUNED, f"pruned at step {pruned['step']}"
    final = read_metrics(run_dir)[-1]
    frozen = study.tell(trial, float(final[spec.metric]))
    if frozen.state != TrialState.COMPLETE:  # e.g. a NaN metric
        return name, frozen.state, f"FAILED: {spec.metric} {final[spec.metric]} is not a number"
    return name, TrialState.COMPLETE, f"{spec.metric} {final[spec.metric]:.4f}, {result.tokens_per_second:,.0f} tokens/s"


def _finish_tracker(tracker: WandbTracker | None, *, failed: bool) -> None:
    if tracker is not None:
        tracker.finish(failed=failed)


def run_worker(
    spec: SweepSpec,
    *,
    cache_dir: Path | None = DEFAULT_CACHE,
    progress: bool = False,
    log: Callable[[str], None] = print,
    echo: bool = False,
) -> list[str]:
    """Take and train queued trials of the spec's study until none is queued or running; the names trained.

    While other workers' trials run, it waits: a trial whose heartbeat stops is queued again and taken here."""
    study = open_study(spec)
    lock = claim_lock(spec)
    ran = []
    while True:
        for number in fail_stale_trials(study, spec.heartbeat, lock):
            log(f"trial {number}: its worker stopped; queued again to resume from its last checkpoint")
        trial_id = take_trial(study, lock)
        if trial_id is None:
            if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                return ran
            time.sleep(min(spec.heartbeat, 5.0))
            continue
        name, _, what = run_trial(study, trial_id, spec, cache_dir=cache_dir, progress=progress, echo=echo)
        ran.append(name)
        log(f"{name}: {what}")


def _worker_job(spec: SweepSpec, cache_dir: Path | None) -> bytes:
    return json.dumps(
        {"spec": spec.to_dict(), "cache_dir": None if cache_dir is None else str(Path(cache_dir).resolve())}
    ).encode()


def run_local_workers(spec: SweepSpec, cache_dir: Path | None, log: Callable[[str], None]) -> None:
    """`spec.parallel` worker processes on this machine, each on the spec's threads per trial; waits for all.
    Interrupted, each worker is sent SIGINT: its trial is queued again, to resume on the next run."""
    folder = Path(spec.out) / WORKERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    threads = str(trial_threads(spec))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    processes = []
    try:
        for index in range(spec.parallel):
            with open(folder / f"worker-{index}.log", "ab") as output:
                process = subprocess.Popen(
                    list(WORKER_COMMAND), stdin=subprocess.PIPE, stdout=output, stderr=subprocess.STDOUT, env=env
                )
            process.stdin.write(_worker_job(spec, cache_dir))
            process.stdin.close()
            processes.append(process)
        log(f"{spec.parallel} worker processes; their output is in {folder}")
        while any(p.poll() is None for p in processes):
            time.sleep(POLL_SECONDS)
        for index, process in enumerate(processes):
            if process.returncode != 0:
                log(f"worker {index} exited with code {process.returncode}; see {folder / f'worker-{index}.log'}")
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def trial_threads(spec: SweepSpec) -> int:
    """The threads a trial of this spec trains on (train.threads of its config: cores // parallel unless fixed)."""
    overrides = {}
    for axis in spec.axes:
        overrides.update({axis.name: axis.low} if isinstance(axis, Range) else dict(axis.options[0]))
    return trial_config(spec, overrides).train.threads


def run_sweep(
    spec: SweepSpec,
    *,
    cache_dir: Path | None = DEFAULT_CACHE,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> SweepOutcome:
    """Run the spec's queued trials (in this process, or `spec.parallel` local worker processes), then write
    results.csv and results.json in `spec.out`. Every config is checked and the study opened (or refused) before
    anything trains. The page (sweep.html) is the caller's to write from `outcome.results`."""
    planned = check_trials(spec)
    if spec.wandb:
        import_wandb()  # missing wandb is an error before anything trains
    study = open_study(spec, planned=planned)
    before = {t.number for t in study.trials if t.state.is_finished()}
    if before:
        log(f"{len(before)} of {len(study.trials)} trials of {spec.name!r} already finished")
    ran: list[str] = []
    if spec.parallel == 1:
        ran = run_worker(spec, cache_dir=cache_dir, progress=progress, log=log)
    else:
        run_local_workers(spec, cache_dir, log)
        for trial in study.get_trials(deepcopy=False):
            if trial.state.is_finished() and trial.number not in before:
                ran.append(trial.user_attrs.get(NAME_ATTR, str(trial.number)))
    results = collect_results(spec, study)
    return SweepOutcome(results=results, paths=write_results(results), ran=ran)
