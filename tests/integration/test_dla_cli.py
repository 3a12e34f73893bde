"""`interp dla`: on the planted induction run the planted head carries the logit difference at every checkpoint,
files and page are written beside the run, IOI checkpoints work, and bad input is one line with nothing written."""

import json

import pytest
import torch
from helpers.cli_run import run_cli, tree_digest
from helpers.planted_induction import save_planted_run

from interp.analysis.logit_attribution.files import load_attribution, load_series
from interp.model.build import build_model
from interp.model.config import ModelConfig
from interp.tasks.ioi.prompts import ioi_corpus
from interp.train.checkpoints import save_checkpoint


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return save_planted_run(tmp_path_factory.mktemp("runs") / "planted")


def test_dla_writes_the_attribution_and_its_series_beside_the_run(run_dir):
    code, stdout, stderr = run_cli("dla", run_dir, "--task", "induction", "--checkpoints", "all", "-n", "16", "--device", "cpu")
    assert code == 0, stderr
    folder = run_dir / "dla" / "induction-answer-distractor"
    attribution, meta = load_attribution(folder)
    assert meta["step"] == 100 and meta["task"] == "induction" and attribution.n_rows == 16
    assert attribution.error < 1e-4 and "parts sum to it within" in stdout
    assert attribution.top_heads(1)[0][0] == "L1H0" and "top heads: L1H0" in stdout
    series, _ = load_series(folder)
    assert series.steps == (0, 10, 20, 100) and float(series.max_error.max()) < 1e-4
    # the planted head grows with the interpolation towards the planted weights
    assert float(series.heads[-1, 1, 0]) > float(series.heads[1, 1, 0]) + 1
    html = (folder / "dla.html").read_text()
    assert "Plotly.newPlot" in html and "cdn.plot.ly" not in html and "across training" in html


def test_dla_of_one_token(run_dir, tmp_path):
    code, stdout, stderr = run_cli(
        "dla", run_dir, "--direction", "token:c", "--checkpoints", "none", "-n", "8", "--out", tmp_path
    )
    assert code == 0, stderr
    attribution, _ = load_attribution(tmp_path)
    assert attribution.direction == "token 'c'" and not (tmp_path / "series.json").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--direction", "id:99"], "token id 99 is outside the model's vocabulary of 16"),
        (["--direction", "token:abc"], "is 3 tokens"),
        (["--task", "birthdays"], "unknown task 'birthdays'"),
        (["--checkpoints", "0,55"], "no checkpoint at step [55]"),
        (["--checkpoint", "7"], "no checkpoint at step 7"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(run_dir, args, message):
    code, _, _ = run_cli("dla", run_dir, "-n", "8", "--checkpoints", "none")  # something already written
    assert code == 0
    before = tree_digest(run_dir)
    code, stdout, stderr = run_cli("dla", run_dir, "-n", "8", *args)
    assert code == 2 and stdout == ""
    assert stderr.startswith("error: ") and message in stderr and stderr.count("\n") == 1, stderr
    assert tree_digest(run_dir) == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a machine without a GPU gives")
def test_a_missing_device_is_refused_first(run_dir):
    before = tree_digest(run_dir)
    code, _, stderr = run_cli("dla", run_dir, "--device", "cuda")
    assert code == 2 and "no CUDA GPU is visible" in stderr and tree_digest(run_dir) == before


def test_dla_on_an_ioi_checkpoint(tmp_path):
    corpus = ioi_corpus()
    cfg = ModelConfig(n_layers=2, d_model=32, n_ctx=26, d_head=8, n_heads=4, d_vocab=corpus.tokenizer.vocab_size, attn_only=True)
    run = tmp_path / "tiny-ioi"
    save_checkpoint(
        run / "checkpoints" / "step_000007", build_model(cfg), cfg, step=7, tokens_seen=0, tokenizer=corpus.tokenizer.to_dict()
    )
    code, stdout, stderr = run_cli("dla", run, "--task", "ioi", "-n", "8")
    assert code == 0, stderr
    meta = json.loads((run / "dla" / "ioi-answer-distractor" / "attribution.json").read_text())
    assert meta["error"] < 1e-4 and meta["position_labels"][-1] == "end"
