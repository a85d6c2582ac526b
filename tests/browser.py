"""A real browser for tests: Debian's Chromium driven by Playwright (no browser download).

``chromium_page()`` is a context manager yielding a Playwright ``Page`` in a headless Debian
Chromium (``/usr/bin/chromium``), installing the Debian package first when it is missing (the
tests run as root on Debian, like CI). Playwright's own browser builds are never installed.
Every console message and every request the page makes are recorded on the page
(``page.console_errors``, ``page.requests``), so a test can assert that a page made no request
beyond its own file and logged no error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
]


def ensure_chromium() -> str:
    """The path of Debian's Chromium, installed with apt-get when missing."""
    if not Path(CHROMIUM).exists():
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "chromium"], check=True, env=env, capture_output=True
        )
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"chromium is not at {CHROMIUM} after apt-get install")
    return CHROMIUM


@contextlib.contextmanager
def chromium_page(width: int = 1200, height: int = 900) -> Iterator:
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.console_errors = []
            page.requests = []
            page.on(
                "console",
                lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None,
            )
            page.on("pageerror", lambda error: page.console_errors.append(str(error)))
            page.on("request", lambda request: page.requests.append(request.url))
            yield page
        finally:
            browser.close()


def have_playwright() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return shutil.which("apt-get") is not None or Path(CHROMIUM).exists()
