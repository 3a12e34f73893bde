"""One offline page of feature dashboards for a sparse dictionary: an index table and a card per feature.

Rendering only: every number comes from `FeatureSummaries` (interp.analysis.sae.features). The index lists the
live features and sorts by density, largest activation, mean activation or logit effect when a header is clicked
(a few lines of inline JavaScript; no library, no figure bundle, so the page stays small: about 5 KB a feature).
Each card (anchor `#f<feature>`, so other pages can link to it) shows the feature's density, an activation
histogram (inline SVG, log-spaced bins), its top and bottom direct logit effects and its top contexts, each token's
background ∝ its activation / the feature's largest, the exact value in the token's title. Dead features are
listed in one line, without cards. Token text is HTML-escaped everywhere.

>>> import tempfile
>>> import torch
>>> from pathlib import Path
>>> from interp.analysis.sae.config import SAEConfig
>>> from interp.analysis.sae.dictionary import SparseDictionary
>>> from interp.analysis.sae.features import feature_summaries
>>> from interp.model.build import build_model
>>> from interp.model.config import ModelConfig
>>> from interp.text.tokenizers import CharTokenizer
>>> model = build_model(ModelConfig(n_layers=1, d_model=16, n_ctx=8, d_head=4, n_heads=4, d_vocab=11, attn_only=True))
>>> sae = SparseDictionary(d_in=16, n_features=32, kind="topk", k=4)
>>> config = SAEConfig(site="resid_post0", kind="topk", n_features=32, k=4)
>>> tokens = torch.randint(11, (6, 8), generator=torch.Generator().manual_seed(0))
>>> summaries = feature_summaries(model, sae, config, tokens, CharTokenizer("<>&abcdefgh"), n_examples=3)
>>> html = dashboard_page(summaries, title="resid_post0 features")
>>> html.count('<section class="card"') == 32 - summaries.n_dead, "<i><</i>" in html, ">&lt;</i>" in html
(True, False, True)
>>> write_dashboard(Path(tempfile.mkdtemp()) / "features.html", summaries, title="features").name
'features.html'
"""

import html as html_lib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from interp.analysis.sae.features import FeatureSummaries
from interp.core.io import write_text
from interp.report.html import Page

STYLE = """
.sae-index td a { text-decoration: none; } .sae-index th[data-key] { cursor: pointer; user-select: none; }
.sae-index th[data-order="desc"]::after { content: " ▼"; } .sae-index th[data-order="asc"]::after { content: " ▲"; }
.card { border: 1px solid #ddd; border-radius: 6px; margin: 1rem 0; padding: 0.4rem 0.9rem; }
.card h3 { margin: 0.2rem 0; font-size: 1.05rem; } .card .stats { color: #555; margin: 0; font-size: 0.9rem; }
.card .top { display: flex; gap: 1.5rem; align-items: flex-start; flex-wrap: wrap; }
.card svg { font-size: 9px; fill: #4a6fa5; } .card svg text { fill: #555; }
.logits { font-size: 0.8rem; margin: 0.3rem 0; } .logits td { padding: 0 0.4rem; }
.ctx { font-family: ui-monospace, monospace; font-size: 0.82rem; white-space: pre; overflow-x: auto; margin: 0.1rem 0; }
.ctx i { font-style: normal; background: rgba(230, 110, 0, var(--a, 0)); } .ctx i.c { outline: 1px solid #b04000; }
.ctx b { display: inline-block; min-width: 4.5em; color: #777; font-weight: normal; }
.dead { font-size: 0.85rem; color: #555; word-wrap: break-word; }
"""

# Sorts the index rows by the clicked header's key (numbers in data-* attributes): largest first, again to flip.
SORT_JS = """
(() => {
  const table = document.getElementById("sae-index");
  if (!table) return;
  for (const th of table.querySelectorAll("th[data-key]")) {
    th.addEventListener("click", () => {
      const key = th.dataset.key, order = th.dataset.order === "desc" ? "asc" : "desc";
      for (const other of table.querySelectorAll("th[data-key]")) delete other.dataset.order;
      th.dataset.order = order;
      const body = table.tBodies[0], rows = Array.from(body.rows);
      const sign = order === "desc" ? -1 : 1;
      rows.sort((a, b) => sign * (Number(a.dataset[key]) - Number(b.dataset[key])) || Number(a.dataset.id) - Number(b.dataset.id));
      for (const row of rows) body.appendChild(row);
    });
  }
})();
"""

HIST_WIDTH, HIST_HEIGHT = 240, 56


def _esc(text: Any) -> str:
    return html_lib.escape(str(text), quote=True)


