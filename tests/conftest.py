"""Shared fixtures: tiny models built in memory, nothing from the network."""

import pytest
import torch
from helpers.factories import tiny_config

from interp.model.build import build_model
from interp.model.config import ModelConfig

# Scripts for the transformer-lens 3.x environment, run as subprocesses: importing them here (--doctest-modules) would fail.
collect_ignore = ["helpers/tl3_load.py", "helpers/saelens_load.py"]

# Tiny test models are dominated by per-op overhead; one thread is faster and immune to a busy machine.
torch.set_num_threads(1)


@pytest.fixture
def tiny_cfg() -> ModelConfig:
    return tiny_config()


@pytest.fixture
def tiny_model(tiny_cfg):
    return build_model(tiny_cfg)


@pytest.fixture
def tiny_mlp_model():
    return build_model(tiny_config(attn_only=False, d_mlp=64))
