"""Data-parallel training (interp.train.distributed): real torchrun launches against a single-process reference.

The launches cost an interpreter start each (TransformerLens import, 5-15 s on this machine), so there are only
two: two processes on one machine, and two "machines" (one process each, in separate working directories)
resuming an interrupted run. The rest runs in this process.
"""

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import torch

from interp.core.errors import ConfigError, DeviceError
from interp.train.checkpoints import list_checkpoints, load_model
from interp.train.data import TrainingData
from interp.train.distributed import World
from interp.train.loop import METRICS_FILE, train
from interp.train.presets import parse_override, run_config

REPO = Path(__file__).resolve().parents[2]
# 8-row batches of 16 tokens, 24 steps: a few seconds of training at most, checkpoints at steps 0, 1, 5, 24.
OVERRIDES = [
    "data.corpus='none'", "data.repeated_fraction=1.0", "data.span_min=2", "data.span_max=6",
    "model.n_ctx=16", "model.d_model=32", "model.d_head=8",
    "train.batch_size=8", "train.eval_batches=1", "train.eval_every=4", "train.n_checkpoints=4", "train.steps=24",
]  # fmt: skip
TINY = ["--preset", "attn-only-1l", "--no-progress", *[arg for o in OVERRIDES for arg in ("--set", o)]]
LOSS_TOLERANCE = 1e-5  # float rounding of two half-batch means vs one whole-batch mean; seen: 1e-6
WEIGHT_TOLERANCE = 1e-5  # seen: 6e-8
# The key bias has an exactly zero gradient (softmax ignores a constant added to every score), so AdamW turns
# rounding noise of ~1e-10 into steps of size lr in either direction: it is no measure of agreement.
ZERO_GRADIENT = ".attn.k.bias"


def tiny_run():
    return run_config("attn-only-1l", overrides=dict(parse_override(o) for o in OVERRIDES))


def read_metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines()]


def max_metric_difference(a: list[dict], b: list[dict]) -> float:
    assert [m["step"] for m in a] == [m["step"] for m in b]
    assert [sorted(m) for m in a] == [sorted(m) for m in b]
    return max(abs(x[key] - y[key]) for x, y in zip(a, b) for key in x)


def assert_same_weights(a_dir: Path, b_dir: Path) -> None:
    a, b = load_model(a_dir), load_model(b_dir)
    for (name, p), (other, q) in zip(a.state_dict().items(), b.state_dict().items()):
        assert name == other
        if not name.endswith(ZERO_GRADIENT):
            assert torch.allclose(p, q, rtol=0, atol=WEIGHT_TOLERANCE), f"{name}: {(p - q).abs().max():.2e}"