def _display(token: str, *, alone: bool = False) -> str:
    """A token as it shows: newlines and tabs as visible marks (and spaces too when it stands `alone`), escaped."""
    token = token.replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")
    return _esc(token.replace(" ", "␣") if alone else token)


def _number(value: float) -> str:
    return f"{value:.3g}"


def _ranges(features: list[int]) -> str:
    """0 1 2 3 7 9 10 -> '0–3, 7, 9–10' (the dead list in one short line)."""
    parts, start = [], None
    for i, f in enumerate(features):
        start = f if start is None else start
        if i + 1 == len(features) or features[i + 1] != f + 1:
            parts.append(str(f) if start == f else f"{start}–{f}")
            start = None
    return ", ".join(parts)


def _token(s: FeatureSummaries, token_id: int) -> str:
    return s.token_text.get(token_id, f"#{token_id}")


def index_table(s: FeatureSummaries, live: list[int]) -> str:
    """The sortable index: one row per live feature, the sort keys in data-* attributes."""
    effect = s.logit_effect
    head = (
        '<tr><th data-key="id" class="text">feature</th><th data-key="density">density</th>'
        '<th data-key="max">max activation</th><th data-key="mean">mean when active</th>'
        + ('<th data-key="effect">logit effect</th><th class="text">top logit tokens</th>' if effect is not None else "")
        + '<th class="text">top context</th></tr>'
    )
    rows = []
    for f in live:
        density, top, mean = float(s.density[f]), float(s.max_activation[f]), float(s.mean_active[f])
        data = f'data-id="{f}" data-density="{density:.6g}" data-max="{top:.6g}" data-mean="{mean:.6g}"'
        cells = (
            f'<td class="text"><a href="#f{f}">{f}</a></td><td>{density:.3%}</td><td>{_number(top)}</td><td>{_number(mean)}</td>'
        )
        if effect is not None:
            data += f' data-effect="{float(effect[f]):.6g}"'
            tokens = " ".join(f"<code>{_display(_token(s, int(t)), alone=True)}</code>" for t in s.top_logit_ids[f, :3].tolist())
            cells += f'<td>{_number(float(effect[f]))}</td><td class="text">{tokens}</td>'
        centre = int(s.context_tokens[f, 0, s.context[0]])
        cells += f'<td class="text"><code>{_display(_token(s, centre), alone=True)}</code></td>'
        rows.append(f"<tr {data}>{cells}</tr>")
    return f'<table id="sae-index" class="sae-index"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def histogram_svg(s: FeatureSummaries, f: int) -> str:
    """The feature's nonzero activations as bars on its log-spaced bins, the end edges written under it."""
    counts = s.histogram_counts[f].tolist()
    used = max((i + 1 for i, c in enumerate(counts) if c > 0), default=0)
    if used == 0:
        return ""
    tallest, width = max(counts), HIST_WIDTH / used
    path = [f"M0 {HIST_HEIGHT}"]
    for i, c in enumerate(counts[:used]):
        path.append(f"V{HIST_HEIGHT - (HIST_HEIGHT - 2) * c / tallest:.1f}H{(i + 1) * width:.1f}")
    path.append(f"V{HIST_HEIGHT}Z")
    low, high = float(s.histogram_edges[f, 0]), float(s.histogram_edges[f, used])
    return (
        f'<svg width="{HIST_WIDTH}" height="{HIST_HEIGHT + 12}" role="img"><title>activations when active, log-spaced bins '
        f"from {_number(low)} to {_number(high)}</title>"
        f'<path d="{"".join(path)}"/><text x="0" y="{HIST_HEIGHT + 10}">{_number(low)}</text>'
        f'<text x="{HIST_WIDTH}" y="{HIST_HEIGHT + 10}" text-anchor="end">{_number(high)}</text></svg>'
    )


def logit_table(s: FeatureSummaries, f: int) -> str:
    if s.top_logit_ids is None:
        return ""
    rows = []
    for up, up_value, down, down_value in zip(
        s.top_logit_ids[f].tolist(),
        s.top_logit_values[f].tolist(),
        s.bottom_logit_ids[f].tolist(),
        s.bottom_logit_values[f].tolist(),
        strict=True,
    ):
        rows.append(
            f'<tr><td class="text"><code>{_display(_token(s, up), alone=True)}</code></td><td>{up_value:+.3f}</td>'
            f'<td class="text"><code>{_display(_token(s, down), alone=True)}</code></td><td>{down_value:+.3f}</td></tr>'
        )
    head = '<tr><th class="text" colspan="2">promotes</th><th class="text" colspan="2">suppresses</th></tr>'
    return f'<table class="logits"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


