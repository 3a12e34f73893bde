"""Load a local HTML file in headless Debian Chromium and report what a person would see.

Used by the report tests. Skips (with the reason) where Chromium or playwright is missing.
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    rendered: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    screenshot: Path | None = None


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); browser tests skipped")
    return path


def visit(html_file: Path, screenshot: Path, selectors: dict[str, str], timeout_ms: int = 60_000) -> PageVisit:
    """Open `html_file`, wait until the page says it rendered, count elements matching `selectors`."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    result = PageVisit()
    url = html_file.resolve().as_uri()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: m.type == "error" and result.console_errors.append(m.text))
            page.on("pageerror", lambda e: result.page_errors.append(str(e)))

            def on_dialog(dialog):
                result.dialogs.append(dialog.message)
                dialog.dismiss()

            page.on("dialog", on_dialog)

            def on_request(route):
                result.requests.append(route.request.url)
                if route.request.url == url or route.request.url.startswith(("data:", "blob:")):
                    route.continue_()
                else:
                    route.abort()

            page.route("**/*", on_request)
            page.goto(url)
            page.wait_for_function("document.body.dataset.rendered !== undefined", timeout=timeout_ms)
            result.rendered = page.evaluate("document.body.dataset.rendered")
            for name, selector in selectors.items():
                result.counts[name] = page.locator(selector).count()
            page.screenshot(path=str(screenshot), full_page=False)
            result.screenshot = screenshot
        finally:
            browser.close()
    return result


def outside_requests(visit_result: PageVisit, html_file: Path) -> list[str]:
    own = html_file.resolve().as_uri()
    return [u for u in visit_result.requests if u != own and not u.startswith(("data:", "blob:"))]


def screenshot_is_not_blank(path: Path) -> bool:
    """True if the PNG has more than a handful of distinct colours (a blank page has one)."""
    import zlib

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # Gather IDAT chunks and count distinct bytes of the decompressed scanlines: blank pages compress to few values.
    chunks, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks.append(data[offset + 8 : offset + 8 + length])
        offset += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    return len(set(raw)) > 16
