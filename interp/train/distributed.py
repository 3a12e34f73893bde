"""Data-parallel training under torchrun: one process per rank, gradients averaged by DDP, over NCCL on GPUs
(each rank on cuda:LOCAL_RANK) and gloo over TCP on CPUs.

Every rank builds the same model from the same seed and computes the same global batch (batches are a pure
function of (seed, step), interp.train.data), then trains on its own equal slice of the rows. DDP averages the
gradients, so each optimizer step is the single-process step on the whole batch, up to float rounding.
Rank 0 alone reads and writes the run directory; on resume it sends the step, optimizer and RNG state to the
others (DDP sends the weights), so the other machines need no copy of the run.

    with process_group(run) as world:
        result = train(run, Path("models/runs/a1"))  # interp.train.loop asks current_world() for the rank

Alone (no torchrun in the environment) the group is a world of one and there is nothing to join:

>>> with process_group() as world:
...     world.size, world.is_main
(1, True)

Launch (see README, "Training on several processes or machines"):

    torchrun --nproc_per_node 2 -m interp.train --preset attn-only-1l --out models/runs/a1                # CPUs, gloo
    torchrun --nproc_per_node 8 -m interp.train --device cuda --preset attn-only-1l --out models/runs/a1  # GPUs, NCCL

NCCL moves only GPU tensors, so every collective here builds its tensors on the world's `device` (cuda:LOCAL_RANK
under NCCL, the CPU under gloo) and hands results back on the CPU.
"""

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from interp.core.device import DeviceLike, resolve_device
from interp.core.errors import ConfigError, DeviceError, InterpError
from interp.train.config import RunConfig
from interp.train.precision import MixedPrecision


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name}={raw!r} is not an integer; launch with torchrun or unset it") from None


