"""The device a command runs on: `auto`, `cpu`, `cuda`, `cuda:N` or `mps`, checked before any work starts.

Every command's `--device` and every API function's `device=` go through `resolve_device`, so asking for a GPU
this machine lacks is one clear error rather than a CUDA traceback halfway through a run.

>>> resolve_device("cpu")
device(type='cpu')
>>> resolve_device("auto").type in {"cpu", "cuda", "mps"}
True
>>> resolve_device("tpu")
Traceback (most recent call last):
...
interp.core.errors.DeviceError: unknown device 'tpu'; choose auto, cpu, cuda, cuda:N or mps
"""

import re

import torch

from interp.core.errors import DeviceError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
DeviceLike = str | torch.device | None


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """The torch device for `device` ("auto" or None: the first CUDA GPU, else Apple's MPS, else the CPU);
    a device this machine does not have is a DeviceError that says what to use instead."""
    if isinstance(device, torch.device):
        device = str(device)
    spec = "auto" if device is None else str(device).strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise DeviceError("--device mps was asked for but this machine has no Apple MPS device; use --device cpu or auto")
        return torch.device("mps")
    match = re.fullmatch(r"cuda(?::(\d+))?", spec)
    if match is None:
        raise DeviceError(f"unknown device {device!r}; choose {DEVICE_CHOICES}")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"--device {spec} was asked for but no CUDA GPU is visible (torch.cuda.is_available() is False; "
            f"torch {torch.__version__}); use --device cpu or auto"
        )
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"--device {spec}: this machine has {count} CUDA GPU(s), cuda:0 to cuda:{count - 1}")
    return torch.device("cuda", index)


def module_device(module: torch.nn.Module) -> torch.device:
    """Where a model's parameters live (the CPU for a module without parameters)."""
    for parameter in module.parameters():
        return parameter.device
    for buffer in module.buffers():
        return buffer.device
    return torch.device("cpu")


def describe_device(device: DeviceLike = "auto") -> str:
    """One line naming the device, for benchmark tables and run records: "cpu (2 threads)", "cuda:0 NVIDIA H200"."""
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        index = resolved.index if resolved.index is not None else torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    if resolved.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return resolved.type
