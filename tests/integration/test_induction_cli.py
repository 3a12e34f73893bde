"""`interp induction` and `interp circuits` on a tiny saved run: JSON and offline HTML are written."""

import json

import pytest
import typer
from helpers.planted_induction import save_planted_run
from typer.testing import CliRunner

from interp.cli.commands import circuits as circuits_command
from interp.cli.commands import induction as induction_command
from interp.core.errors import InterpError


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    induction_command.register(app)
    circuits_command.register(app)
    return app


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return save_planted_run(tmp_path_factory.mktemp("runs") / "planted")


def test_induction_command_writes_json_and_html(app, run_dir, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["induction", str(run_dir), "--out", str(out), "--batch", "6"])
    assert result.exit_code == 0, result.output
    assert "phase change at steps 20-100" in result.output
    assert "L1H0: induction" in result.output.splitlines()[3]
    report = json.loads((out / "induction.json").read_text())
    assert report["series"]["steps"] == [0, 10, 20, 100]
    assert report["phase_change"]["detected"] and report["phase_change"]["head"] == [1, 0]
    assert len(report["heads"]) == 4 * 2 * 3
    html = (out / "induction.html").read_text()
    assert "plotly" in html and "cdn.plot.ly" not in html.split("<body>")[1][:200]
    assert html.count("Plotly.newPlot") >= 4


def test_circuits_command_writes_json_and_html(app, run_dir, tmp_path):
    out = tmp_path / "circuits"
    result = CliRunner().invoke(app, ["circuits", str(run_dir), "--checkpoint", "100", "--out", str(out), "--batch", "6"])
    assert result.exit_code == 0, result.output
    assert "Selected head L1H0" in result.output and "partner: L0H0" in result.output
    report = json.loads((out / "circuits.json").read_text())
    assert report["step"] == 100 and report["selected"]["head"] == "L1H0"
    assert report["selected"]["ov_copying"] == pytest.approx(1.0, abs=1e-4)
    assert report["selected"]["k_partner"]["labels"] == ["previous-token"]
    assert report["selected"]["k_partner"]["previous_token_rank"] == 1
    assert len(report["composition"]["K"]) == 2 and report["random_composition_baseline"] > 0
    assert (out / "circuits.html").read_text().count("Plotly.newPlot") >= 8


def test_default_out_dirs_and_head_option(app, run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["circuits", str(run_dir), "--checkpoint", "20", "--head", "L1H2", "--batch", "4"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports/circuits/planted-step20/circuits.json").exists()
    assert "Selected head L1H2" in result.output


def test_bad_input_is_an_interp_error(app, run_dir, tmp_path):
    result = CliRunner().invoke(app, ["circuits", str(run_dir), "--checkpoint", "7"])
    assert isinstance(result.exception, InterpError) and "no checkpoint at step 7" in str(result.exception)
    result = CliRunner().invoke(app, ["circuits", str(run_dir), "--head", "9.9"])
    assert isinstance(result.exception, InterpError) and "L9H9" in str(result.exception)
    result = CliRunner().invoke(app, ["circuits", str(run_dir), "--head", "one"])
    assert isinstance(result.exception, InterpError) and "LAYER.HEAD" in str(result.exception)
    result = CliRunner().invoke(app, ["induction", str(tmp_path / "missing")])
    assert isinstance(result.exception, InterpError)


def test_run_without_recorded_config_uses_the_whole_vocabulary(app, tmp_path):
    from helpers.factories import tiny_config

    from interp.model.build import build_model
    from interp.train.checkpoints import CHECKPOINTS_DIR, save_checkpoint

    cfg = tiny_config(n_layers=1)
    for step in (0, 3):
        save_checkpoint(
            tmp_path / "bare" / CHECKPOINTS_DIR / f"step_{step:06d}", build_model(cfg), cfg, step=step, tokens_seen=step
        )
    result = CliRunner().invoke(app, ["induction", str(tmp_path / "bare"), "--out", str(tmp_path / "out"), "--batch", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out/induction.json").read_text())
    assert report["probe"]["pool_size"] == 11 and report["probe"]["text_rows"] == 0
    assert report["series"]["icl_score"] == [None, None] and not report["phase_change"]["detected"]
