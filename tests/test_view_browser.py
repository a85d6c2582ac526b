"""The viewer in a real browser: Debian's Chromium driven by Playwright, software WebGL.

The session installs what it needs itself: Chromium with ``apt-get`` when ``/usr/bin/chromium``
is missing (never ``playwright install``: no browser is downloaded), npm likewise, and Cesium
through ``jointbmd.report.viewer.cesium`` (``npm pack`` of the pinned version). The page is served
on 127.0.0.1 and every request it makes is recorded; Chromium's own background services are
switched off by flags, since this machine refuses outside connections anyway.

Frames are slow on a software renderer (about one a second on two shared cores), so the tests
wait for frames the page counts (``jointbmdView.frames``), never for a fixed time.

Screenshots land in ``JOINTBMD_SCREENSHOTS`` when set (to look at them), else in a temp folder.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    # No outside connections of Chromium's own.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-client-side-phishing-detection",
    "--no-first-run",
    "--no-pings",
    "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
]
VIEWPORT = {"width": 1000, "height": 640}
FRAME_TIMEOUT_MS = 180_000
LOCAL_HOSTS = {"127.0.0.1"}


def apt_install(package: str) -> None:
    subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
    done = subprocess.run(
        ["apt-get", "install", "-y", "-q", package], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"apt-get install {package}: {done.stderr[-500:]}"


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        apt_install("chromium")
    if shutil.which("npm") is None:
        apt_install("npm")
    return CHROMIUM


@pytest.fixture(scope="module")
def scene():
    from jointbmd.report.scene import replay
    from jointbmd.scenario import load_scenario

    return replay(load_scenario("lisbon2010"), "joint-consensus", replication=0, seed=2010)


@pytest.fixture(scope="module")
def site(scene, chromium, tmp_path_factory):
    from jointbmd.report.viewer import serve_in_background, write_viewer

    folder = tmp_path_factory.mktemp("view")
    write_viewer(scene, folder)
    httpd = serve_in_background(folder)
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser_page(site, chromium):
    from playwright.sync_api import sync_playwright

    _, url = site
    log = {"console": [], "requests": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.on("console", lambda m: log["console"].append((m.type, m.text)))
        page.on("pageerror", lambda e: log["console"].append(("error", str(e))))
        page.on("request", lambda r: log["requests"].append(r.url))
        page.goto(url)
        page.wait_for_function(
            "window.jointbmdView.ready || window.jointbmdView.error", timeout=FRAME_TIMEOUT_MS
        )
        assert page.evaluate("window.jointbmdView.error") is None
        wait_frames(page, 2)
        yield page, log
        browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("JOINTBMD_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screens")
    path.mkdir(parents=True, exist_ok=True)
    return path


def wait_frames(page, n: int) -> None:
    start = page.evaluate("window.jointbmdView.frames")
    page.wait_for_function(f"window.jointbmdView.frames >= {start + n}", timeout=FRAME_TIMEOUT_MS)


def show_at(page, t_s: float, frames: int = 3) -> None:
    """Stop the clock at t_s and let the scene render there."""
    page.evaluate(
        f"jointbmdView.viewer.clock.shouldAnimate = false; jointbmdView.setSeconds({t_s})"
    )
    wait_frames(page, frames)


def pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def globe_area(image: np.ndarray) -> np.ndarray:
    """The middle of the view, clear of the panels and Cesium's clock widgets."""
    h, w, _ = image.shape
    return image[int(0.05 * h) : int(0.70 * h), int(0.30 * w) : int(0.62 * w)]


def test_page_loads_without_console_errors(browser_page):
    page, log = browser_page
    errors = [text for kind, text in log["console"] if kind == "error"]
    assert errors == []


def test_no_request_leaves_loopback(browser_page):
    page, log = browser_page
    assert log["requests"], "the page made no request at all"
    outside = []
    for url in log["requests"]:
        parsed = urlparse(url)
        if parsed.scheme in ("data", "blob"):
            # In-page URLs: blob:http://127.0.0.1:PORT/uuid, data:...
            inner = urlparse(url.split(":", 1)[1]) if parsed.scheme == "blob" else None
            if inner is None or inner.hostname in LOCAL_HOSTS:
                continue
        if parsed.hostname not in LOCAL_HOSTS:
            outside.append(url)
    assert outside == []
    # The imagery is Cesium's own Natural Earth II, from this folder.
    assert any("NaturalEarthII" in url for url in log["requests"])


