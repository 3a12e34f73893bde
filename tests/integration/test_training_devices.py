"""Training on a device, in mixed precision and compiled (interp.train.loop with interp.train.precision / compiled).

This machine has no GPU: the CPU runs everything that does not need one (bf16, the fp16 loss-scaling path with
the CPU's own GradScaler, torch.compile with inductor), and the CUDA tests skip with a reason.
"""

import json

import pytest
import torch
from helpers.cli_run import TINY_TRAIN, run_cli
from helpers.factories import assert_same_weights, train_interrupted
from safetensors import safe_open

from interp.core.errors import ConfigError, DeviceError
from interp.train.checkpoints import OPTIMIZER_FILE, TRAINING_FILE, WEIGHTS_FILE, list_checkpoints, load_model
from interp.train.config import RunConfig
from interp.train.loop import METRICS_FILE, RUN_FILE, read_run_config, train
from interp.train.train_run import train_run

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a CUDA GPU")


def tiny_run(**train_changes) -> RunConfig:
    return RunConfig.from_dict(
        {
            "model": dict(n_layers=2, d_model=32, n_heads=4, d_head=8, n_ctx=32, attn_only=True, seed=3),
            "data": dict(corpus="none", tokenizer="char", repeated_fraction=1.0, span_min=4, span_max=12),
            "train": {**dict(steps=24, batch_size=8, lr=3e-3, eval_every=8, n_checkpoints=4, seed=5), **train_changes},
        }
    )


def read_metrics(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines()]


def read_run_file(run_dir) -> dict:
    return json.loads((run_dir / RUN_FILE).read_text())


# ---- bad input: one line, nothing written -------------------------------------------------------------------


def test_fp16_on_the_cpu_is_a_device_error_before_anything_is_written(tmp_path):
    message = r"^train.precision = 'fp16' needs a CUDA GPU \(loss scaling\); use bf16 or fp32 on the CPU$"
    with pytest.raises(DeviceError, match=message):
        train(tiny_run(precision="fp16"), tmp_path / "run", device="cpu", progress=False)
    with pytest.raises(DeviceError, match=message):
        train_run(tiny_run(precision="fp16"), tmp_path / "run", device="auto", progress=False)
    assert not (tmp_path / "run").exists()


def test_fp16_through_the_cli_is_exit_2_with_one_line(tmp_path):
    code, _, err = run_cli("train", *TINY_TRAIN, "--set", "train.precision='fp16'", "--device", "cpu", "--out", tmp_path / "r")
    assert code == 2 and err.startswith("error: train.precision = 'fp16' needs a CUDA GPU") and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


@no_cuda
def test_a_cuda_device_this_machine_lacks_is_one_line_and_nothing_is_written(tmp_path):
    with pytest.raises(DeviceError, match="--device cuda was asked for but no CUDA GPU is visible"):
        train(tiny_run(), tmp_path / "api", device="cuda", progress=False)
    code, out, err = run_cli("train", *TINY_TRAIN, "--device", "cuda", "--out", tmp_path / "cli")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("error: --device cuda was asked for but no CUDA GPU is visible") and "--device cpu" in err
    code, _, err = run_cli("train", *TINY_TRAIN, "--device", "tpu", "--out", tmp_path / "cli")
    assert code == 2 and err == "error: unknown device 'tpu'; choose auto, cpu, cuda, cuda:N or mps\n"
    assert not (tmp_path / "api").exists() and not (tmp_path / "cli").exists()


@no_cuda
def test_python_m_interp_train_takes_device_too(tmp_path, capsys):
    import sys

    from interp.train.__main__ import main

    argv = sys.argv
    sys.argv = ["interp.train", *map(str, TINY_TRAIN), "--device", "cuda:1", "--out", str(tmp_path / "r")]
    try:
        with pytest.raises(SystemExit) as stop:
            main()
    finally:
        sys.argv = argv
    assert stop.value.code == 2 and capsys.readouterr().err.startswith("error: --device cuda:1 was asked for")
    assert not (tmp_path / "r").exists()


# ---- where a run trained: run.json's "devices" ------------------------------------------------------------


def test_run_json_records_the_device_of_every_stretch_and_the_cli_reports_it(tmp_path, monkeypatch):
    run_dir = tmp_path / "r"
    code, out, err = run_cli("train", *TINY_TRAIN, "--device", "cpu", "--set", "train.steps=8", "--out", run_dir)
    assert code == 0, err
    assert "tokens/s on cpu (1 threads)" in out  # TINY_TRAIN sets train.threads = 1
    assert read_run_file(run_dir)["devices"] == [{"step": 0, "device": "cpu (1 threads)", "processes": 1}]
    before = (run_dir / RUN_FILE).read_bytes()
    code, _, err = run_cli("train", "--resume", "--no-progress", "--out", run_dir)  # where it ran: run.json unchanged
    assert code == 0, err
    assert (run_dir / RUN_FILE).read_bytes() == before
    monkeypatch.setattr("interp.train.loop.describe_device", lambda device: "cuda:0 Pretend GPU")  # a move
    code, _, err = run_cli("train", "--resume", "--set", "train.steps=12", "--no-progress", "--out", run_dir)
    assert code == 0, err
    assert read_run_file(run_dir)["devices"][1:] == [{"step": 8, "device": "cuda:0 Pretend GPU", "processes": 1}]


