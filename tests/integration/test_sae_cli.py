"""`interp sae` end to end on a tiny run: train, eval, dashboard, series, list; the run report's dictionary
section; bad input is one line with nothing written or changed."""

import json

import pytest
from helpers.cli_run import run_cli, tree_digest

import interp
from interp.analysis.sae.files import load_dictionary
from interp.report.build import build_report

SMALL = [
    "--features",
    "32",
    "--k",
    "4",
    "--tokens",
    "4096",
    "--set",
    "batch_tokens=256",
    "--set",
    "buffer_tokens=1024",
    "--no-progress",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    overrides = {"data.corpus": "shakespeare", "data.repeated_fraction": 0.5, "data.max_documents": 1, "train.steps": 20}
    return interp.train_run("tiny", tmp_path_factory.mktemp("runs") / "tiny", overrides=overrides, progress=False).run_dir


@pytest.fixture(scope="module")
def trained(run_dir):
    code, stdout, stderr = run_cli("sae", "train", run_dir, "--site", "resid_post0", *SMALL, "--rows", "8")
    assert code == 0, stderr
    return run_dir / "saes" / "resid_post0-topk-32" / "step_000020", stdout


def test_train_writes_the_dictionary_and_its_evaluation(trained):
    path, stdout = trained
    saved = load_dictionary(path)
    assert saved.config.kind == "topk" and saved.config.k == 4 and saved.sae.n_features == 32
    evaluation = json.loads((path / "evaluation.json").read_text())
    assert 0 < evaluation["n_tokens"] and -1 < evaluation["explained_variance"] <= 1
    assert evaluation["l0"] <= 4 + 1e-6  # topk: never more than k active features
    assert "explained variance" in stdout and "CE loss recovered" in stdout and "held-out tokens" in stdout


def test_eval_dashboard_and_list(trained, run_dir, tmp_path):
    path, _ = trained
    code, stdout, stderr = run_cli("sae", "eval", path, "--rows", "4")
    assert code == 0, stderr and "explained variance" in stdout
    page = tmp_path / "dash.html"
    code, stdout, stderr = run_cli("sae", "dashboard", path, "--rows", "8", "--out", page)
    assert code == 0, stderr
    html = page.read_text()
    assert 'id="f' in html and "cdn" not in html
    code, stdout, _ = run_cli("sae", "list", run_dir)
    assert code == 0 and "resid_post0-topk-32" in stdout and "EV " in stdout


def test_series_and_the_run_report_section(trained, run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the timeline page goes to reports/sae/ under the working directory
    code, stdout, stderr = run_cli(
        "sae", "series", run_dir, "--site", "resid_post0", *SMALL, "--checkpoints", "all", "--rows", "8"
    )
    assert code == 0, stderr
    assert "present at each step" in stdout
    assert (run_dir / "saes" / "resid_post0-topk-32" / "timeline" / "feature_timeline.json").exists()
    assert list((tmp_path / "reports" / "sae").glob("*-timeline.html"))
    report = build_report(run_dir, reports_dir=tmp_path / "reports", circuit=False, progress=False, log=lambda line: None)
    html = report.read_text()
    assert "Sparse dictionaries" in html and "Features of resid_post0-topk-32 across training" in html


def test_bad_input_is_one_line_and_changes_nothing(trained, run_dir):
    path, _ = trained
    before = tree_digest(run_dir)
    cases = [
        (["--site", "mlp_out0"], "no hook"),  # an attention-only model has no MLP
        (["--site", "resid_post0", "--features", "8", "--k", "16"], "k must be at most n_features"),
        (["--site", "resid_post9"], "out of range"),
        (["--site", "resid_post0", *SMALL], "already exists"),  # the trained dictionary is not overwritten
    ]
    for args, message in cases:
        code, _, stderr = run_cli("sae", "train", run_dir, *args, "--no-progress")
        assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, (args, stderr)
    assert tree_digest(run_dir) == before
    code, _, stderr = run_cli("sae", "eval", run_dir / "nowhere")
    assert code == 2 and "no saved dictionary" in stderr


def test_a_dictionary_from_another_model_is_refused(trained, tmp_path):
    """A dictionary copied into a run of another shape is refused by eval and dashboard, nothing written."""
    import shutil

    path, _ = trained
    other = interp.train_run(
        "tiny", tmp_path / "other", overrides={"model.d_model": 32, "model.d_head": 16, "train.steps": 20}, progress=False
    ).run_dir
    copy = other / "saes" / path.parent.name / path.name
    shutil.copytree(path, copy)
    (copy / "evaluation.json").unlink()
    for command in (["eval", copy], ["dashboard", copy, "--out", tmp_path / "d.html"]):
        code, _, stderr = run_cli("sae", *command)
        assert code == 2 and "trained on another model" in stderr and len(stderr.strip().splitlines()) == 1
    assert not (copy / "evaluation.json").exists() and not (tmp_path / "d.html").exists()
