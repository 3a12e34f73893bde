"""Mixed precision and TF32 (interp.train.precision), the new train.* fields, and which device trains in what.

Loss scaling is checked on the CPU: CPU autocast and torch.amp.GradScaler do run in fp16, although training
refuses fp16 there (check_precision), so the scaler's skip-step and state round trip need no GPU.
"""

import json
import re

import pytest
import torch

from interp.core.errors import ConfigError, DeviceError
from interp.train.config import RunConfig, TrainConfig
from interp.train.precision import MixedPrecision, check_precision, tf32_matmuls

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")


def tiny_run(**train) -> dict:
    return {"model": dict(n_layers=1, d_model=16, n_heads=2, d_head=8, n_ctx=8, attn_only=True), "train": train}


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"precision": "fp8"}, "train.precision must be one of 'fp32', 'bf16', 'fp16' (fp16 needs a CUDA GPU), got 'fp8'"),
        ({"precision": "BF16"}, "got 'BF16'"),
        ({"tf32": "yes"}, "train.tf32 must be true or false, got 'yes'"),
        ({"compile": 1}, "train.compile must be true or false, got 1"),
    ],
)
def test_bad_precision_fields_are_one_line_config_errors(train, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        RunConfig.from_dict(tiny_run(**train))
    assert "\n" not in str(caught.value)


def test_the_defaults_are_fp32_with_tf32_and_no_compile_and_they_are_part_of_the_run_config():
    default = TrainConfig()
    assert (default.precision, default.tf32, default.compile) == ("fp32", True, False)
    run = RunConfig.from_dict(tiny_run(precision="bf16", tf32=False, compile=True))
    saved = json.loads(json.dumps(run.to_dict()))
    assert saved["train"]["precision"] == "bf16" and saved["train"]["tf32"] is False and saved["train"]["compile"] is True
    assert RunConfig.from_dict(saved) == run


def test_a_run_config_from_before_these_fields_loads_with_the_defaults():
    old = RunConfig.from_dict(tiny_run(steps=10)).to_dict()
    for name in ("precision", "tf32", "compile"):
        del old["train"][name]
    assert RunConfig.from_dict(old).train == TrainConfig(steps=10)


def test_compile_is_refused_with_noise_inside_the_forward():
    with pytest.raises(ConfigError, match=r"train.compile does not cover noise.where = 'attn_scores'"):
        RunConfig.from_dict({**tiny_run(compile=True), "noise": {"where": "attn_scores", "scale": 0.1}})
    RunConfig.from_dict({**tiny_run(compile=True), "noise": {"where": "weights", "scale": 0.1}})  # weights noise is fine


def test_which_device_trains_in_which_precision():
    for device in (CPU, CUDA):
        check_precision("fp32", device)
        check_precision("bf16", device)
    check_precision("fp16", CUDA)
    with pytest.raises(
        DeviceError, match=r"^train.precision = 'fp16' needs a CUDA GPU \(loss scaling\); use bf16 or fp32 on the CPU$"
    ):
        check_precision("fp16", CPU)
    check_precision("fp32", MPS)
    for precision in ("bf16", "fp16"):
        with pytest.raises(DeviceError, match=f"train.precision = '{precision}' is not supported on mps; train in fp32 there"):
            check_precision(precision, MPS)


def test_autocast_runs_the_matmuls_in_the_precision_and_fp32_changes_nothing():
    a = torch.randn(4, 4)
    with MixedPrecision("fp32", CPU).autocast():
        assert torch.equal(a @ a, a @ a) and (a @ a).dtype == torch.float32
    for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        with MixedPrecision(name, CPU).autocast():
            product = a @ a
        assert product.dtype == dtype
        assert torch.allclose(product.float(), a @ a, rtol=2e-2, atol=2e-2)


def test_without_fp16_the_scaler_is_a_pass_through():
    precision = MixedPrecision("bf16", CPU)
    loss = torch.tensor(2.5, requires_grad=True)
    assert precision.scale(loss) is loss and precision.state() is None
    precision.load_state(None)  # nothing to restore


def one_parameter_step(precision: MixedPrecision, gradient: float) -> torch.Tensor:
    """One clipped SGD step of the loop's order (scale, backward, unscale, clip, step) on `gradient * w`."""
    w = torch.nn.Parameter(torch.ones(1))
    optimizer = torch.optim.SGD([w], lr=0.1)
    precision.scale((w * gradient).sum()).backward()
    precision.unscale(optimizer)
    torch.nn.utils.clip_grad_norm_([w], 10.0)
    precision.step(optimizer)
    return w.detach()


def test_fp16_loss_scaling_unscales_before_clipping_and_skips_an_overflowing_step():
    precision = MixedPrecision("fp16", CPU)
    scale = precision.state()["scale"]
    assert scale == 2.0**16
    # the true gradient (3) reaches the update, not the scaled one
    assert torch.allclose(one_parameter_step(precision, 3.0), torch.tensor([1 - 0.1 * 3.0]))
    assert precision.state()["scale"] == scale
    # an infinite gradient: the step is skipped (w unchanged) and the scale backs off
    assert torch.equal(one_parameter_step(precision, float("inf")), torch.ones(1))
    assert precision.state()["scale"] == scale / 2


def test_the_loss_scalers_state_survives_json_so_a_resumed_fp16_run_scales_alike():
    first = MixedPrecision("fp16", CPU)
    one_parameter_step(first, float("inf"))
    one_parameter_step(first, 1.0)
    saved = json.loads(json.dumps(first.state()))
    second = MixedPrecision("fp16", CPU)
    second.load_state(saved)
    assert second.state() == first.state()
    for precision in (first, second):
        one_parameter_step(precision, float("inf"))
    assert second.state() == first.state() and first.state()["scale"] == 2.0**14
    with pytest.raises(ValueError, match="no loss-scaler state"):
        MixedPrecision("fp16", CPU).load_state(None)


def test_tf32_is_set_for_a_cuda_run_and_the_previous_setting_comes_back_even_after_an_error():
    matmul = torch.backends.cuda.matmul
    before = matmul.fp32_precision
    with tf32_matmuls(CUDA, enabled=True):
        assert matmul.fp32_precision == "tf32"
    assert matmul.fp32_precision == before
    with pytest.raises(RuntimeError, match="boom"), tf32_matmuls(CUDA, enabled=False):
        assert matmul.fp32_precision == "ieee"
        raise RuntimeError("boom")
    assert matmul.fp32_precision == before
    with tf32_matmuls(CPU, enabled=True):  # the CPU's matmuls are left alone
        assert matmul.fp32_precision == before
    torch.get_float32_matmul_precision()  # no mix of torch's old and new TF32 settings left behind (that raises)
