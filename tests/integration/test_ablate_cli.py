"""`interp ablate` and `interp compare` on tiny checkpoints saved into tmp_path."""

import json
import re

import numpy as np
import pytest
import torch
import typer
from helpers.factories import tiny_config
from typer.testing import CliRunner

from interp.analysis.ablation.files import load_ablation
from interp.analysis.core.eval_tokens import evaluation_tokens, synthetic_repeats
from interp.cli.commands import ablate as ablate_command
from interp.cli.commands import compare as compare_command
from interp.core.errors import CheckpointError, DataError
from interp.model.build import build_model
from interp.text.config import DataConfig
from interp.train.checkpoints import save_checkpoint
from interp.train.config import RunConfig, TrainConfig
from interp.train.data import SYNTHETIC_ALPHABET

runner = CliRunner()


@pytest.fixture
def app():
    app = typer.Typer()
    ablate_command.register(app)
    compare_command.register(app)
    return app


@pytest.fixture
def run_dir(tmp_path):
    """A run with two checkpoints of a synthetic-data model (vocabulary: the synthetic alphabet)."""
    cfg = tiny_config(d_vocab=len(SYNTHETIC_ALPHABET))
    run = RunConfig(
        model=cfg,
        data=DataConfig(corpus="none", repeated_fraction=1.0, span_min=2, span_max=8),
        train=TrainConfig(batch_size=8, eval_batches=2, steps=10),
    )
    tokenizer = {"kind": "char", "alphabet": SYNTHETIC_ALPHABET}
    for step, seed in ((0, 0), (10, 1)):
        model = build_model(tiny_config(d_vocab=cfg.d_vocab, seed=seed))
        save_checkpoint(
            tmp_path / "run" / "checkpoints" / f"step_{step:06d}",
            model,
            cfg,
            step=step,
            tokens_seen=step * 128,
            run=run,
            tokenizer=tokenizer,
        )
    return tmp_path / "run"


def test_help(app):
    result = runner.invoke(app, ["ablate", "--help"])
    assert result.exit_code == 0
    for option in ("--checkpoint", "--method", "--over", "--metric", "--tokens", "--tokens-file", "--out"):
        assert option in result.output
    assert "--step-a" in runner.invoke(app, ["compare", "--help"]).output


def test_ablate_on_the_runs_validation_data(app, run_dir, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "ablate",
            str(run_dir),
            "--checkpoint",
            "10",
            "--method",
            "mean",
            "--over",
            "heads",
            "--tokens",
            "12",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "validation data of the run (val_repeated)" in result.output
    assert "top 5 by |effect|" in result.output and result.output.count("effect ") == 5
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert csv_lines[0].startswith("name,layer,head,value,effect") and len(csv_lines) == 9
    data = json.loads((out / "results.json").read_text())
    assert data["extra"]["step"] == 10 and data["extra"]["rows"] == [12, 16]
    assert load_ablation(out / "results.json").effects.shape == (2, 4)
    page = (out / "heatmap.html").read_text()
    assert "plotly" in page.lower() and len(page) > 1_000_000  # plotly.js inlined: opens offline
    assert not re.search(r'<script[^>]*src="https?:', page)  # nothing fetched from a CDN


def test_ablate_default_out_dir_and_tokens_file(app, run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tokens = synthetic_repeats(64, 16, 5, seed=3).numpy().astype(np.int32)
    np.save(tmp_path / "tokens.npy", tokens)
    result = runner.invoke(app, ["ablate", str(run_dir), "--method", "zero", "--over", "layers", "--tokens-file", "tokens.npy"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "reports" / "ablation" / "run-step10"
    assert "tokens file tokens.npy" in result.output
    assert {p.name for p in out.iterdir()} == {"results.csv", "results.json", "heatmap.html"}
    assert load_ablation(out / "results.json").n_rows == 5


def test_checkpoint_without_a_run_falls_back_to_synthetic_repeats(tmp_path):
    cfg = tiny_config()
    ckpt = save_checkpoint(tmp_path / "bare", build_model(cfg), cfg, step=3, tokens_seen=0)
    tokens, source = evaluation_tokens(ckpt, n_rows=4)
    assert source.startswith("synthetic repeated random sequences")
    assert tokens.shape == (4, 16) and torch.equal(tokens[:, :8], tokens[:, 8:])


def test_compare_two_checkpoints(app, run_dir, tmp_path):
    out = tmp_path / "cmp"
    result = runner.invoke(
        app, ["compare", str(run_dir), str(run_dir), "--step-a", "0", "--step-b", "10", "--tokens", "8", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "run-step0 vs run-step10" in result.output
    data = json.loads((out / "comparison.json").read_text())
    assert data["labels"] == ["run-step0", "run-step10"] and len(data["rows"]) == 8
    assert all(0 < row["pattern_distance"] <= 1 for row in data["rows"])
    assert (out / "comparison.csv").exists() and (out / "comparison.html").stat().st_size > 1_000_000


def test_bad_input(app, run_dir, tmp_path):
    result = runner.invoke(app, ["ablate", str(run_dir), "--method", "median"])
    assert result.exit_code == 2 and "median" in result.output
    result = runner.invoke(app, ["ablate", str(run_dir), "--checkpoint", "7", "--out", str(tmp_path / "x")])
    assert isinstance(result.exception, CheckpointError) and "steps: [0, 10]" in str(result.exception)
    result = runner.invoke(app, ["ablate", str(run_dir), "--split", "nope", "--out", str(tmp_path / "x")])
    assert isinstance(result.exception, DataError) and "val_repeated" in str(result.exception)
    result = runner.invoke(app, ["ablate", str(run_dir), "--metric", "lose", "--out", str(tmp_path / "x")])
    assert isinstance(result.exception, DataError) and "unknown metric" in str(result.exception)
    np.save(tmp_path / "big.npy", np.full((2, 16), 99))
    result = runner.invoke(
        app, ["ablate", str(run_dir), "--tokens-file", str(tmp_path / "big.npy"), "--out", str(tmp_path / "x")]
    )
    assert isinstance(result.exception, DataError) and "vocabulary" in str(result.exception)
    (tmp_path / "torn.safetensors").write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"tokens": ')
    result = runner.invoke(
        app, ["ablate", str(run_dir), "--tokens-file", str(tmp_path / "torn.safetensors"), "--out", str(tmp_path / "x")]
    )
    assert isinstance(result.exception, DataError) and "truncated" in str(result.exception)