def cpu_cores() -> int:
    """Cores this process may run on (respects taskset / container CPU sets where the OS reports them)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@dataclass(frozen=True)
class World:
    """Where this process sits in the job: `size` ranks in all, `local_size` of them on this machine, training on
    `device` (cuda:LOCAL_RANK under NCCL, the CPU under gloo and alone)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that reads and writes the run directory and shows progress."""
        return self.rank == 0

    def check_run(self, run: RunConfig) -> None:
        """Refuse, in one line, a run this world cannot train exactly as a single process would."""
        batch_size = run.train.batch_size
        if batch_size % self.size:
            raise ConfigError(
                f"train.batch_size ({batch_size}) must be divisible by the world size ({self.size} processes) so every "
                f"rank trains on an equal slice of each batch; use a multiple of {self.size} or launch another number of processes"
            )
        if self.size > 1 and run.noise.where in ("activation", "attn_scores"):
            # Each rank would draw noise for its own slice from the same per-step generator: every slice would get the
            # same noise, which is not the single-process noise on the whole batch.
            raise ConfigError(
                f"noise.where = {run.noise.where!r} is not supported with more than one process yet; train it in one "
                "process (weights, tokens and labels noise do work under torchrun)"
            )

    def training_device(self, requested: DeviceLike = "auto") -> torch.device:
        """The device this rank trains on. Alone: `requested`, resolved. In a job: the one the group was joined
        for (`process_group(device=)`), which `requested` must agree with ("auto" always does)."""
        if self.size == 1:
            return resolve_device(requested)
        if requested is None or str(requested).strip().lower() == "auto":
            return self.device
        wanted = resolve_device(requested)
        if wanted.type != self.device.type or (_names_index(requested) and wanted != self.device):
            raise DeviceError(
                f"this job's processes train on {self.device} (each rank on its own device), not {wanted}; "
                f"pass the same --device to every rank (cuda or cpu, without an index under torchrun)"
            )
        return self.device

    def shard(self, batch: Tensor) -> Tensor:
        """This rank's rows of the global batch: a contiguous block of batch_size / size rows."""
        rows = batch.shape[0] // self.size
        return batch[self.rank * rows : (self.rank + 1) * rows]

    def mean(self, value: float) -> float:
        """The mean of `value` over all ranks (the global batch's loss from the per-rank losses of equal slices)."""
        if self.size == 1:
            return value
        total = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(total)
        return float(total) / self.size

    def data_parallel(self, model: torch.nn.Module) -> Callable[[Callable[[Tensor], Tensor], Tensor], Tensor]:
        """`run(forward, tokens)`: a training forward over `model`'s parameters, run inside DistributedDataParallel,
        which averages their gradients across ranks during backward (and copies rank 0's weights to every rank when
        built). In a world of one, just `forward(tokens)`."""
        if self.size == 1:
            return _call
        from torch.nn.parallel import DistributedDataParallel

        # Buffers (causal masks) never change: synced once when built, not before every forward.
        device_ids = [self.device.index] if self.device.type == "cuda" else None  # the model is on self.device already
        return DistributedDataParallel(_ForwardModule(model), device_ids=device_ids, forward_sync_buffers=False)

    def broadcast_json(self, value: Any) -> Any:
        """Rank 0's `value` (anything JSON can hold) on every rank; the other ranks pass None."""
        if self.size == 1:
            return value
        payload = json.dumps(value).encode() if self.is_main else b""
        length = torch.tensor([len(payload)], dtype=torch.int64, device=self.device)
        try:
            dist.broadcast(length, src=0)
            buffer = (
                torch.frombuffer(bytearray(payload), dtype=torch.uint8).to(self.device)
                if self.is_main
                else torch.empty(int(length), dtype=torch.uint8, device=self.device)
            )
            dist.broadcast(buffer, src=0)
        except RuntimeError:  # the backend lost rank 0, which stopped on an error during setup and printed it
            if self.is_main:
                raise
            raise InterpError(f"rank {self.rank}: rank 0 stopped before sending the run's state; its error says why") from None
        return json.loads(buffer.cpu().numpy().tobytes().decode())

    def broadcast_tensors(self, tensors: dict[str, Tensor] | None) -> dict[str, Tensor]:
        """Rank 0's named tensors on every rank, on the CPU (names, shapes and dtypes travel as JSON first)."""
        if self.size == 1:
            return tensors or {}
        layout = self.broadcast_json(
            {name: [list(t.shape), str(t.dtype).removeprefix("torch.")] for name, t in tensors.items()} if self.is_main else None
        )
        out = {}
        for name in sorted(layout):
            shape, dtype = layout[name]
            if self.is_main:
                tensor = tensors[name].to(self.device).contiguous()
            else:
                tensor = torch.empty(shape, dtype=getattr(torch, dtype), device=self.device)
            dist.broadcast(tensor, src=0)
            out[name] = tensor.cpu()
        return out

    def share_start(
        self, optimizer: torch.optim.Optimizer, precision: MixedPrecision | None = None, *, start: int, resumed: bool
    ) -> tuple[int, bool]:
        """Rank 0's first step and whether it resumed, with its optimizer, loss-scaler (`precision`'s, for fp16)
        and torch RNG state, on every rank.

        The other ranks never read the run directory, so they learn here where rank 0's checkpoint left off.
        """
        if self.size == 1:
            return start, resumed
        from interp.train.checkpoints import load_optimizer_state, optimizer_tensors

        shared = self.broadcast_json({"start": start, "resumed": resumed} if self.is_main else None)
        if shared["resumed"]:
            tensors, meta = optimizer_tensors(optimizer) if self.is_main else (None, None)
            meta = self.broadcast_json(meta)
            tensors = self.broadcast_tensors(tensors)
            if not self.is_main:
                load_optimizer_state(optimizer, tensors, meta)
            if precision is not None:
                scaler = self.broadcast_json(precision.state() if self.is_main else None)
                if not self.is_main:
                    precision.load_state(scaler)
        rng = torch.get_rng_state().to(self.device)  # the CPU generator's state, as bytes
        dist.broadcast(rng, src=0)
        torch.set_rng_state(rng.cpu())
        return shared["start"], shared["resumed"]