def context_lines(s: FeatureSummaries, f: int) -> str:
    """One line per top example: its activation, then the window's tokens shaded by activation / the feature's max."""
    top, centre, lines = float(s.max_activation[f]), s.context[0], []
    for e in range(s.top_values.shape[1]):
        if int(s.top_rows[f, e]) < 0:
            break
        spans = []
        for w, (token_id, act) in enumerate(zip(s.context_tokens[f, e].tolist(), s.context_acts[f, e].tolist(), strict=True)):
            if token_id < 0:
                continue
            mark = ' class="c"' if w == centre else ""
            shade = f' style="--a:{min(act / top, 1.0):.2f}" title="{act:.5g}"' if act > 0 else ""
            spans.append(f"<i{mark}{shade}>{_display(_token(s, token_id))}</i>")
        where = f"row {int(s.top_rows[f, e])}, pos {int(s.top_pos[f, e])}"
        lines.append(f'<div class="ctx" title="{where}"><b>{float(s.top_values[f, e]):.3g}</b>{"".join(spans)}</div>')
    return "".join(lines)


def feature_card(s: FeatureSummaries, f: int) -> str:
    stats = (
        f"density {float(s.density[f]):.3%} · mean when active {_number(float(s.mean_active[f]))} · "
        f"max {_number(float(s.max_activation[f]))}"
    )
    return (
        f'<section class="card" id="f{f}"><h3>Feature {f}</h3><p class="stats">{stats}</p>'
        f'<div class="top">{histogram_svg(s, f)}{logit_table(s, f)}</div>{context_lines(s, f)}</section>'
    )


def _figure_rows(figures: Mapping[str, Any], prefix: str = "") -> list[dict[str, Any]]:
    rows = []
    for name, value in figures.items():
        if isinstance(value, Mapping):
            rows += _figure_rows(value, f"{prefix}{name}.")
        else:
            shown = value if isinstance(value, int | float | str) else json.dumps(value, default=str)
            rows.append({"figure": f"{prefix}{name}", "value": shown})
    return rows


def explanation(s: FeatureSummaries) -> str:
    target = f" (a transcoder writing {s.target_site})" if s.target_site != s.site else ""
    logits = (
        "Logit effects are each feature's direct effect on the logits: one unit of the feature through the decoder "
        "(and W_O for z sites, W_out for mlp_post) and the unembedding, skipping later layers and ignoring the final "
        "LayerNorm's scale; they rank tokens within a feature."
        if s.top_logit_ids is not None
        else f"No logit effects: {s.logit_note}."
    )
    return (
        f"{s.n_features} features of a {s.kind} dictionary on {s.site}{target}, measured on {s.n_tokens:,} held-out "
        f"tokens; {s.n_dead} are dead (active on none of them). Density: the fraction of tokens where a feature is "
        f"active. Contexts show {s.context[0]} tokens before and {s.context[1]} after each top token (outlined), "
        f"shaded by the feature's activation relative to its largest (hover for the value). {logits} "
        "Click a column header of the index to sort by it."
    )


def dashboard_page(
    summaries: FeatureSummaries, *, title: str, subtitle: str = "", figures: Mapping[str, Any] | None = None
) -> str:
    """The dashboard as one self-contained HTML page; `figures` (e.g. evaluation numbers) go in a table on top."""
    s = summaries
    page = Page(title, subtitle=subtitle)
    page.raw(f"<style>{STYLE}</style>")
    page.text(explanation(s))
    if figures:
        page.table(_figure_rows(figures), columns=["figure", "value"], digits=4)
    dead = s.dead.tolist()
    live = [f for f in range(s.n_features) if float(s.density[f]) > 0]
    page.heading(f"Features ({len(live)} live)")
    page.raw(index_table(s, live) if live else "<p>(no feature was active)</p>")
    if dead:
        page.raw(f'<p class="dead">Dead features ({len(dead)}): {_ranges(dead)}</p>')
    page.heading("Feature cards")
    page.raw("".join(feature_card(s, f) for f in live))
    page.raw(f"<script>{SORT_JS}</script>")
    return page.render()


def write_dashboard(
    path: Path, summaries: FeatureSummaries, *, title: str, subtitle: str = "", figures: Mapping[str, Any] | None = None
) -> Path:
    """Write the dashboard page atomically (a reader never sees half a file)."""
    page = dashboard_page(summaries, title=title, subtitle=subtitle, figures=figures)
    return write_text(Path(path), page, encoding="utf-8")


__all__ = ["dashboard_page", "feature_card", "histogram_svg", "index_table", "write_dashboard"]
