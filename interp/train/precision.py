"""Training numerics on a device: mixed precision (autocast, loss scaling for fp16) and TF32 matmuls.

`train.precision` picks what the forward computes in; the weights, the optimizer state and the checkpoints
stay float32 either way (the master weights), so a bf16 run's checkpoints load like any other:

- "fp32": everything in float32 (on CUDA its matmuls use TF32 tensor cores when `train.tf32` is on);
- "bf16": the forward and the loss under `torch.autocast(dtype=torch.bfloat16)`; bfloat16 keeps float32's
  exponent range, so no loss scaling. CUDA and the CPU (CPU autocast supports it; it is slower than fp32 on a
  CPU without bf16 matrix units, but trains the same way);
- "fp16": the same in float16, whose narrow range needs loss scaling (`torch.amp.GradScaler`): the loss is
  multiplied before backward, gradients are unscaled before clipping, and a step whose gradients overflowed is
  skipped while the scale backs off. CUDA only.

Validation losses are always those of the float32 model (evaluation runs without autocast): the model a
checkpoint holds and an analysis loads. Apple's MPS trains in fp32 only: its autocast and loss scaling are not tested here, so bf16 and fp16 are refused
with a one-line error rather than trusted.

TF32 (`train.tf32`, on by default) rounds the inputs of float32 CUDA matmuls to a 10-bit mantissa on Ampere and
later GPUs, about 8x the float32 rate; `tf32_matmuls` sets it for the length of a run and restores the previous
setting after, so `train()` leaves no global state behind. It changes nothing on the CPU.

>>> precision = MixedPrecision("bf16", torch.device("cpu"))
>>> with precision.autocast():
...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
torch.bfloat16
>>> check_precision("fp16", torch.device("cpu"))
Traceback (most recent call last):
...
interp.core.errors.DeviceError: train.precision = 'fp16' needs a CUDA GPU (loss scaling); use bf16 or fp32 on the CPU
"""

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor

from interp.core.errors import DeviceError

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str, device: torch.device) -> None:
    """A one-line DeviceError where `device` cannot train in `precision`."""
    if precision != "fp32" and device.type not in ("cuda", "cpu"):
        raise DeviceError(f"train.precision = {precision!r} is not supported on {device.type}; train in fp32 there")
    if precision == "fp16" and device.type != "cuda":
        raise DeviceError("train.precision = 'fp16' needs a CUDA GPU (loss scaling); use bf16 or fp32 on the CPU")


class MixedPrecision:
    """Autocast for the forward and loss, and a GradScaler that is a pass-through unless the precision is fp16.

    The step, in order: `with autocast(): loss = ...`, `scale(loss).backward()`, `unscale(optimizer)` (before
    clipping), then `step(optimizer)` (skipped by the scaler after an overflow; the scale is updated).

    This is the mechanism; what training supports where is `check_precision`, which `train()` asks first (CPU
    autocast and GradScaler do work in fp16, which the tests use to check loss scaling without a GPU).
    """

    def __init__(self, precision: str, device: torch.device):
        self.precision, self.device = precision, device
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def autocast(self):
        if self.precision == "fp32":
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=AUTOCAST_DTYPES[self.precision])

    def scale(self, loss: Tensor) -> Tensor:
        return self.scaler.scale(loss)

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        self.scaler.step(optimizer)
        self.scaler.update()

    def state(self) -> dict[str, Any] | None:
        """The loss scaler's state for a checkpoint (None when nothing is scaled): JSON numbers only."""
        return dict(self.scaler.state_dict()) if self.scaler.is_enabled() else None

    def load_state(self, state: dict[str, Any] | None) -> None:
        if self.scaler.is_enabled():
            if not state:
                raise ValueError("the checkpoint holds no loss-scaler state for this fp16 run")
            self.scaler.load_state_dict(state)


@contextmanager
def tf32_matmuls(device: torch.device, enabled: bool) -> Iterator[None]:
    """TF32 for float32 CUDA matmuls on (`enabled`) or off for the length of the block, then the previous setting
    back; nothing changes on another device. Uses torch's `fp32_precision` setting where it has one (2.9 on),
    never together with the older `allow_tf32` flag: torch refuses a mix of the two."""
    if device.type != "cuda":
        yield
        return
    matmul = torch.backends.cuda.matmul
    try:
        setting, previous, value = "fp32_precision", matmul.fp32_precision, "tf32" if enabled else "ieee"
    except AttributeError:  # torch before 2.9 has only the older flag
        setting, previous, value = "allow_tf32", matmul.allow_tf32, enabled
    setattr(matmul, setting, value)
    try:
        yield
    finally:
        setattr(matmul, setting, previous)
