"""A plain self-contained HTML page of plotly figures and tables (the `interp induction` and `circuits` pages).

Rendering only. plotly.js is inlined once, with the first figure, so the page opens offline.

>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "page.html"
>>> write_figures_page(path, "Demo", ["One line."], [], tables=[("heads", [{"head": "L0H1", "score": 0.5}])])
>>> "<td>0.500</td>" in path.read_text()
True
"""

import html
from pathlib import Path

from interp.core.io import write_text

STYLE = "body{font-family:sans-serif;max-width:1200px;margin:2rem auto}td,th{border:1px solid #ccc;padding:2px 8px}table{border-collapse:collapse}"


def write_figures_page(
    path: Path, title: str, lines: list[str], figures: list, tables: list[tuple[str, list[dict]]] = ()
) -> None:
    """Write `title`, `lines` (paragraphs), `tables` (caption, rows) and `figures` (plotly) to `path`, atomically."""
    import plotly.io as pio  # plotly is heavy; only pages need it

    parts = [f"<h1>{html.escape(title)}</h1>"] + [f"<p>{html.escape(line)}</p>" for line in lines]
    for caption, rows in tables:
        if rows:
            head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
            body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row.values()) + "</tr>" for row in rows)
            parts.append(f"<h2>{html.escape(caption)}</h2><table><tr>{head}</tr>{body}</table>")
    for index, figure in enumerate(figures):
        parts.append(pio.to_html(figure, full_html=False, include_plotlyjs=index == 0))
    page = f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{"".join(parts)}</body></html>'
    write_text(path, page, encoding="utf-8")


def _cell(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
