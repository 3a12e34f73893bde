"""`train.compile`: the training forward through `torch.compile` (inductor), checked before a run starts.

Inductor generates C++ (CPU) or Triton (CUDA) kernels, so it needs a C++ compiler or the triton package; without
one, `check_compile` is a one-line error before anything is written, rather than a compiler traceback at the
first step. The first step compiles (tens of seconds on a CPU with an empty cache in /tmp/torchinductor_*,
a few seconds with a warm one), later steps reuse the kernels; the benchmark (benchmarks/bench_training.py)
measures what that buys. Shapes are fixed (every step's batch has the same shape), so `dynamic=False`.

Only the training forward is compiled; evaluation runs the eager forward on the same parameters, so validation
losses never wait for a second compilation (no_grad graphs are compiled separately).

>>> import torch
>>> check_compile(torch.device("mps"))
Traceback (most recent call last):
...
interp.core.errors.ConfigError: train.compile = true is not supported on mps; set train.compile = false
"""

import importlib.util
import os
import shutil
import warnings
from collections.abc import Callable

import torch
from torch import Tensor

from interp.core.errors import ConfigError

# Dynamo warns that it traces through functools.cache wrappers; the engine's cached hook-name tables are pure.
_TRACED_CACHE_WARNING = "Dynamo detected a call to a `functools.lru_cache`"


def check_compile(device: torch.device) -> None:
    """A one-line ConfigError where torch.compile's inductor backend cannot build kernels for `device`."""
    if device.type == "cpu":
        compilers = [os.environ.get("CXX"), "g++", "c++", "clang++"]
        if not any(name and shutil.which(name) for name in compilers):
            raise ConfigError(
                "train.compile = true on the CPU needs a C++ compiler for torch.compile's inductor backend (g++ or "
                "clang++ on PATH, or $CXX); install one or set train.compile = false"
            )
    elif device.type == "cuda":
        if importlib.util.find_spec("triton") is None:
            raise ConfigError(
                "train.compile = true on a CUDA GPU needs the triton package (it ships with torch's CUDA wheels); "
                "install it or set train.compile = false"
            )
    else:
        raise ConfigError(f"train.compile = true is not supported on {device.type}; set train.compile = false")


class CompiledForward:
    """`forward` through torch.compile; a compilation failure is a one-line ConfigError naming the way out."""

    def __init__(self, forward: Callable[..., Tensor]):
        self.eager = forward
        self.compiled = torch.compile(forward, dynamic=False)

    def __call__(self, tokens: Tensor, **options) -> Tensor:
        from torch._dynamo.exc import BackendCompilerFailed

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_TRACED_CACHE_WARNING)
            try:
                return self.compiled(tokens, **options)
            except BackendCompilerFailed as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise ConfigError(f"torch.compile failed on this machine ({first}); set train.compile = false") from None
