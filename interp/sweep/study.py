"""A sweep's Optuna study: its storage, its creation (once, by whichever process comes first), taking its queued
trials one at a time, and heartbeats that let another worker take over the trial of a killed one.

The study is made with every trial it will run already queued (`enqueue_trial`): a grid's points with their
parameters, or `n_trials` empty trials that the sampler fills when they start. A worker takes a queued trial by
moving it from WAITING to RUNNING, which the storage does for exactly one process, so several processes or machines
on one storage run every trial exactly once and never more than n_trials. The spec's hash is stored in the study's
user attrs; another spec on that study is refused.

>>> import tempfile
>>> spec = SweepSpec.from_dict({"preset": "attn-only-1l", "sweep": {"train.lr": [1e-3, 3e-3]}, "out": tempfile.mkdtemp()},
...     name="lr")
>>> study = open_study(spec, planned=check_trials(spec))
>>> [(t.number, t.state.name, t.user_attrs[NAME_ATTR]) for t in study.trials]
[(0, 'WAITING', 'lr=0.001'), (1, 'WAITING', 'lr=0.003')]
>>> trial_id = take_trial(study)
>>> study.trials[0].state.name, take_trial(study) != trial_id
('RUNNING', True)
"""

import fcntl
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import FrozenTrial, TrialState

from interp.core.errors import ConfigError
from interp.sweep.results import NAME_ATTR  # trial user attr: its run directory's name under OUT/trials (a retry keeps it)
from interp.sweep.spec import SweepSpec
from interp.sweep.trials import Trial, check_trials, grid_params, grid_space

STUDY_FILE = "study.db"
HASH_ATTR = "interp_spec_hash"  # study user attr, written last by the process that made the study
SPEC_ATTR = "interp_spec"
HEARTBEAT_ATTR = "interp_heartbeat"  # trial system attr: wall-clock time of the last heartbeat
STALE_HEARTBEATS = 3  # a running trial silent this many heartbeats is failed and queued again
MAX_RETRY = 3  # times an interrupted trial is queued again
READY_SECONDS = 60.0  # how long to wait for another process to finish making the study

optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours to print
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def storage_url(spec: SweepSpec) -> str:
    """The spec's storage, or sqlite:///OUT/study.db."""
    return spec.storage or f"sqlite:///{Path(spec.out) / STUDY_FILE}"


def _local_file(url: str) -> Path | None:
    if url.startswith("journal:"):
        return Path(url.removeprefix("journal:"))
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    return None


def open_storage(url: str, *, create: bool = True) -> optuna.storages.BaseStorage | None:
    """An Optuna storage: `journal:PATH` is a JournalStorage on that file (with open() locks, which work on NFS),
    anything else an RDB URL. With create=False a local file that does not exist is None (nothing is written)."""
    path = _local_file(url)
    if path is not None and not create and not path.is_file():
        return None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if url.startswith("journal:"):
            return JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))
        for attempt in range(3):  # two processes making one new SQLite file can race on its schema
            try:
                return RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {})
            except Exception:
                if attempt == 2:
                    raise
                time.sleep(0.5 + attempt)
    except (ValueError, ImportError, optuna.exceptions.StorageInternalError) as error:
        raise ConfigError(
            f"storage {url!r} cannot be opened ({' '.join(str(error).split())}); give sqlite:///PATH or journal:PATH"
        ) from None
    raise AssertionError("unreachable")


def sampler(spec: SweepSpec, number: int = 0) -> optuna.samplers.BaseSampler:
    """The sampler for trial `number`: GridSampler for a grid; for random and tpe one seeded by (seed, number), so a
    trial's draw depends on the seed and the trials before it, not on which process runs it."""
    if spec.method == "grid":
        return optuna.samplers.GridSampler(grid_space(spec), seed=0)
    seed = (spec.seed * 1_000_003 + number) % 2**32
    if spec.method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(1, spec.n_trials // 4)))


def _check_owner(study: optuna.Study, spec: SweepSpec, url: str) -> None:
    stored = study.user_attrs.get(HASH_ATTR)
    if stored != spec.spec_hash:
        raise ConfigError(
            f"{url} holds sweep {spec.name!r} made by another spec (spec hash {str(stored)[:12]}, this one {spec.spec_hash[:12]}); "
            "sweep into a new out directory or storage, or put the spec back as it was"
        )


def open_study(spec: SweepSpec, *, planned: list[Trial] | None = None, create: bool = True) -> optuna.Study | None:
    """The spec's study: made and filled with its queued trials by the first process, loaded by the others; refused
    (ConfigError) when another spec made it. With create=False a study that does not exist yet is None."""
    url = storage_url(spec)
    storage = open_storage(url, create=create)
    if storage is None:
        return None
    names = [s.study_name for s in storage.get_all_studies()]
    others = [name for name in names if name != spec.name]
    if spec.storage is None and others:  # OUT/study.db belongs to the sweep in OUT
        raise ConfigError(f"{url} holds sweep {others[0]!r}, not {spec.name!r}; sweep into a new out directory")
    direction = "minimize" if spec.goal == "min" else "maximize"
    options = {"storage": storage, "study_name": spec.name, "sampler": sampler(spec), "pruner": spec.pruner.build()}
    if spec.name not in names:
        if not create:
            return None
        try:
            study = optuna.create_study(direction=direction, load_if_exists=False, **options)
        except optuna.exceptions.DuplicatedStudyError:  # another process made it first
            pass
        else:
            _fill(study, spec, check_trials(spec) if planned is None else planned)
            return study
    study = optuna.load_study(**options)
    waited = time.monotonic()
    while HASH_ATTR not in study.user_attrs and time.monotonic() - waited < READY_SECONDS:
        time.sleep(0.2)  # the process that made it is still queueing its trials
    if HASH_ATTR not in study.user_attrs:
        raise ConfigError(
            f"{url}: sweep {spec.name!r} was left half-made by a process that stopped; delete {url} and start again"
        )
    _check_owner(study, spec, url)
    return study


def _fill(study: optuna.Study, spec: SweepSpec, planned: list[Trial]) -> None:
    if spec.method == "grid":
        for trial in planned:
            study.enqueue_trial(grid_params(spec, trial.overrides_dict), user_attrs={NAME_ATTR: trial.name})
    else:
        for _ in range(spec.n_trials):
            study.enqueue_trial({})  # parameters drawn by the sampler when a worker starts it
    study.set_user_attr(SPEC_ATTR, spec.to_dict())
    study.set_user_attr(HASH_ATTR, spec.spec_hash)  # last: the study is ready


def _trial_id(study: optuna.Study, number: int) -> int:
    storage = study._storage
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)