def file_names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_torchrun(args: list, cwd: Path) -> subprocess.Popen:
    """`torchrun ARGS` from this venv, in its own session (so that a hung launch can be killed with its workers),
    its output going to a file next to `cwd` (a pipe nobody reads could fill up and stall the job)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(cwd.parent / f"{cwd.name}.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", *map(str, args)],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc.log = Path(log.name)
    return proc


def finish(procs: list[subprocess.Popen], timeout: float = 180) -> list[tuple[int, str]]:
    """Wait for launches: [(exit code, output)]. A launch still running at the timeout, or when the test fails,
    is killed with its whole session (agent and workers)."""
    try:
        for proc in procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pytest.fail(f"torchrun did not finish within {timeout} s:\n{proc.log.read_text()}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return [(proc.returncode, proc.log.read_text()) for proc in procs]


def torchrun(args: list, cwd: Path) -> tuple[int, str]:
    return finish([start_torchrun(args, cwd)])[0]


def run_module(*args) -> tuple[int, str]:
    """`python -m interp.train ARGS` in this process (no torchrun: a world of one): (exit code, stderr)."""
    from interp.train.__main__ import main

    argv, threads, err = sys.argv, torch.get_num_threads(), io.StringIO()
    sys.argv = ["interp.train", *map(str, args)]
    try:
        with redirect_stdout(io.StringIO()), redirect_stderr(err):
            main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = argv
        torch.set_num_threads(threads)
    return code, err.getvalue()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The single-process run, through `python -m interp.train` without torchrun."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    assert run_module(*TINY, "--out", run_dir) == (0, "")
    return run_dir


def test_two_processes_train_like_one_with_the_same_global_batch(reference, tmp_path):
    port = free_port()
    launch = ["--nproc_per_node", 2, "--master_addr", "127.0.0.1", "--master_port", port, "-m", "interp.train"]
    code, output = torchrun([*launch, *TINY, "--out", "ddp"], cwd=tmp_path)
    assert code == 0, output
    run_dir = tmp_path / "ddp"

    assert max_metric_difference(read_metrics(reference), read_metrics(run_dir)) < LOSS_TOLERANCE
    assert file_names(run_dir) == file_names(reference)  # same checkpoints, same files in each
    for ckpt in list_checkpoints(run_dir):
        load_model(ckpt)  # every checkpoint loads like a single-process one
    assert_same_weights(reference, run_dir)
    ddp_file, reference_file = (json.loads((d / "run.json").read_text()) for d in (run_dir, reference))
    assert [d["processes"] for d in ddp_file.pop("devices")] == [2] and reference_file.pop("devices")[0]["processes"] == 1
    assert ddp_file == reference_file


def test_two_machines_resume_an_interrupted_run_and_only_rank_0_writes(reference, tmp_path):
    # An interrupted single-process run: the last checkpoint (step 24) was never written.
    machine0, machine1 = tmp_path / "machine0", tmp_path / "machine1"
    machine1.mkdir()
    shutil.copytree(reference, machine0 / "run")
    shutil.rmtree(machine0 / "run" / "checkpoints" / "step_000024")
    assert list_checkpoints(machine0 / "run")[-1].step == 5

    # The same command on both "machines", each in its own working directory: rank 1 sees no run directory
    # (it gets the config, step, optimizer and RNG state from rank 0) and must write none.
    port = free_port()
    procs = [
        start_torchrun(
            [
                "--nnodes",
                2,
                "--node_rank",
                rank,
                "--nproc_per_node",
                1,
                "--master_addr",
                "127.0.0.1",
                "--master_port",
                port,
                "-m",
                "interp.train",
                "--resume",
                "--out",
                "run",
                "--no-progress",
            ],
            cwd=cwd,
        )  # fmt: skip
        for rank, cwd in ((0, machine0), (1, machine1))
    ]
    results = finish(procs)
    for code, output in results:
        assert code == 0, output

    assert list(machine1.iterdir()) == []
    assert "checkpoints: 4" in results[0][1] and "checkpoints" not in results[1][1]  # rank 0 alone reports
    assert max_metric_difference(read_metrics(reference), read_metrics(machine0 / "run")) < LOSS_TOLERANCE
    assert_same_weights(reference, machine0 / "run")


@pytest.mark.parametrize("rank", [0, 1])
def test_a_world_that_does_not_divide_the_batch_is_a_one_line_error(rank, tmp_path, monkeypatch):
    # What torchrun --nproc_per_node 2 sets for each worker; the check comes before joining, so nothing waits.
    for name, value in {"WORLD_SIZE": 2, "RANK": rank, "LOCAL_RANK": rank, "LOCAL_WORLD_SIZE": 2}.items():
        monkeypatch.setenv(name, str(value))
    code, err = run_module(*TINY, "--set", "train.batch_size=5", "--out", tmp_path / "bad")
    assert code == 2
    if rank == 0:
        assert len(err.splitlines()) == 1 and err.startswith("error: train.batch_size (5) must be divisible by the world size (2")
    else:
        assert err == ""  # every rank refuses; one process per machine prints it
    assert not (tmp_path / "bad").exists()


class LocalWorld(World):
    """A rank of a pretend world inside this process: collectives are the identity, the forward is recorded."""

    def __init__(self, rank: int, size: int):
        super().__init__(rank=rank, size=size)
        object.__setattr__(self, "seen", [])

    def mean(self, value: float) -> float:
        return value

    def data_parallel(self, model):
        def run(forward, tokens):
            self.seen.append(tokens.clone())
            return forward(tokens)

        return run

    def share_start(self, optimizer, precision=None, *, start, resumed):
        return start, resumed


@pytest.mark.parametrize("rank", [0, 1])
def test_each_rank_trains_on_its_own_rows_and_only_rank_0_writes(rank, tmp_path, monkeypatch):
    world = LocalWorld(rank, size=2)
    monkeypatch.setattr("interp.train.loop.current_world", lambda: world)
    run = tiny_run()
    result = train(run, tmp_path / "run", progress=False)

    data = TrainingData.prepare(run)
    assert len(world.seen) == run.train.steps
    for step, tokens in enumerate(world.seen):
        assert torch.equal(tokens, data.batch(step)[4 * rank : 4 * rank + 4])
    assert (tmp_path / "run").exists() == (rank == 0)
    assert len(result.checkpoints) == (4 if rank == 0 else 0)


def test_the_slices_of_all_ranks_are_the_global_batch():
    batch = torch.arange(24).view(12, 2)
    slices = [World(rank=r, size=3).shard(batch) for r in range(3)]
    assert [len(s) for s in slices] == [4, 4, 4]
    assert torch.equal(torch.cat(slices), batch)


def test_batch_size_and_noise_are_checked_against_the_world():
    run = tiny_run()
    World(size=4).check_run(run)
    with pytest.raises(ConfigError, match=r"train.batch_size \(8\) must be divisible by the world size \(3"):
        World(size=3).check_run(run)
    noisy = run_config(
        "attn-only-1l",
        overrides={
            **dict(parse_override(o) for o in OVERRIDES),
            "noise.where": "activation",
            "noise.site": "resid_pre0",
            "noise.scale": 0.1,
        },
    )
    World(size=1).check_run(noisy)
    with pytest.raises(ConfigError, match="not supported with more than one process"):
        World(size=2).check_run(noisy)


# ---- which device each rank trains on: NCCL on GPUs (cuda:LOCAL_RANK), gloo on CPUs ------------------------


def pretend_gpus(monkeypatch, count: int) -> None:
    """What torch reports on a machine with `count` CUDA GPUs (nothing here runs on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_each_rank_of_a_gpu_job_trains_on_the_gpu_of_its_local_rank(monkeypatch):
    from interp.train.distributed import job_device

    pretend_gpus(monkeypatch, 2)
    rank1 = World(rank=3, size=4, local_rank=1, local_size=2)
    for spec in ("cuda", "auto"):
        assert job_device(rank1, spec) == torch.device("cuda", 1)
    assert job_device(rank1, "cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="under torchrun each process uses cuda:LOCAL_RANK; pass --device cuda"):
        job_device(rank1, "cuda:1")
    with pytest.raises(
        DeviceError, match=r"process 2 on its machine, which has 2 CUDA GPU\(s\); launch at most --nproc_per_node 2"
    ):
        job_device(World(rank=2, size=3, local_rank=2, local_size=3), "cuda")


def test_train_takes_the_jobs_device_and_refuses_another(monkeypatch):
    pretend_gpus(monkeypatch, 2)
    gpu_rank = World(rank=1, size=2, local_rank=1, local_size=2, device=torch.device("cuda", 1))
    for spec in ("auto", None, "cuda", "cuda:1"):
        assert gpu_rank.training_device(spec) == torch.device("cuda", 1)
    for spec in ("cpu", "cuda:0"):
        with pytest.raises(DeviceError, match=r"this job's processes train on cuda:1 .*pass the same --device to every rank"):
            gpu_rank.training_device(spec)
    cpu_rank = World(rank=1, size=2)
    assert cpu_rank.training_device("auto") == cpu_rank.training_device("cpu") == torch.device("cpu")
    with pytest.raises(DeviceError, match="train on cpu"):
        cpu_rank.training_device("cuda")
    assert World().training_device("cuda:1") == torch.device("cuda", 1)  # alone: the device asked for


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a CUDA GPU")
@pytest.mark.parametrize("rank", [0, 1])
def test_a_gpu_job_on_a_machine_without_gpus_is_a_one_line_error_before_joining(rank, tmp_path, monkeypatch):
    for name, value in {"WORLD_SIZE": 2, "RANK": rank, "LOCAL_RANK": rank, "LOCAL_WORLD_SIZE": 2}.items():
        monkeypatch.setenv(name, str(value))
    code, err = run_module(*TINY, "--device", "cuda", "--out", tmp_path / "bad")
    assert code == 2
    assert err.startswith("error: --device cuda was asked for but no CUDA GPU is visible") if rank == 0 else err == ""
    assert not (tmp_path / "bad").exists()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_two_gpus_over_nccl_train_like_one_process(tmp_path):
    port = free_port()
    launch = ["--nproc_per_node", 2, "--master_addr", "127.0.0.1", "--master_port", port, "-m", "interp.train"]
    gpu_args = [*TINY, "--device", "cuda", "--set", "train.tf32=false"]
    code, output = torchrun([*launch, *gpu_args, "--out", "ddp"], cwd=tmp_path)
    assert code == 0, output
    assert run_module(*gpu_args, "--out", tmp_path / "one") == (0, "")
    assert max_metric_difference(read_metrics(tmp_path / "one"), read_metrics(tmp_path / "ddp")) < 1e-4
    assert_same_weights(tmp_path / "one", tmp_path / "ddp")
    devices = json.loads((tmp_path / "ddp" / "run.json").read_text())["devices"]
    assert devices[0]["processes"] == 2 and devices[0]["device"].startswith("cuda:0 ")