def test_a_run_json_from_before_precision_existed_resumes_with_the_defaults(tmp_path):
    run_dir = tmp_path / "old"
    train(tiny_run(steps=8, n_checkpoints=2), run_dir, progress=False)
    # strip the new fields and the device record from run.json and every checkpoint, as an older interp wrote them
    content = read_run_file(run_dir)
    del content["devices"]
    for name in ("precision", "tf32", "compile"):
        del content["run"]["train"][name]
    (run_dir / RUN_FILE).write_text(json.dumps(content))
    for ckpt in list_checkpoints(run_dir):
        training = json.loads((ckpt.path / TRAINING_FILE).read_text())
        for name in ("precision", "tf32", "compile"):
            del training["run"]["train"][name]
        (ckpt.path / TRAINING_FILE).write_text(json.dumps(training))
    assert read_run_config(run_dir) == tiny_run(steps=8, n_checkpoints=2)
    train(tiny_run(steps=12, n_checkpoints=2), run_dir, resume=True, progress=False)
    assert read_metrics(run_dir)[-1]["step"] == 12
    assert [d["step"] for d in read_run_file(run_dir)["devices"]] == [8]


def test_the_cli_reports_mfu_on_a_cuda_device_it_knows():
    from interp.cli.app import _utilisation
    from interp.train.loop import TrainResult

    info = {"run": {"train": {"precision": "bf16", "tf32": True}}}

    def result(device):
        return TrainResult(None, [], {}, tokens_per_second=1e6, device=device, flops_per_token=6.6e8)

    line = _utilisation(result("cuda:0 NVIDIA H100 80GB HBM3"), info)
    assert line == "model FLOPs: 660.0 TFLOP/s = 66.7% of the 989 TFLOP/s bf16 peak (MFU)"
    old_run = {"run": {"train": {}}}  # fp32 with TF32, the defaults
    assert _utilisation(result("cuda:1 NVIDIA A100-SXM4-80GB"), old_run).endswith("of the 156 TFLOP/s tf32 peak (MFU)")
    assert _utilisation(result("cpu (2 threads)"), info) is None and _utilisation(result("cuda:0 Mystery GPU"), info) is None


# ---- bf16 on the CPU ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fp32_and_bf16(tmp_path_factory):
    root = tmp_path_factory.mktemp("precision")
    for precision in ("fp32", "bf16"):
        train(tiny_run(precision=precision), root / precision, device="cpu", progress=False)
    return root / "fp32", root / "bf16"


def test_bf16_on_the_cpu_trains_and_stays_close_to_fp32(fp32_and_bf16):
    fp32, bf16 = (read_metrics(run) for run in fp32_and_bf16)
    assert [m["step"] for m in fp32] == [m["step"] for m in bf16]
    assert bf16[-1]["val_repeated"] < bf16[0]["val_repeated"] - 0.1  # it learns
    assert bf16[0]["val_repeated"] == fp32[0]["val_repeated"]  # the same init, evaluated in float32
    for a, b in zip(fp32[1:], bf16[1:]):
        assert abs(a["train_loss"] - b["train_loss"]) < 0.01, (a, b)  # seen: 1.5e-4
        assert abs(a["val_repeated"] - b["val_repeated"]) < 0.01, (a, b)  # seen: 2.7e-4
    assert fp32[-1] != bf16[-1]  # it did run in another precision


def test_a_bf16_runs_checkpoints_hold_float32_master_weights_that_load_on_the_cpu(fp32_and_bf16):
    _, bf16 = fp32_and_bf16
    last = list_checkpoints(bf16)[-1]
    for file in (WEIGHTS_FILE, OPTIMIZER_FILE):
        with safe_open(str(last.path / file), framework="pt") as stored:
            dtypes = {stored.get_slice(name).get_dtype() for name in stored.keys()}
        assert dtypes == {"F32"}, (file, dtypes)
    tokens = torch.randint(0, last.config.d_vocab, (2, last.config.n_ctx), generator=torch.Generator().manual_seed(0))
    model = load_model(last, device="cpu")
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in model.parameters())
    assert torch.equal(model(tokens), load_model(bf16, device="cpu")(tokens))


def test_a_bf16_run_resumes_exactly(fp32_and_bf16, tmp_path):
    """Bit-identical to the uninterrupted run: the checkpoint kept the full float32 weights and optimizer state."""
    _, straight = fp32_and_bf16
    run = tiny_run(precision="bf16")
    train_interrupted(run, tmp_path / "resumed", after_step=5)
    train(run, tmp_path / "resumed", device="cpu", resume=True, progress=False)
    assert_same_weights(straight, tmp_path / "resumed")
    assert read_metrics(straight) == read_metrics(tmp_path / "resumed")


