"""The JavaScript a report needs, inlined once per page and gzip-compressed.

plotly.js (4.8 MB) and the circuitsvis bundle (1.3 MB) would make every page 6 MB. Compressed and base64-encoded
they take about 2.5 MB; the page decompresses them with the browser's built-in `DecompressionStream` and runs
them as inline scripts. No file is fetched from anywhere: the page works from disk, offline.
"""

import base64
import functools
import gzip
from pathlib import Path


def _circuitsvis_source() -> str:
    import circuitsvis

    return (Path(circuitsvis.__file__).parent / "dist" / "cdn" / "iife.js").read_text(encoding="utf-8")


def _plotly_source() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


SOURCES = {"plotly": _plotly_source, "circuitsvis": _circuitsvis_source}


@functools.cache
def compressed_bundle(name: str) -> str:
    """Base64 of the gzip of the named JavaScript bundle (computed once per process)."""
    if name not in SOURCES:
        raise KeyError(f"unknown bundle {name!r}; known: {sorted(SOURCES)}")
    data = SOURCES[name]().encode("utf-8")
    # mtime=0 makes the bytes, and so every page built from them, reproducible.
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


# Runs the bundles, then every figure and attention view described in the page's JSON blocks.
# `rendered` on <body> tells a browser test (or a person) that everything drew without an exception.
LOADER_JS = r"""
(async () => {
  async function runBundle(id) {
    const text = document.getElementById(id).textContent.trim();
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const code = await new Response(stream).text();
    const script = document.createElement("script");
    script.textContent = code;
    document.head.appendChild(script);
  }
  const status = document.getElementById("render-status");
  try {
    const specs = JSON.parse(document.getElementById("interp-data").textContent);
    if (specs.figures.length) await runBundle("bundle-plotly");
    if (specs.attention.length) await runBundle("bundle-circuitsvis");
    for (const fig of specs.figures) {
      await Plotly.newPlot(fig.id, fig.data, fig.layout, {responsive: true, displaylogo: false});
    }
    for (const view of specs.attention) {
      CircuitsVis.render(view.id, CircuitsVis.AttentionHeads, view.props);
    }
    document.body.dataset.rendered = "true";
    if (status) status.remove();
  } catch (error) {
    document.body.dataset.rendered = "error";
    if (status) status.textContent = "This report could not draw its figures: " + error;
    throw error;
  }
})();
"""
