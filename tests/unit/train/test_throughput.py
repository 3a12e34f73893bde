"""Model FLOPs per token and MFU (interp.train.throughput) against hand counts and the models themselves."""

import pytest
from helpers.factories import tiny_config

from interp.model.build import build_model
from interp.train.throughput import (
    counted_parameters,
    mfu,
    non_embedding_parameters,
    peak_flops,
    training_flops_per_token,
)


def test_flops_per_token_of_a_tiny_config_match_a_hand_count():
    # 2 layers, d_model 32 = 4 heads x 8, n_ctx 16, vocab 11, attention-only, LayerNorm
    cfg = tiny_config()
    attention = 4 * (32 * 32 + 32)  # q, k, v, o: weight and bias each
    layer_norms = 2 * 32  # gain and bias
    n = 2 * (attention + layer_norms) + layer_norms + 32 * 11  # blocks, ln_final, the unembedding (no bias parameter)
    assert non_embedding_parameters(cfg) == n == 8_992
    assert training_flops_per_token(cfg) == 6 * n + 12 * 2 * 16 * 32 == 66_240


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"attn_only": False, "d_mlp": 48},
        {"normalization_type": "RMS"},
        {"attn_only": False, "d_mlp": 48, "normalization_type": "LNPre"},
        {"attn_only": False, "d_mlp": 24, "normalization_type": None, "n_layers": 3},
        {"attn_only": False, "d_mlp": 24, "normalization_type": "RMSPre", "act_fn": "gelu_new"},
    ],
)
def test_the_parameter_count_is_the_built_models(changes):
    cfg = tiny_config(**changes)
    assert non_embedding_parameters(cfg) == counted_parameters(build_model(cfg))


def test_mfu_is_achieved_over_peak():
    cfg = tiny_config()
    # 1e9 tokens/s of 66,240 FLOPs each on a 989 TFLOP/s device
    assert mfu(1e9, training_flops_per_token(cfg), 989e12) == pytest.approx(66_240e9 / 989e12)
    with pytest.raises(ValueError, match="positive"):
        mfu(1.0, 1.0, 0.0)


@pytest.mark.parametrize(
    ("name", "precision", "tf32", "tflops"),
    [
        ("NVIDIA H100 80GB HBM3", "bf16", True, 989),
        ("NVIDIA H100 80GB HBM3", "fp32", True, 495),
        ("NVIDIA H100 80GB HBM3", "fp32", False, 67),
        ("NVIDIA H100 PCIe", "bf16", True, 756),
        ("NVIDIA H200", "fp16", True, 989),
        ("NVIDIA A100-SXM4-80GB", "bf16", False, 312),
        ("NVIDIA A100-PCIE-40GB", "fp32", True, 156),
        ("NVIDIA A10", "bf16", True, 125),
        ("NVIDIA L4", "bf16", True, 121),
        ("NVIDIA L40S", "fp32", True, 183),
        ("Tesla V100-SXM2-16GB", "fp32", True, 15.7),  # no TF32 before Ampere: plain float32
        ("Tesla T4", "fp16", True, 65),
    ],
)
def test_peaks_by_device_name_and_precision(name, precision, tf32, tflops):
    assert peak_flops(name, precision, tf32=tf32) == pytest.approx(tflops * 1e12)


def test_an_unknown_device_or_precision_has_no_peak():
    assert peak_flops("NVIDIA A10G", "bf16") is None  # not the A10, not in the table
    assert peak_flops("Tesla T4", "bf16") is None  # Turing has no bf16
    assert peak_flops("cpu (2 threads)", "fp32") is None
