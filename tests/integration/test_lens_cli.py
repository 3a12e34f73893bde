"""`interp lens`: a tuned lens per checkpoint, metrics, series and page beside the run,
and the run report's section; bad input is one line with nothing written."""

import pytest
from helpers.cli_run import run_cli, tree_digest
from helpers.planted_induction import save_planted_run

from interp.analysis.lens.files import load_lens, load_lens_series, load_metrics, run_lens_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return save_planted_run(tmp_path_factory.mktemp("runs") / "planted")


def test_lens_trains_and_measures_both_lenses_beside_the_run(run_dir):
    code, stdout, stderr = run_cli("lens", run_dir, "--checkpoints", "all", "--steps", "60", "--task", "induction", "-n", "8")
    assert code == 0, stderr
    base = run_lens_dir(run_dir)
    series, meta = load_lens_series(base)
    assert series.steps == (0, 10, 20, 100) and meta["source"].startswith("validation data of the run")
    for step in series.steps:
        lens, record = load_lens(base / f"step_{step:06d}", n_layers=2, d_model=48)
        training = record["training"]
        assert training["steps"] == 60 and all(a < b for a, b in zip(training["kl_after"], training["kl_before"]))
    logit, info = load_metrics(base / "step_000100", "logit lens")
    tuned, _ = load_metrics(base / "step_000100", "tuned lens")
    assert logit.read_positions is not None and info["task"] == "induction" and tuned.lens == "tuned lens"
    assert logit.kl.shape == tuned.kl.shape == (8, 3, logit.targets.shape[1])
    assert "resid_pre0" in stdout and "tuned lens: 60 steps" in stdout
    html = (base / "lens.html").read_text()
    assert "Plotly.newPlot" in html and "cdn.plot.ly" not in html


def test_the_run_report_shows_the_saved_lenses_and_attributions(run_dir, tmp_path):
    assert run_cli("lens", run_dir, "--checkpoints", "none", "--no-tuned")[0] == 0
    assert run_cli("dla", run_dir, "--checkpoints", "none", "-n", "8")[0] == 0
    from interp.analysis.run_analysis import analyse_run
    from interp.report.run_report import render_run_report

    html = render_run_report(analyse_run(run_dir, progress=False, log=lambda line: None)).render()
    assert "Logit lens and tuned lens" in html and "Direct logit attribution: induction-answer-distractor" in html
    assert "Not computed for this run yet" not in html


@pytest.mark.parametrize(
    "args,message",
    [
        (["--layers", "0,9"], "lens layer 9 does not exist: the model has layers 0..1"),
        (["--layers", "x"], "--layers must be all or layer numbers"),
        (["--rows", "1"], "--rows must be at least 2"),
        (["--task", "birthdays"], "unknown task 'birthdays'"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(run_dir, args, message):
    assert run_cli("lens", run_dir, "--checkpoints", "none", "--steps", "5")[0] == 0  # something already written
    before = tree_digest(run_dir)
    code, stdout, stderr = run_cli("lens", run_dir, "--checkpoints", "none", *args)
    assert code == 2 and stdout == ""
    assert stderr.startswith("error: ") and message in stderr and stderr.count("\n") == 1, stderr
    assert tree_digest(run_dir) == before
