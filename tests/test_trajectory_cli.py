"""``jointbmd trajectory``: JSON report and one-line errors (real subprocesses)."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from jointbmd import earth
from jointbmd.trajectory import kepler

KEYS = {
    "range_km",
    "burnout_speed_mps",
    "burnout_speed_inertial_mps",
    "burnout_flight_path_angle_deg",
    "apogee_km",
    "flight_time_s",
    "impact_miss_m",
}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["jointbmd", "trajectory", *args], capture_output=True, text=True)


def test_json_report_ideal_matches_textbook():
    out = run("--launch", "0,0", "--target", "0,30", "--model", "ideal", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert KEYS <= set(report)
    psi = np.radians(30.0)
    me = kepler.minimum_energy(psi)
    assert report["range_km"] == pytest.approx(earth.R_IDEAL * psi / 1000)
    assert report["burnout_speed_mps"] == pytest.approx(me["speed"], rel=1e-6)
    assert report["burnout_speed_inertial_mps"] == pytest.approx(me["speed"], rel=1e-6)
    assert report["flight_time_s"] == pytest.approx(me["flight_time"], rel=1e-6)
    assert report["impact_miss_m"] < 1000


def test_json_report_missile_lofted():
    out = run("--launch", "32,52", "--target", "36,44", "--missile", "Shahab-3",
              "--apogee-km", "300", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["apogee_km"] == pytest.approx(300, abs=0.05)
    assert report["impact_miss_m"] < 1000
    assert report["burnout_speed_inertial_mps"] != report["burnout_speed_mps"]


def test_human_table():
    out = run("--launch", "32,52", "--target", "36,44")
    assert out.returncode == 0, out.stderr
    assert "burnout_speed_mps" in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--launch", "95,0", "--target", "1,1"],
        ["--launch", "abc", "--target", "1,1"],
        ["--launch", "1,2", "--target", "1,nan"],
        ["--launch", "1,2", "--target", "1,10", "--apogee-km", "100", "--flight-time-s", "300"],
        ["--launch", "1,2", "--target", "1,10", "--apogee-km", "-5"],
        ["--launch", "1,2", "--target", "1,10", "--missile", "NoSuchMissile"],
        ["--launch", "32,52", "--target", "51.5,0", "--missile", "Shahab-3"],
        ["--launch", "1,2", "--target", "1,10", "--model", "round"],
        ["--launch", "1,2", "--target", "1,2"],
        ["--launch", "1,2", "--target", "1,10", "--missile", "Shahab-3", "--scenario", "nope"],
    ],
)
def test_bad_flags_give_one_line_and_exit_2(args):
    out = run(*args)
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
