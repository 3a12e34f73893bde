"""`interp patch`: results (safetensors + JSON) and a self-contained page from an IOI checkpoint."""

import json

import pytest
import typer
from typer.testing import CliRunner

from interp.analysis.patching.files import load_result
from interp.cli.commands import patch
from interp.model.build import build_model
from interp.model.config import ModelConfig
from interp.tasks.ioi.prompts import ioi_corpus
from interp.train.checkpoints import save_checkpoint


@pytest.fixture(scope="module")
def ioi_checkpoint(tmp_path_factory):
    corpus = ioi_corpus()
    cfg = ModelConfig(
        n_layers=2, d_model=32, n_ctx=26, d_head=8, n_heads=4, d_vocab=corpus.tokenizer.vocab_size, attn_only=True, seed=0
    )
    run = tmp_path_factory.mktemp("runs") / "tiny-ioi"
    save_checkpoint(
        run / "checkpoints" / "step_000007", build_model(cfg), cfg, step=7, tokens_seen=0, tokenizer=corpus.tokenizer.to_dict()
    )
    return run


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    patch.register(app)
    app.command("noop")(lambda: None)  # two commands, so typer keeps the command name
    return app


@pytest.mark.parametrize(
    "kind,names", [("heads", ["z", "z_by_pos"]), ("path", ["path"]), ("attribution", ["attribution_z", "exact_z"])]
)
def test_patch_writes_results_and_a_page(app, ioi_checkpoint, tmp_path, kind, names):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["patch", str(ioi_checkpoint), "--task", "ioi", "--kind", kind, "-n", "8", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "logit diff clean" in result.output
    for name in names:
        saved = load_result(out / f"{name}.json")
        assert saved["step"] == 7 and saved["split"] == "train" and saved["tensors"]["values"].shape == tuple(saved["shape"])
    page = (out / f"{kind}.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<script src=" not in page and "bundle-plotly" in page


def test_noising_is_saved_beside_denoising_and_refused_for_path_patching(app, ioi_checkpoint, tmp_path):
    out = tmp_path / "out"
    for direction in ("denoising", "noising"):
        result = CliRunner().invoke(
            app, ["patch", str(ioi_checkpoint), "--kind", "resid", "--direction", direction, "-n", "8", "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
    noising, denoising = load_result(out / "resid_pre_noising.json"), load_result(out / "resid_pre.json")
    assert noising["direction"] == "noising" and denoising["direction"] == "denoising"
    assert noising["clean"] == denoising["clean"] and not (noising["tensors"]["values"] == denoising["tensors"]["values"]).all()
    assert (out / "resid_noising.html").exists() and (out / "resid.html").exists()
    result = CliRunner().invoke(
        app, ["patch", str(ioi_checkpoint), "--kind", "path", "--direction", "noising", "-n", "4", "--out", str(out)]
    )
    assert result.exit_code != 0 and "activation patching" in str(result.exception)


def test_path_receivers_and_default_out_dir(app, ioi_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["patch", str(ioi_checkpoint), "--kind", "path", "--receivers", "1.0,1.2", "--component", "k", "-n", "4"]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "reports/patching/tiny-ioi-step7/path.json").read_text())
    assert meta["receivers"] == [[1, 0], [1, 2]] and meta["component"] == "k"


def test_a_run_not_trained_on_ioi_is_refused(app, tmp_path):
    cfg = ModelConfig(n_layers=1, d_model=32, n_ctx=26, d_head=8, n_heads=4, d_vocab=11, attn_only=True)
    run = tmp_path / "char-run"
    save_checkpoint(
        run / "checkpoints" / "step_000001",
        build_model(cfg),
        cfg,
        step=1,
        tokens_seen=0,
        tokenizer={"kind": "char", "alphabet": "abcdefghijk"},
    )
    result = CliRunner().invoke(app, ["patch", str(run), "--kind", "heads"])
    assert result.exit_code != 0 and "not trained on the IOI corpus" in str(result.exception)


def test_heatmap_colours_are_centred_on_no_effect():
    """White is "no effect": 0 for denoising, 1 for noising and path patching (whose normalised value is 1 when
    the path does not matter)."""
    import torch

    from interp.analysis.patching.activation import PatchingResult
    from interp.analysis.patching.path import PathPatchingResult
    from interp.report.patching_figures import patching_heatmap

    values = torch.tensor([[0.5, 2.0], [1.0, 1.5]])
    denoising = PatchingResult("z", ("layer", "head"), values, 2.0, 0.0, 0.0)
    noising = PatchingResult("z", ("layer", "head"), values, 2.0, 0.0, 0.0, direction="noising")
    path = PathPatchingResult("logits", None, values, 2.0, 0.0, 0.0)
    for result, middle in ((denoising, 0.0), (noising, 1.0), (path, 1.0)):
        trace = patching_heatmap(result, title="t").data[0]
        assert trace.zmid == middle and trace.zmax - middle == middle - trace.zmin == float((values / 2 - middle).abs().max())


def test_a_checkpoint_kept_beside_the_run_is_labelled_with_the_run(app, ioi_checkpoint, tmp_path, monkeypatch):
    """An averaged checkpoint (RUN/average-last-20pct) is patched like any checkpoint; its results go to
    reports/patching/RUN-average-last-20pct-stepN/, not to a folder named after the average alone."""
    import shutil

    average = ioi_checkpoint / "average-last-20pct"
    shutil.copytree(ioi_checkpoint / "checkpoints" / "step_000007", average, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["patch", str(average), "--kind", "resid", "-n", "4"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports/patching/tiny-ioi-average-last-20pct-step7/resid_pre.json").exists()
