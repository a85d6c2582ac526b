"""Launch warning has value: radars search slowly and weakly until cued, launch reports cue them
(own space-based infrared, and a partner's through the fusion centre), and an elevated radar may
look below its local horizontal.

References: the search radar equation (SNR of a search look below a dedicated look by the ratio
of their dwells; Skolnik, *Introduction to Radar Systems*, 3rd ed., §2.13) with the R⁴ law of
detection range; the 4/3-Earth horizon dip sqrt(2h / (kR)) (Skolnik §8.2).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from jointbmd import earth
from jointbmd.analysis.validation_scenarios import two_partner_data, validate_data
from jointbmd.exchange import verify_ledger
from jointbmd.scenario import load_scenario
from jointbmd.scenario.loader import set_field
from jointbmd.sensors import Radar
from jointbmd.simulation import build_picture, build_truth, generator

SITE = (math.radians(40.0), math.radians(40.0), 0.0)


def search_radar(**overrides) -> Radar:
    params = dict(
        name="R",
        partner="P",
        lat=SITE[0],
        lon=SITE[1],
        alt=SITE[2],
        reference_range=2000e3,
        range_noise=10.0,
        angle_noise=1e-3,
        revisit=1.0,
        search_frame=10.0,
        search_loss_db=12.0,
        model="ideal",
    )
    params.update(overrides)
    return Radar(**params)


def overhead_track(n_times: int = 301, height_m: float = 500e3) -> tuple[np.ndarray, np.ndarray]:
    """One object standing 500 km above the site for 300 s (always visible)."""
    times = np.linspace(0.0, 300.0, n_times)
    up = earth.geodetic_to_ecef(SITE[0], SITE[1], height_m, "ideal")
    return times, np.broadcast_to(up, (1, n_times, 3)).copy()


def test_a_search_detection_starts_dedicated_looks_at_the_revisit_and_full_snr():
    radar = search_radar()
    times, r = overhead_track()
    m = radar.observe(times, r, np.array([1.0]), np.random.default_rng(1))
    # Found by the first search frame (SNR far above the floor at 500 km, P_d ~ 1) ...
    assert m.t[0] < radar.search_frame
    assert m.snr_db[0] == pytest.approx(radar.snr_db(500e3, 1.0) - radar.search_loss_db, abs=0.01)
    # ... then looked at every revisit second with dedicated dwells at the full SNR (a Swerling 1
    # target may fade on a look: the gaps are whole revisit periods).
    assert m.t[1] - m.t[0] <= 3 * radar.revisit
    assert _whole_periods(np.diff(m.t[1:]), radar.revisit)
    assert np.allclose(m.snr_db[1:], radar.snr_db(500e3, 1.0), atol=0.01)


def test_a_cue_starts_dedicated_looks_at_once():
    radar = search_radar(search_loss_db=40.0)  # search alone never finds it
    times, r = overhead_track(height_m=1500e3)
    assert len(radar.observe(times, r, np.array([1.0]), np.random.default_rng(2))) == 0
    m = radar.observe(times, r, np.array([1.0]), np.random.default_rng(2), cue_time=[100.0])
    assert 100.0 < m.t[0] <= 100.0 + 3 * radar.revisit
    assert _whole_periods(np.diff(m.t), radar.revisit)
    assert len(m) > 0.7 * (300.0 - 100.0) / radar.revisit


def _whole_periods(gaps: np.ndarray, period: float) -> bool:
    ratio = gaps / period
    return bool(np.all(ratio >= 0.999) and np.allclose(ratio, np.round(ratio)))


def test_search_detection_range_is_the_dedicated_range_times_the_fourth_root_of_the_loss():
    """Search radar equation: a look ``L`` dB weaker reaches 10^(-L/40) of the range."""
    radar = search_radar(detection_snr_db=13.0, reference_snr_db=13.0)
    dedicated = radar.detection_range(1.0)
    searched = dedicated * 10 ** (-radar.search_loss_db / 40)
    assert searched / dedicated == pytest.approx(0.5012, abs=1e-3)  # 12 dB -> 0.501
    # An object just inside the searched range is found by search; one beyond it only on a cue.
    for height, found_uncued in ((0.95 * searched, True), (1.2 * searched, False)):
        times, r = overhead_track(height_m=height)
        rng_state = np.random.default_rng(3)
        uncued = radar.observe(times, r, np.array([1.0]), rng_state)
        cued = radar.observe(times, r, np.array([1.0]), np.random.default_rng(3), cue_time=[0.0])
        assert (len(uncued) > 0) == found_uncued
        assert len(cued) > 0


def test_the_draws_do_not_depend_on_the_cue():
    """Paired samples: with and without a cue, the same seed gives the same search looks up to
    acquisition (common random numbers)."""
    radar = search_radar(search_loss_db=25.0)  # search finds nothing at this range
    times, r = overhead_track(height_m=1500e3)
    a = radar.observe(times, r, np.array([1.0]), np.random.default_rng(9))
    b = radar.observe(times, r, np.array([1.0]), np.random.default_rng(9), cue_time=[150.0])
    assert len(a) == 0
    assert b.t.min() > 150.0


def test_an_elevated_radar_sees_below_its_horizontal_down_to_the_refracted_horizon():
    """From 2,085 m (Kürecik) the 4/3-Earth horizon dips sqrt(2h / (kR)) = 1.27 deg."""
    h = 2085.0
    dip = math.degrees(math.sqrt(2 * h / (4.0 / 3.0 * earth.R_IDEAL)))
    assert dip == pytest.approx(1.27, abs=0.01)
    radar = search_radar(alt=h, min_elevation=math.radians(-1.0), search_frame=None)
    flat = search_radar(alt=h, min_elevation=0.0, search_frame=None)
    # A target at -0.5 deg geometric elevation, 300 km away (clear of the horizon).
    r = earth.aer_to_ecef(0.0, math.radians(-0.5), 300e3, SITE[0], SITE[1], h, "ideal")
    el = math.degrees(float(radar.aer(r)[1]))
    assert el == pytest.approx(-0.5, abs=1e-6)
    assert bool(radar.visible(r)) and not bool(flat.visible(r))
    # Below the horizon it stays hidden whatever the mask.
    hidden = earth.aer_to_ecef(0.0, math.radians(-2.0), 300e3, SITE[0], SITE[1], h, "ideal")
    assert not bool(search_radar(alt=h, min_elevation=math.radians(-5.0)).visible(hidden))


# --------------------------------------------------------------------------------------------
# Through the pipeline
# --------------------------------------------------------------------------------------------


def _mean_first_firm(scenario, partner: str, view: str, reps=range(6), seed: int = 11):
    truth = build_truth(scenario)
    rows = []
    for rep in reps:
        picture = build_picture(scenario, truth, generator(seed, rep, 0), generator(seed, rep, 1))
        rows.append(getattr(picture, view)[partner].first_firm_track_s)
    return np.array(rows)


@pytest.mark.slow
def test_a_later_launch_report_gives_a_later_first_firm_track_lisbon2010():
    """SBIRS latency 30 s against 180 s: Kürecik's TPY-2, cued by NATO's own launch reports,
    firms up NATO's tracks on the Shahab-3s from Tabriz later."""
    lisbon = load_scenario("lisbon2010")
    fast = _mean_first_firm(
        set_field(lisbon, "sensor_types[SBIRS/DSP].latency_s", 30.0), "NATO", "alone", range(3)
    )
    slow = _mean_first_firm(
        set_field(lisbon, "sensor_types[SBIRS/DSP].latency_s", 180.0), "NATO", "alone", range(3)
    )
    truth = build_truth(lisbon)
    shahab = np.flatnonzero(truth.threat_type == "Shahab-3")
    assert np.all(np.isfinite(fast[:, shahab])) and np.all(np.isfinite(slow[:, shahab]))
    assert np.all(slow[:, shahab] > fast[:, shahab] + 60.0)


