"""The feature dashboard page: escaping, highlighting, anchors, the sortable index's data, size for 512 features."""

import html as html_lib
import re
import tempfile
from pathlib import Path

import pytest
import torch
from helpers.browser import CHROMIUM_ARGS, chromium_path

from interp.analysis.sae.features import FeatureSummaries
from interp.report.sae_dashboard_page import dashboard_page, write_dashboard

NASTY = {0: "<script>alert(1)</script>", 1: "a&b", 2: '"quoted"', 3: "\n"}


def synthetic(n_features=40, n_examples=8, context=(8, 3), vocab=500, dead=(0, 1, 2, 7), logits=True, seed=0):
    """Summaries as the analysis would return them, with every window token active (the largest page)."""
    g = torch.Generator().manual_seed(seed)
    window = context[0] + context[1] + 1
    density = torch.rand(n_features, generator=g) * 0.2 + 1e-4
    top_values = (torch.rand(n_features, n_examples, generator=g) * 5).sort(dim=-1, descending=True).values
    rows = torch.randint(1000, (n_features, n_examples), generator=g)
    pos = torch.randint(context[0], 64 - context[1], (n_features, n_examples), generator=g)
    context_tokens = torch.randint(vocab, (n_features, n_examples, window), generator=g)
    context_acts = torch.rand(n_features, n_examples, window, generator=g) * top_values[..., None]
    context_acts[..., context[0]] = top_values
    counts = torch.randint(0, 500, (n_features, 30), generator=g)
    edges = 10 ** torch.linspace(-2, 1, 31).expand(n_features, 31)
    for f in dead:
        density[f], top_values[f], rows[f], pos[f], counts[f], edges[f] = 0, 0, -1, -1, 0, 0
        context_tokens[f], context_acts[f] = -1, 0
    logit = {}
    if logits:
        top = torch.rand(n_features, 8, generator=g).sort(dim=-1, descending=True).values
        logit = dict(
            top_logit_ids=torch.randint(vocab, (n_features, 8), generator=g),
            top_logit_values=top,
            bottom_logit_ids=torch.randint(vocab, (n_features, 8), generator=g),
            bottom_logit_values=-top * 0.5,
        )
    words = ["the", " and", " of", "ing", " Romeo", " thou", "ness", " art"]
    token_text = {i: NASTY.get(i, words[i % len(words)] + str(i % 7)) for i in range(vocab)}
    return FeatureSummaries(
        site="resid_post0",
        kind="topk",
        target_site="resid_post0",
        n_tokens=65_536,
        context=context,
        density=density,
        mean_active=top_values.mean(-1) * 0.5,
        max_activation=top_values[:, 0].clone(),
        histogram_counts=counts,
        histogram_edges=edges.clone(),
        top_values=top_values,
        top_rows=rows,
        top_pos=pos,
        context_tokens=context_tokens,
        context_acts=context_acts,
        token_text=token_text,
        logit_note="" if logits else "v0: its decoder does not write the residual stream linearly",
        **logit,
    )


def test_512_features_with_8_examples_fit_in_5_mb():
    page = dashboard_page(synthetic(n_features=512, dead=(3, 4)), title="512 features")
    size = len(page.encode("utf-8"))
    print(f"\ndashboard of 512 features x 8 examples x 12 tokens: {size / 1e6:.2f} MB")
    assert page.count('<section class="card"') == 510
    assert size <= 5_000_000


def test_token_text_is_escaped_everywhere():
    s = synthetic()
    s.context_tokens[10, 0, :4] = torch.tensor([0, 1, 2, 3])
    s.top_logit_ids[10, :2] = torch.tensor([0, 1])
    page = dashboard_page(s, title="<b>features</b> & more", figures={"note": "<img src=x>"})
    assert "<script>alert" not in page and "<b>features" not in page and "<img" not in page
    card = re.search(r'<section class="card" id="f10">.*?</section>', page).group(0)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card and "a&amp;b" in card and "&quot;quoted&quot;" in card
    assert "↵" in card  # a newline token is shown as a mark, not a line break
    assert page.count("<script>") == 2  # the sort script and the report's loader, nothing from token text


