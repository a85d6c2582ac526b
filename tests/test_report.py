"""The study report in a real browser: Debian's Chromium driven by Playwright.

A tiny study (``test_study.study_replication``, a real replication function that reads the
study's inputs) and a plain two-arrangement campaign are run into stores; their reports are
opened from disk. The tests check that the page logs no console error and makes no request
beyond its own file, read the key numbers from the page and compare them with the store, and
take a screenshot whose content is checked (not blank, the plots drawn).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from browser import chromium_page, have_playwright
from conftest import TINY_STUDY as TINY
from conftest import study_replication
from jointbmd import campaign as camp
from jointbmd.analysis import sensitivity as se
from jointbmd.analysis import study as st
from jointbmd.analysis.statistics import paired_proportion_difference
from jointbmd.report.html import write_report
from jointbmd.scenario import load_scenario
from jointbmd.store import Store

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not have_playwright(), reason="needs playwright and apt-get"),
]


@pytest.fixture(scope="module")
def study_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "study.duckdb"
    study = st.validate_study({**TINY, "design": {**TINY["design"], "samples": 4}})
    with Store(path) as store:
        se.run_study(load_scenario("lisbon2010"), study, store,
                     replication_function=study_replication)  # fmt: skip
    return path


QUICK = ["effectiveness"]  # a validation group that takes about a second


def _open(page, path: Path) -> None:
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")


def _value(page, selector: str) -> float:
    return float(page.locator(selector).first.get_attribute("data-value"))


def test_study_report_in_chromium(study_store, tmp_path, monkeypatch):
    # The report's validation section runs the registered checks: all of them take minutes, and
    # whether they pass is test_validate's. Here the section is built from the real checks of
    # one quick group, and must show exactly those.
    from jointbmd.analysis import validate

    run_checks = validate.run_checks
    monkeypatch.setattr(validate, "run_checks", lambda groups=None: run_checks(groups or QUICK))
    out = write_report(study_store, tmp_path / "study.html")
    text = out.read_text()
    assert "http://" not in text and "https://" not in text and "<script" not in text
    with Store(study_store, read_only=True) as store:
        result = se.study_result(store, se.main_campaign(store))
    with chromium_page() as page:
        _open(page, out)
        assert page.console_errors == []
        assert page.requests == [out.resolve().as_uri()]
        # Key numbers on the page equal the store's.
        for name, output in result["outputs"].items():
            metric, label = name.split("[", 1)
            got = page.locator(
                f'td[data-metric="{metric}"][data-row="{label.rstrip("]")}"][data-point="nominal"]'
            )
            assert got.count() == 1, name
            assert float(got.get_attribute("data-value")) == pytest.approx(
                output["nominal"]["value"]
            )
        joint = result["indices"]["p_no_leak[joint-consensus]"]["deveselu"]["total"]["value"]
        cell = 'td[data-metric="total"][data-row="p_no_leak[joint-consensus]|deveselu"]'
        assert _value(page, cell) == pytest.approx(joint)
        (conclusion,) = result["conclusions"]
        assert _value(page, '#conclusions td[data-metric="share"]') == pytest.approx(
            conclusion["share"]
        )
        for section in ("#what", "#sensitivity", "#thresholds", "#map", "#assumptions",
                        "#validation", "#commands"):  # fmt: skip
            assert page.locator(section).count() == 1, section
        assert "jointbmd study lisbon2010 --study tiny" in page.inner_text("#commands")
        shown = page.locator("#validation-table tr").count() - 1  # less the header row
        assert shown == len(run_checks(QUICK)) > 0
        # Every figure decoded and drawn by the browser.
        images = page.locator("img")
        assert images.count() >= 3
        for i in range(images.count()):
            assert images.nth(i).evaluate("img => img.complete && img.naturalWidth > 100")
        shot = tmp_path / "study.png"
        page.screenshot(path=str(shot), full_page=True)
    _assert_drawn(shot)


def test_campaign_report_shows_paired_deltas(tmp_path):
    scenario = camp.with_campaign(load_scenario("lisbon2010"), {"replications": 6, "seed": 3})
    path = tmp_path / "c.duckdb"
    names = ["independent", "data-exchange"]
    with Store(path) as store:
        run = camp.run_campaign(scenario, store, arrangements=names,
                                replication_function=study_replication)  # fmt: skip
        rows = {r.arrangement: r for r in camp.aggregate(store, run.campaign_id)}
        flags = {
            name: [bool(v) for (v,) in store.query(
                "SELECT no_leak FROM replications WHERE campaign_id = ? AND arrangement = ? "
                "ORDER BY replication", [run.campaign_id, name])]
            for name in names
        }  # fmt: skip
    out = write_report(path, tmp_path / "c.html", validation=False)
    delta = paired_proportion_difference(flags["data-exchange"], flags["independent"])
    with chromium_page() as page:
        _open(page, out)
        assert page.console_errors == []
        assert page.requests == [out.resolve().as_uri()]
        for name in names:
            cell = f'#comparison td[data-metric="p_no_leak"][data-row="{name}"]'
            assert _value(page, cell) == pytest.approx(rows[name].p_no_leak)
        cell = '#paired td[data-metric="delta_p_no_leak"][data-row="data-exchange - independent"]'
        assert _value(page, cell) == pytest.approx(delta.value)
        assert f"{delta.ci[0]:+.3f}" in page.locator(cell).inner_text()


def _assert_drawn(png: Path) -> None:
    """The screenshot is a real page: tall, mostly white background, with a good share of
    coloured (plot) pixels, not a blank or an error page."""
    import matplotlib.image

    image = matplotlib.image.imread(str(png))[..., :3]
    height, width, _ = image.shape
    assert height > 2000 and width >= 1000
    saturation = image.max(axis=2) - image.min(axis=2)
    assert float(np.mean(saturation > 0.2)) > 0.01  # coloured bars and map
    assert float(np.mean(image.mean(axis=2) > 0.9)) > 0.5  # a page, not a dark error screen


def test_report_refuses_bad_output(tmp_path, study_store):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", "from jointbmd.cli import main; main()", "report", "--store",
         str(study_store), "--out", str(tmp_path / "missing" / "r.html")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "--out" in done.stderr
