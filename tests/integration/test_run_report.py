"""The run report end to end on a tiny trained run: analysis, rendering, index, and a real browser."""

import json

import pytest
from helpers.browser import outside_requests, screenshot_is_not_blank, visit

from interp.report.build import build_report
from interp.train.config import RunConfig
from interp.train.loop import train


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = RunConfig.from_dict(
        {
            "model": dict(n_layers=2, d_model=32, n_heads=4, d_head=8, n_ctx=32, attn_only=True, seed=0),
            "data": dict(corpus="shakespeare", tokenizer="char", repeated_fraction=0.5, span_min=4, span_max=12, max_documents=1),
            "train": dict(steps=30, batch_size=16, lr=3e-3, eval_every=10, n_checkpoints=6, seed=0),
        }
    )
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    train(run, run_dir, progress=False)
    return run_dir


@pytest.fixture(scope="module")
def report_path(tiny_run, tmp_path_factory):
    return build_report(tiny_run, reports_dir=tmp_path_factory.mktemp("reports"), progress=False, log=lambda line: None)


def test_report_index_and_summary_are_written(report_path):
    assert report_path.name == "tiny.html"
    summary = json.loads(report_path.with_name("tiny.summary.json").read_text())
    assert summary["step"] == 30 and summary["best_induction_head"].startswith("L1H")
    index = (report_path.parent / "index.html").read_text()
    assert 'href="tiny.html"' in index


def test_report_is_small_and_self_contained(report_path):
    html = report_path.read_text()
    assert report_path.stat().st_size < 5_000_000
    assert "https://" not in html.split('id="interp-data"')[0]  # no external references in the markup
    for section in ("Training", "Induction heads forming", "Attention patterns", "Circuits", "Ablation"):
        assert f"<h2>{section}" in html


@pytest.mark.browser
def test_report_renders_in_chromium_without_errors_or_requests(report_path, tmp_path):
    seen = visit(
        report_path,
        tmp_path / "report.png",
        {"plots": ".js-plotly-plot", "attention": "[id^=attention] svg, [id^=attention] canvas, [id^=attention] table"},
    )
    assert seen.rendered == "true", (seen.console_errors, seen.page_errors)
    assert seen.console_errors == [] and seen.page_errors == [] and seen.dialogs == []
    assert outside_requests(seen, report_path) == []
    assert seen.counts["plots"] >= 8
    assert seen.counts["attention"] >= 1
    assert screenshot_is_not_blank(seen.screenshot)
