import json
import re

import numpy as np
import plotly.graph_objects as go
import pytest
from helpers.browser import outside_requests, screenshot_is_not_blank, visit

from interp.report.html import Page, escape_json_for_script

HOSTILE = "</script><script>alert(1)</script>"
HOSTILE_IMG = '<img src=x onerror="alert(2)">'


def hostile_page() -> Page:
    page = Page(f"Report {HOSTILE}", subtitle=HOSTILE_IMG)
    page.heading(HOSTILE)
    page.text(HOSTILE_IMG)
    page.table([{"token": HOSTILE, "score": 0.5, "layer": 1}])
    page.figure(go.Figure(go.Scatter(x=[1, 2, 3], y=[1.0, float("nan"), 2.0], name=HOSTILE)), caption=HOSTILE)
    page.figure(go.Figure(go.Heatmap(z=np.eye(3), x=[HOSTILE, HOSTILE_IMG, "c"], y=["a", "b", "c"])))
    tokens = [HOSTILE, HOSTILE_IMG, "to", "be"]
    pattern = np.tril(np.ones((2, 4, 4)))
    page.attention(tokens, pattern / pattern.sum(-1, keepdims=True), head_names=["L0H0", HOSTILE])
    return page


def test_json_for_scripts_cannot_close_the_script_element():
    text = escape_json_for_script({"t": HOSTILE, "a": "&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"t": HOSTILE, "a": "&"}


def test_hostile_strings_appear_only_escaped_in_the_markup():
    html = hostile_page().render()
    # The only <script> elements are our own four: data, two bundles, loader.
    assert len(re.findall(r"<script\b", html)) == 4
    assert "<img" not in html
    assert "alert(1)" in html  # present, but as text


def test_bundles_are_inlined_once_and_nothing_points_elsewhere():
    page = hostile_page()
    page.attention(["a", "b"], np.array([[[1.0, 0.0], [0.5, 0.5]]]))
    html = page.render()
    assert html.count('id="bundle-plotly"') == 1 and html.count('id="bundle-circuitsvis"') == 1
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)\s*=""", html)


def test_attention_shape_is_checked():
    with pytest.raises(ValueError, match=r"\[head query_pos key_pos\] with 3 positions"):
        Page("x").attention(["a", "b", "c"], np.ones((2, 3, 2)))


@pytest.mark.browser
def test_page_renders_offline_in_chromium_with_hostile_tokens_inert(tmp_path):
    path = hostile_page().write(tmp_path / "report.html")
    seen = visit(
        path,
        tmp_path / "report.png",
        {"plots": ".js-plotly-plot", "attention": "[id^=attention] *", "tables": "table"},
    )
    assert seen.rendered == "true", (seen.console_errors, seen.page_errors)
    assert seen.console_errors == [] and seen.page_errors == []
    assert seen.dialogs == []  # no alert() ran
    assert outside_requests(seen, path) == []
    assert seen.counts["plots"] == 2 and seen.counts["attention"] > 10 and seen.counts["tables"] == 1
    assert screenshot_is_not_blank(seen.screenshot)