def test_tokens_are_shaded_by_activation_over_the_features_largest_with_the_value_in_the_title():
    s = synthetic()
    f, e = 12, 3
    card = re.search(rf'<section class="card" id="f{f}">.*?</section>', dashboard_page(s, title="t")).group(0)
    line = re.findall(r'<div class="ctx".*?</div>', card)[e]
    spans = re.findall(r'<i( class="c")? style="--a:([0-9.]+)" title="([^"]+)">([^<]*)</i>', line)
    assert len(spans) == 12 and [c for c, *_ in spans].count(' class="c"') == 1 and spans[8][0] == ' class="c"'
    top = float(s.max_activation[f])
    for (_, alpha, title, text), act, token in zip(spans, s.context_acts[f, e].tolist(), s.context_tokens[f, e].tolist()):
        assert float(title) == pytest.approx(act, rel=1e-4)
        assert float(alpha) == pytest.approx(min(act / top, 1.0), abs=0.006)
        assert html_lib.unescape(text) == s.token_text[token].replace("\n", "↵")


def test_every_live_feature_has_an_anchor_and_a_row_and_dead_ones_one_line():
    s = synthetic(dead=(0, 1, 2, 7))
    page = dashboard_page(s, title="t")
    assert re.findall(r'<section class="card" id="f(\d+)">', page) == [str(f) for f in range(40) if f not in (0, 1, 2, 7)]
    assert 'id="f0"' not in page and "Dead features (4): 0–2, 7" in page
    rows = re.findall(
        r'<tr data-id="(\d+)" data-density="([^"]+)" data-max="([^"]+)" data-mean="([^"]+)" data-effect="([^"]+)">', page
    )
    assert [int(r[0]) for r in rows] == [f for f in range(40) if f not in (0, 1, 2, 7)]
    effect = s.logit_effect
    for f, density, top, mean, eff in rows:
        f = int(f)
        assert float(density) == pytest.approx(float(s.density[f]), rel=1e-5)
        assert float(top) == pytest.approx(float(s.max_activation[f]), rel=1e-5)
        assert float(mean) == pytest.approx(float(s.mean_active[f]), rel=1e-5)
        assert float(eff) == pytest.approx(float(effect[f]), rel=1e-5)
    for key in ("id", "density", "max", "mean", "effect"):
        assert f'<th data-key="{key}"' in page


def test_without_logit_effects_the_page_says_why_and_has_no_effect_column():
    page = dashboard_page(synthetic(logits=False), title="t")
    assert "No logit effects: v0: its decoder does not write the residual stream linearly." in page
    assert 'data-key="effect"' not in page and 'class="logits"' not in page


def test_write_dashboard_leaves_the_old_page_when_rendering_fails():
    path = Path(tempfile.mkdtemp()) / "features.html"
    assert write_dashboard(path, synthetic(), title="first") == path
    before = path.read_text(encoding="utf-8")
    with pytest.raises(AttributeError):
        write_dashboard(path, None, title="broken")
    assert path.read_text(encoding="utf-8") == before and "<title>first</title>" in before


@pytest.mark.browser
def test_clicking_a_header_sorts_the_index_offline():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    s = synthetic()
    path = write_dashboard(Path(tempfile.mkdtemp()) / "features.html", s, title="features")
    own, errors, outside, orders = path.resolve().as_uri(), [], [], []

    def route(request_route):
        url = request_route.request.url
        if url == own or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            outside.append(url)
            request_route.abort()

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", route)
            page.goto(own)
            page.wait_for_function("document.body.dataset.rendered !== undefined", timeout=60_000)
            rendered = page.evaluate("document.body.dataset.rendered")
            counts = [page.locator(q).count() for q in ("section.card", "#sae-index tbody tr")]
            for key in ("density", "max", "effect", "effect"):  # the second click on a header flips its order
                page.click(f'#sae-index th[data-key="{key}"]')
                orders.append(page.eval_on_selector_all("#sae-index tbody tr", "rows => rows.map(r => +r.dataset.id)"))
            page.click('a[href="#f20"]')
            at_card = page.evaluate("location.hash")
        finally:
            browser.close()
    assert rendered == "true" and errors == [] and outside == [] and counts == [36, 36] and at_card == "#f20"
    live = [f for f in range(40) if float(s.density[f]) > 0]
    by = {"density": s.density, "max": s.max_activation, "effect": s.logit_effect}
    for (key, descending), ids in zip(
        (("density", True), ("max", True), ("effect", True), ("effect", False)), orders, strict=True
    ):
        assert ids == sorted(live, key=lambda f: float(by[key][f]), reverse=descending), key
