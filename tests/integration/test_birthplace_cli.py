"""`interp birthplace ...` end to end on a tiny corpus and model (a few training steps each)."""

import json

import pytest
import typer
from typer.testing import CliRunner

from interp.cli.commands import birthplace as birthplace_command

runner = CliRunner()
TINY = [
    "corpus.n_people=30",
    "corpus.dev_fraction=0.2",
    "corpus.docs_per_person=1",
    "corpus.block_size=64",
    "model.n_layers=1",
    "model.d_model=16",
    "model.n_heads=2",
    "model.d_head=8",
    "model.d_mlp=32",
    "pretrain.steps=2",
    "pretrain.batch_size=4",
    "pretrain.threads=0",
    "finetune.steps=2",
    "finetune.batch_size=4",
    "finetune.threads=0",
    "scratch_finetune.steps=2",
    "scratch_finetune.batch_size=4",
    "scratch_finetune.threads=0",
]


@pytest.fixture
def app():
    app = typer.Typer()
    birthplace_command.register(app)
    return app


def sets(*extra: str) -> list[str]:
    return [arg for item in (*TINY, *extra) for arg in ("--set", item)]


def invoke(app, args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_corpus_pretrain_finetune_evaluate(app, tmp_path):
    out = invoke(app, ["birthplace", "corpus", "--out", str(tmp_path / "bios"), *sets()])
    assert "30 people" in out
    dev = (tmp_path / "bios" / "birth_places_dev.tsv").read_text().splitlines()
    assert len(dev) == 6 and all(line.startswith("Where was ") and "\t" in line for line in dev)

    invoke(app, ["birthplace", "pretrain", "--out", str(tmp_path / "pre"), "--arch", "perceiver_ar", *sets("n_latents=16")])
    saved = json.loads((tmp_path / "pre" / "config.json").read_text())
    assert saved["original_architecture"] == "perceiver_ar" and saved["n_latents"] == 16

    out = invoke(
        app,
        ["birthplace", "finetune", "--from", str(tmp_path / "pre"), "--out", str(tmp_path / "fine"), "--set", "finetune.steps=3"],
    )
    assert "dev exact match" in out
    assert json.loads((tmp_path / "fine" / "training.json").read_text())["step"] == 3

    out = invoke(app, ["birthplace", "evaluate", str(tmp_path / "fine"), "--show", "2"])
    assert "always-London" in out and out.count("predicted") == 2


def test_experiment_prints_the_table(app, tmp_path):
    out = invoke(
        app, ["birthplace", "experiment", "--out", str(tmp_path), "--setting", "london", "--setting", "finetune_only", *sets()]
    )
    assert "london" in out and "finetune_only" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["setting"] for r in results] == ["london", "finetune_only"]


def test_bad_settings_fail_with_one_line(app, tmp_path):
    result = runner.invoke(app, ["birthplace", "pretrain", "--out", str(tmp_path / "x"), "--set", "corpus.pad_side=middle"])
    assert result.exit_code != 0 and "pad_side" in str(result.exception)
