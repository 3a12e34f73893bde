"""Assemble a self-contained HTML report: text, tables, plotly figures and circuitsvis attention views.

Rendering only: every number on the page was computed before it got here. All user and token text is escaped —
HTML text through `html.escape`, data for the scripts as JSON with `<`, `>` and `&` written as unicode escapes, and
strings inside plotly figures HTML-escaped because plotly interprets a subset of HTML tags in labels.

>>> page = Page("Demo run")
>>> page.heading("Loss")
>>> page.text("Training loss against tokens seen.")
>>> html = page.render()
"""

import html as html_lib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from interp.core.io import write_text
from interp.report.assets import LOADER_JS, compressed_bundle

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1100px;
       padding: 0 1rem; color: #1d1d1f; line-height: 1.5; }
h1 { font-size: 1.8rem; margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; }
.subtitle { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f5f5f7; } td.text, th.text { text-align: left; }
.figure { margin: 1rem 0; min-height: 300px; } .caption { color: #555; font-size: 0.9rem; }
.attention { margin: 1rem 0; } .note { background: #fff8e1; padding: 0.6rem 1rem; border-left: 4px solid #f0c000; }
code { background: #f5f5f7; padding: 0 0.2rem; }
"""


def escape_json_for_script(value: Any) -> str:
    """JSON that cannot close the <script> element it sits in, whatever strings it holds."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, default=_json_default)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if hasattr(value, "tolist"):  # torch tensors
        return value.tolist()
    raise TypeError(f"cannot put a {type(value).__name__} on a report page")


def _escape_plotly_strings(value: Any) -> Any:
    """HTML-escape every string in a plotly figure dict; plotly would otherwise render tags inside labels."""
    if isinstance(value, str):
        return html_lib.escape(value, quote=False)
    if isinstance(value, dict):
        return {k: _escape_plotly_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escape_plotly_strings(v) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
        return [_escape_plotly_strings(v) for v in value.tolist()]
    return value


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON; plotly draws None as a gap."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            return [_finite(v) for v in value.tolist()]
        return value.tolist()
    return value


@dataclass
class Page:
    """One report page. Add blocks in reading order, then `render()` or `write(path)`."""

    title: str
    subtitle: str = ""
    _blocks: list[str] = field(default_factory=list)
    _figures: list[dict[str, Any]] = field(default_factory=list)
    _attention: list[dict[str, Any]] = field(default_factory=list)

    def _next_id(self, kind: str) -> str:
        return f"{kind}-{len(self._figures) + len(self._attention)}"

    def heading(self, text: str) -> None:
        self._blocks.append(f"<h2>{html_lib.escape(text)}</h2>")

    def text(self, text: str) -> None:
        self._blocks.append(f"<p>{html_lib.escape(text)}</p>")

    def note(self, text: str) -> None:
        self._blocks.append(f'<p class="note">{html_lib.escape(text)}</p>')

    def raw(self, block: str) -> None:
        """A block of HTML the caller built, with every piece of text in it already escaped."""
        self._blocks.append(block)

    def table(
        self,
        rows: Sequence[dict[str, Any]],
        *,
        columns: Sequence[str] | None = None,
        digits: int = 3,
        links: Sequence[str] = (),
    ) -> None:
        """A table of dict rows; numbers rounded to `digits` decimals; values in `links` columns become relative links."""
        if not rows:
            self.text("(no rows)")
            return
        columns = list(columns or rows[0].keys())

        def cell(value: Any, column: str) -> str:
            if column in links and isinstance(value, str) and ":" not in value:  # relative paths only, never javascript:
                href = html_lib.escape(value, quote=True)
                return f'<td class="text"><a href="{href}">{html_lib.escape(value)}</a></td>'
            if isinstance(value, float):
                return f"<td>{value:.{digits}f}</td>"
            if isinstance(value, (int, np.integer)):
                return f"<td>{value}</td>"
            return f'<td class="text">{html_lib.escape(str(value))}</td>'

        head = "".join(f'<th class="text">{html_lib.escape(c)}</th>' for c in columns)
        body = "".join("<tr>" + "".join(cell(row.get(c, ""), c) for c in columns) + "</tr>" for row in rows)
        self._blocks.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def figure(self, figure: Any, *, caption: str = "") -> None:
        """A plotly figure (a `plotly.graph_objects.Figure` or its dict)."""
        spec = figure.to_plotly_json() if hasattr(figure, "to_plotly_json") else dict(figure)
        fig_id = self._next_id("figure")
        self._figures.append(
            {
                "id": fig_id,
                "data": _finite(_escape_plotly_strings(spec.get("data", []))),
                "layout": _finite(_escape_plotly_strings(spec.get("layout", {}))),
            }
        )
        caption_html = f'<p class="caption">{html_lib.escape(caption)}</p>' if caption else ""
        self._blocks.append(f'<div class="figure" id="{fig_id}"></div>{caption_html}')

    def attention(
        self,
        tokens: Sequence[str],
        pattern: Any,
        *,
        head_names: Sequence[str] | None = None,
        caption: str = "",
    ) -> None:
        """A circuitsvis view of attention patterns [head query_pos key_pos] over `tokens` (display strings)."""
        pattern = np.asarray(pattern, dtype=np.float32)
        if pattern.ndim != 3 or pattern.shape[1] != len(tokens) or pattern.shape[2] != len(tokens):
            raise ValueError(
                f"attention pattern must be [head query_pos key_pos] with {len(tokens)} positions, got {pattern.shape}"
            )
        view_id = self._next_id("attention")
        props = {
            "tokens": list(tokens),
            "attention": np.round(pattern, 4).tolist(),
            "attentionHeadNames": list(head_names) if head_names else [f"head {h}" for h in range(pattern.shape[0])],
            "maskUpperTri": True,
        }
        self._attention.append({"id": view_id, "props": props})
        caption_html = f'<p class="caption">{html_lib.escape(caption)}</p>' if caption else ""
        self._blocks.append(f'<div class="attention" id="{view_id}"></div>{caption_html}')

    def render(self) -> str:
        data = {"figures": self._figures, "attention": self._attention}
        bundles = []
        if self._figures:
            bundles.append(f'<script type="application/octet-stream" id="bundle-plotly">{compressed_bundle("plotly")}</script>')
        if self._attention:
            bundles.append(
                f'<script type="application/octet-stream" id="bundle-circuitsvis">{compressed_bundle("circuitsvis")}</script>'
            )
        subtitle = f'<p class="subtitle">{html_lib.escape(self.subtitle)}</p>' if self.subtitle else ""
        status = '<p id="render-status" class="caption">Drawing figures…</p>' if (self._figures or self._attention) else ""
        return "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f"<title>{html_lib.escape(self.title)}</title>",
                f"<style>{STYLE}</style></head><body>",
                f"<h1>{html_lib.escape(self.title)}</h1>{subtitle}{status}",
                *self._blocks,
                f'<script type="application/json" id="interp-data">{escape_json_for_script(data)}</script>',
                *bundles,
                f"<script>{LOADER_JS}</script>",
                "</body></html>",
            ]
        )

    def write(self, path: Path) -> Path:
        """Write the page atomically (a reader never sees half a file)."""
        return write_text(Path(path), self.render(), encoding="utf-8")
