import subprocess
import sys

import pytest
from typer.testing import CliRunner

from interp.cli.app import app

runner = CliRunner()
COMMANDS = [c.name or c.callback.__name__ for c in app.registered_commands]


def test_top_level_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("train", "generate", "demo", "presets"):
        assert name in result.output


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and len(result.output) > 200


def test_presets_lists_the_demo_model():
    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 0 and "attn-only-2l" in result.output


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "interp.cli.app", "train", "--preset", "nope", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown preset 'nope'")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_train_then_generate_on_the_command_line(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--preset", "attn-only-1l", "--out", str(out), "--no-progress"]
    for override in (
        "data.corpus='none'",
        "data.repeated_fraction=1.0",
        "train.steps=6",
        "train.n_checkpoints=3",
        "train.eval_every=3",
        "train.batch_size=4",
    ):
        args += ["--set", override]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "checkpoints: 3" in result.output
    result = runner.invoke(app, ["generate", str(out), "--prompt", "ab", "--tokens", "10"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ab") and len(result.output.strip()) == 12


def test_resume_with_more_steps_extends_the_run_from_its_own_config(tmp_path):
    """`--resume --set train.steps=N` starts from the run's run.json (not the default preset), so the preset and
    the other overrides need not be repeated; the run then ends at the new budget."""
    import json

    from helpers.cli_run import TINY_TRAIN, run_cli

    out = tmp_path / "run"
    assert run_cli("train", *TINY_TRAIN, "--out", out)[0] == 0
    code, stdout, err = run_cli("train", "--out", out, "--resume", "--no-progress", "--set", "train.steps=20")
    assert code == 0, err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["step"] == 20 and json.loads((out / "run.json").read_text())["run"]["train"]["steps"] == 20
    code, _, err = run_cli("train", "--out", out, "--resume", "--no-progress", "--set", "train.lr=0.1")
    assert code == 2 and "train.lr changed" in err and len(err.strip().splitlines()) == 1