def test_entity_counts_match_the_runs_records(browser_page, scene):
    from jointbmd.report.czml import expected_counts

    page, _ = browser_page
    counts = page.evaluate("jointbmdView.counts()")
    for kind, n in expected_counts(scene).items():
        assert counts.get(kind, 0) == n, kind
    assert counts["threat"] == len(scene.result.threats)
    assert counts["flyout"] == sum(t.shots for t in scene.result.threats)
    timeline = page.locator("#events li")
    assert timeline.count() == len(scene.result.events)


def test_clock_advances(browser_page):
    page, _ = browser_page
    page.evaluate("jointbmdView.setSeconds(100); jointbmdView.viewer.clock.shouldAnimate = true")
    before = page.evaluate("jointbmdView.secondsNow()")
    wait_frames(page, 3)
    # The clock moves with wall time, so a few quick frames may not yet make a whole step: wait
    # (bounded) for it to move rather than for a fixed number of frames.
    page.wait_for_function(f"jointbmdView.secondsNow() > {before}", timeout=FRAME_TIMEOUT_MS)
    after = page.evaluate("jointbmdView.secondsNow()")
    assert after > before
    label = page.locator("#clock").inner_text()
    assert label.startswith("T+")


def test_screenshots_at_two_times_differ_and_are_not_blank(browser_page, scene, screenshots):
    page, _ = browser_page
    first = float(np.min(scene.truth.launch_time))
    t_boost = first + 60.0
    t_engaged = float(np.median([f.t_intercept_s for f in scene.flyouts])) - 5.0
    show_at(page, t_boost)
    early = page.screenshot(path=str(screenshots / "view-boost.png"), timeout=FRAME_TIMEOUT_MS)
    show_at(page, t_engaged)
    late = page.screenshot(path=str(screenshots / "view-engaged.png"), timeout=FRAME_TIMEOUT_MS)
    a, b = pixels(early), pixels(late)
    for image in (a, b):
        globe = globe_area(image)
        assert globe.std() > 10.0  # not one flat colour
        assert len(np.unique(globe.reshape(-1, 3), axis=0)) > 200
    changed = np.any(np.abs(globe_area(a) - globe_area(b)) > 24, axis=2)
    assert changed.mean() > 0.002


def test_layer_toggle_hides_its_entities(browser_page):
    page, _ = browser_page
    box = page.locator('#layers input[data-name="trajectory"]')
    box.uncheck()
    shown = page.evaluate(
        "jointbmdView.source.entities.values.filter(e => e.id.startsWith('trajectory/'))"
        ".filter(e => e.show).length"
    )
    assert shown == 0
    box.check()
    shown = page.evaluate(
        "jointbmdView.source.entities.values.filter(e => e.id.startsWith('trajectory/'))"
        ".filter(e => e.show).length"
    )
    assert shown > 0


def test_click_on_a_threat_shows_its_record(browser_page, scene, screenshots):
    page, _ = browser_page
    # Threat 0 in midcourse; trajectories and tracks off so the click meets the threat itself.
    for layer in ("trajectory", "national", "fused", "message", "coverage"):
        page.locator(f'#layers input[data-name="{layer}"]').uncheck()
    outcome = scene.result.threats[0]
    t = outcome.launch_time_s + 0.5 * (outcome.impact_time_s - outcome.launch_time_s)
    show_at(page, t)
    point = page.evaluate("jointbmdView.screenOf('threat/0')")
    assert point is not None
    page.mouse.click(point["x"], point["y"])
    record = page.locator("#record")
    record.wait_for(state="visible", timeout=FRAME_TIMEOUT_MS)
    text = record.inner_text()
    assert "threat_id" in text and outcome.aimpoint in text
    assert ("killed" if outcome.killed else "leaked") in text
    assert (outcome.engaged_by or "—") in text
    page.screenshot(path=str(screenshots / "view-record.png"), timeout=FRAME_TIMEOUT_MS)
    shown = json.loads(
        page.evaluate("jointbmdView.viewer.selectedEntity.properties.record.getValue()")
    )
    assert shown["threat_id"] == 0