def _call(forward: Callable[[Tensor], Tensor], tokens: Tensor) -> Tensor:
    return forward(tokens)


class _ForwardModule(torch.nn.Module):
    """A Module that runs whatever training forward it is given over `model`'s own Parameters.

    DDP averages gradients only for a forward that runs through the module it wraps, and training calls the
    hook-free interp.model.engine.fast_forward (possibly with training noise) rather than model.forward; registering
    `model` here gives DDP the parameters, and passing the forward per call lets it change from step to step.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, forward: Callable[[Tensor], Tensor], tokens: Tensor) -> Tensor:
        return forward(tokens)


def current_world() -> World:
    """The running process group's view of this process (set up by `process_group`), else a world of one."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    size = dist.get_world_size()
    local_rank = _env_int("LOCAL_RANK", 0)
    device = torch.device("cuda", local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
    return World(
        rank=dist.get_rank(), size=size, local_rank=local_rank, local_size=_env_int("LOCAL_WORLD_SIZE", size), device=device
    )


def launch_world() -> World:
    """The world torchrun describes in the environment (RANK, WORLD_SIZE, ...), before joining it."""
    size = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    if size < 1 or not 0 <= rank < size:
        raise ConfigError(f"RANK={rank} and WORLD_SIZE={size} from the environment make no sense; launch with torchrun")
    return World(rank=rank, size=size, local_rank=_env_int("LOCAL_RANK", 0), local_size=_env_int("LOCAL_WORLD_SIZE", size))


def reports_errors() -> bool:
    """Whether this process prints a one-line error: every rank raises the same one, so each machine's first does."""
    return _env_int("LOCAL_RANK", 0) == 0


def _names_index(device: DeviceLike) -> bool:
    """Whether a device spec names a GPU by number ("cuda:1"), which under torchrun LOCAL_RANK decides."""
    return ":" in str(device)


def job_device(world: World, device: DeviceLike = "auto") -> torch.device:
    """The device a rank of `world` trains on for `--device device`: cuda:LOCAL_RANK for cuda (or auto on a GPU
    machine), the CPU for cpu; a one-line DeviceError for what a torchrun job cannot use."""
    target = resolve_device(device)
    if target.type == "cpu":
        return target
    if target.type != "cuda":
        raise DeviceError(f"training under torchrun runs on CUDA GPUs (NCCL) or CPUs (gloo), not {target.type}; use --device cpu")
    if _names_index(device):
        raise DeviceError(f"--device {device}: under torchrun each process uses cuda:LOCAL_RANK; pass --device cuda")
    count = torch.cuda.device_count()
    if world.local_rank >= count:
        raise DeviceError(
            f"rank {world.rank} is process {world.local_rank} on its machine, which has {count} CUDA GPU(s); "
            f"launch at most --nproc_per_node {count} there"
        )
    return torch.device("cuda", world.local_rank)


@contextmanager
def process_group(run: RunConfig | None = None, device: DeviceLike = "auto") -> Iterator[World]:
    """Join the torchrun job in the environment when WORLD_SIZE > 1, and leave it on exit, also on error; alone,
    do nothing. With `run`, it is checked against the world before joining, so a bad launch fails at once; so is
    `device` (`job_device`): on CUDA GPUs the job runs over NCCL, each rank on cuda:LOCAL_RANK; on CPUs over gloo.

    Each rank uses cores / processes-on-this-machine torch threads (at least one); train.threads overrides that.
    """
    world = launch_world()
    if run is not None:
        world.check_run(run)
    if world.size == 1:
        resolve_device(device)  # a device this machine lacks is the same one-line error alone
        yield world
        return
    target = job_device(world, device)
    torch.set_num_threads(max(1, cpu_cores() // world.local_size))
    if target.type == "cuda":
        torch.cuda.set_device(target)  # before joining: NCCL binds each rank's communicator to its current device
    # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, set by torchrun
    dist.init_process_group("nccl" if target.type == "cuda" else "gloo")
    try:
        yield current_world()
    finally:
        dist.destroy_process_group()