def test_the_precision_of_a_run_cannot_change_on_resume(fp32_and_bf16, tmp_path):
    import shutil

    shutil.copytree(fp32_and_bf16[0], tmp_path / "r")
    with pytest.raises(ConfigError, match=r"train.precision changed"):
        train(tiny_run(precision="bf16", steps=30), tmp_path / "r", resume=True, progress=False)


# ---- fp16 loss scaling, on the CPU's GradScaler -------------------------------------------------------------


def test_an_fp16_run_saves_its_loss_scale_and_resumes_exactly(tmp_path, monkeypatch):
    """Training refuses fp16 on a CPU; with that check lifted, CPU autocast and GradScaler run the fp16 path, so
    the scaler's state in training.json and the exact resume are checked without a GPU."""
    monkeypatch.setattr("interp.train.loop.check_precision", lambda precision, device: None)
    run = tiny_run(precision="fp16")
    train(run, tmp_path / "straight", device="cpu", progress=False)
    scalers = [json.loads((c.path / TRAINING_FILE).read_text())["grad_scaler"] for c in list_checkpoints(tmp_path / "straight")]
    assert all(s["scale"] > 0 and s["growth_interval"] == 2000 for s in scalers)
    losses = [m["val_repeated"] for m in read_metrics(tmp_path / "straight")]
    assert losses[-1] < losses[0] - 0.1

    train_interrupted(run, tmp_path / "resumed", after_step=5)
    train(run, tmp_path / "resumed", device="cpu", resume=True, progress=False)
    assert_same_weights(tmp_path / "straight", tmp_path / "resumed")
    assert read_metrics(tmp_path / "straight") == read_metrics(tmp_path / "resumed")


def test_fp32_runs_write_no_loss_scale(fp32_and_bf16):
    for run_dir in fp32_and_bf16:
        assert all("grad_scaler" not in json.loads((c.path / TRAINING_FILE).read_text()) for c in list_checkpoints(run_dir))


# ---- torch.compile ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_compiled_run_matches_eager_to_float_rounding_and_may_resume_eager(fp32_and_bf16, tmp_path):
    """The first compiled step builds inductor's C++ kernels: ~40 s with an empty cache here, ~5 s warm."""
    eager, _ = fp32_and_bf16
    train(tiny_run(compile=True, steps=12), tmp_path / "compiled", device="cpu", progress=False)
    compiled = {m["step"]: m for m in read_metrics(tmp_path / "compiled")}
    reference = {m["step"]: m for m in read_metrics(eager)}
    common = sorted(set(compiled) & set(reference))  # checkpoint steps are log-spaced over each budget
    assert common == [0, 1, 8]
    for step in common:  # (train_loss is a mean since the previous record, which differs after step 1)
        a, b = reference[step], compiled[step]
        assert abs(a["val_repeated"] - b["val_repeated"]) < 1e-5, (a, b)  # seen: 1.2e-7
    assert abs(reference[1]["train_loss"] - compiled[1]["train_loss"]) < 1e-5
    # compile is how a step runs, not what it computes: a compiled run resumes eager (like on another device)
    train(tiny_run(compile=False, steps=16), tmp_path / "compiled", device="cpu", resume=True, progress=False)
    assert read_metrics(tmp_path / "compiled")[-1]["step"] == 16


# ---- on a CUDA GPU ------------------------------------------------------------------------------------------


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_a_cuda_run_tracks_the_cpu_run_and_its_checkpoints_load_on_the_cpu(precision, fp32_and_bf16, tmp_path):
    cpu_run, before = fp32_and_bf16[0], torch.backends.cuda.matmul.fp32_precision
    train(tiny_run(precision=precision, tf32=False), tmp_path / "gpu", device="cuda", progress=False)
    gpu, cpu = read_metrics(tmp_path / "gpu"), read_metrics(cpu_run)
    assert abs(gpu[0]["val_repeated"] - cpu[0]["val_repeated"]) < 1e-4  # the same init on every device
    assert abs(gpu[-1]["val_repeated"] - cpu[-1]["val_repeated"]) < (1e-3 if precision == "fp32" else 0.05)
    assert read_run_file(tmp_path / "gpu")["devices"][0]["device"].startswith("cuda:0 ")
    model = load_model(tmp_path / "gpu", device="cpu")
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
    assert torch.backends.cuda.matmul.fp32_precision == before  # train() put the TF32 setting back


@needs_cuda
def test_a_run_started_on_the_cpu_resumes_on_the_gpu(tmp_path):
    run = tiny_run()
    train_interrupted(run, tmp_path / "r", after_step=5)
    train(run, tmp_path / "r", device="cuda", resume=True, progress=False)
    devices = [d["device"] for d in read_run_file(tmp_path / "r")["devices"]]
    assert devices[0].startswith("cpu") and devices[1].startswith("cuda")
    assert read_metrics(tmp_path / "r")[-1]["step"] == 24