def claim_lock(spec: SweepSpec) -> Path | None:
    """The lock file that makes taking a trial atomic on a SQLite study, or None for other storages.

    Optuna moves a trial WAITING -> RUNNING with SELECT ... FOR UPDATE, which SQLite ignores: two processes can both
    read WAITING and both take the trial (seen in the two-process test). Journal files (under their own lock) and
    database servers need none."""
    path = _local_file(storage_url(spec))
    return None if path is None or storage_url(spec).startswith("journal:") else path.with_name(path.name + ".lock")


@contextmanager
def _locked(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def take_trial(study: optuna.Study, lock: Path | None = None) -> int | None:
    """Move one queued (WAITING) trial to RUNNING and return its id; the storage (holding `lock`, see `claim_lock`)
    lets exactly one process do so. None when nothing is queued. (study.ask() would make a new trial instead, which
    a grid must never get.)"""
    with _locked(lock):
        return _take(study)


def _take(study: optuna.Study) -> int | None:
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial_id = _trial_id(study, frozen.number)
        try:
            if study._storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                study._storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
                return trial_id
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


# Optuna's callback that queues a failed trial again (params, user attrs, intermediate values, retry history); renamed
# RetryHeartbeatStaleTrialCallback in Optuna 4.9
RETRY = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue a failed trial again with its parameters and run directory, at most MAX_RETRY times."""
    with warnings.catch_warnings():  # experimental in Optuna since 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        RETRY(max_retry=MAX_RETRY, inherit_intermediate_values=True)(study, trial)


def fail_stale_trials(study: optuna.Study, heartbeat: float, lock: Path | None = None) -> list[int]:
    """Fail the running trials whose heartbeat stopped (a killed process) and queue them again; their numbers.

    Optuna's own heartbeat serves only RDB storages; this one, a trial system attr, serves journal files too."""
    with _locked(lock):
        return _fail_stale(study, heartbeat)


def _fail_stale(study: optuna.Study, heartbeat: float) -> list[int]:
    failed = []
    now = time.time()
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        last = frozen.system_attrs.get(HEARTBEAT_ATTR, frozen.datetime_start.timestamp() if frozen.datetime_start else now)
        if now - last < STALE_HEARTBEATS * heartbeat:
            continue
        try:
            study._storage.set_trial_user_attr(_trial_id(study, frozen.number), "error", "worker stopped (no heartbeat)")
            if not study._storage.set_trial_state_values(_trial_id(study, frozen.number), state=TrialState.FAIL):
                continue
        except optuna.exceptions.UpdateFinishedTrialError:  # another process got there first, or it just finished
            continue
        requeue(study, study._storage.get_trial(_trial_id(study, frozen.number)))
        failed.append(frozen.number)
    return failed


class Heartbeat:
    """A thread recording that trial `trial_id` is alive every `interval` seconds, while the `with` block runs."""

    def __init__(self, study: optuna.Study, trial_id: int, interval: float) -> None:
        self.storage, self.trial_id, self.interval = study._storage, trial_id, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.storage.set_trial_system_attr(self.trial_id, HEARTBEAT_ATTR, time.time())
            except Exception:  # the trial finished, or the storage is briefly busy: the next beat tries again
                pass

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()


def counts(study: optuna.Study | None) -> dict[str, int]:
    """How many of the study's trials are in each state (lower-case names)."""
    out = {state.name.lower(): 0 for state in TrialState}
    for trial in study.trials if study is not None else []:
        out[trial.state.name.lower()] += 1
    return out