def warned_pair():
    """West's radar searches slowly and weakly; only East has launch detection from space."""
    data = two_partner_data(0.7, west_min_elevation_deg=5.0)
    searcher = {
        **copy.deepcopy(data["sensor_types"][0]),
        "name": "searching radar",
        "reference_range_km": 1500.0,
        "search_frame_s": 20.0,
        "search_loss_db": 12.0,
    }
    infrared = {
        "name": "IR",
        "kind": "infrared",
        "latency_s": 30.0,
        "launch_position_sigma_km": 2.0,
        "heading_sigma_deg": 2.0,
        "launch_time_sigma_s": 2.0,
    }
    data["sensor_types"] += [searcher, infrared]
    data["sites"][1]["sensors"][0]["type"] = "searching radar"
    data["space_sensors"] = [{"name": "East IR", "partner": "East", "type": "IR"}]
    return validate_data(data)


@pytest.mark.slow
def test_a_partners_shared_launch_reports_cue_our_radar_earlier():
    scenario = warned_pair()
    alone = _mean_first_firm(scenario, "West", "alone")
    warned = _mean_first_firm(scenario, "West", "own")
    assert np.all(np.isfinite(warned))
    # Every threat firms up no later, and on average clearly earlier, with East's warning.
    assert np.all(~(warned > alone))
    assert np.nanmean(alone - warned) > 5.0


def test_the_warning_exchange_is_signed_relayed_and_recorded(tmp_path):
    """East's reports reach West through the centre with East's own signature, and every node's
    warning ledger verifies."""
    scenario = warned_pair()
    truth = build_truth(scenario)
    picture = build_picture(
        scenario,
        truth,
        generator(1, 0, 0),
        generator(1, 0, 1),
        warning_ledger_dir=tmp_path,
        ledger_meta={"stage": "warning"},
    )
    assert picture.rejected_messages == {}
    for node in ("West", "East", "Centre"):
        report = verify_ledger(tmp_path / f"{node}.ledger")
        assert report.ok, report
    received = [m for m in verify_ledger(tmp_path / "West.ledger").messages
                if m.kind == "launch_report"]  # fmt: skip
    assert {m.sender for m in received} == {"East"}
    assert len(received) == truth.n
