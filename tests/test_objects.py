"""Objects of a threat complex: cross-sections per aspect and band, body until burnout,
discrimination, and the simulation against Wilkening's closed form with decoys."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from scipy.stats import binomtest

from jointbmd.analysis.validation_scenarios import perfect_sensing, perfect_sensing_data
from jointbmd.objects import (
    BAND_DISCRIMINATION,
    Signature,
    aspect,
    classify,
    discrimination_draws,
    object_views,
    radar_rcs,
    threat_objects,
)
from jointbmd.scenario import validate_data
from jointbmd.simulation import build_truth
from jointbmd.simulation.decide import scenario_radars


def test_signature_interpolates_the_aspect_table_in_db_and_adds_the_band_offset():
    sig = Signature.from_spec(0.1, [[90.0, 10.0], [0.0, -10.0], [180.0, 0.0]], {"UHF": 3.0})
    a = np.radians([0.0, 45.0, 90.0, 135.0, 180.0])
    # Linear in dB between nodes: -10, 0, +10, +5, 0 dB.
    expected = 0.1 * 10 ** (np.array([-10.0, 0.0, 10.0, 5.0, 0.0]) / 10)
    np.testing.assert_allclose(sig.rcs(a, "X"), expected)
    np.testing.assert_allclose(sig.rcs(a, "UHF"), expected * 10**0.3)
    assert Signature.from_spec(0.05).rcs(np.radians(30.0), "VHF") == pytest.approx(0.05)


def test_aspect_is_the_angle_between_the_nose_and_the_line_to_the_radar():
    site = np.array([0.0, 0.0, 0.0])
    r = np.array([[1000.0, 0.0, 0.0]] * 3)
    v = np.array([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # at, away, across
    np.testing.assert_allclose(aspect(r, v, site), [0.0, math.pi, math.pi / 2], atol=1e-12)


def _scenario(**threat_changes):
    data = perfect_sensing_data(1, 0.7, 1, "ideal")
    data["threat_types"][0] = {**copy.deepcopy(data["threat_types"][0]), **threat_changes}
    return validate_data(data)


def test_radars_see_the_body_until_burnout_then_the_reentry_vehicle():
    rv = {"ballistic_coefficient_kg_m2": 5000.0, "rcs_m2": 0.05, "mass_kg": 1000.0}
    scenario = _scenario(body_rcs_m2=2.0, reentry_vehicle=rv)
    truth = build_truth(scenario)
    objects = threat_objects(scenario, truth)
    radar = scenario_radars(scenario)[0]
    sigma = radar_rcs(objects, truth, radar, None)
    burnout = truth.launch_time[0] + truth.burn_time[0]
    flying = ~np.isnan(truth.r_ecef[0, :, 0])
    boost = flying & (truth.times < burnout)
    coast = flying & (truth.times >= burnout)
    assert boost.any() and coast.any()
    np.testing.assert_allclose(sigma[0, boost], 2.0)
    np.testing.assert_allclose(sigma[0, coast], 0.05)


def test_an_aspect_table_changes_what_a_radar_sees_with_the_geometry():
    rv = {
        "ballistic_coefficient_kg_m2": 5000.0,
        "rcs_m2": 0.1,
        "mass_kg": 1000.0,
        "rcs_aspect_db": [[0.0, -20.0], [180.0, 0.0]],
    }
    scenario = _scenario(reentry_vehicle=rv)
    truth = build_truth(scenario)
    objects = threat_objects(scenario, truth)
    radar = scenario_radars(scenario)[0]
    sigma = radar_rcs(objects, truth, radar, None)[0]
    coast = truth.times >= truth.launch_time[0] + truth.burn_time[0]
    coast &= ~np.isnan(truth.r_ecef[0, :, 0])
    # Between the nose-on and tail-on values at every instant of flight, and changing as the
    # geometry turns.
    assert np.all((sigma[coast] >= 0.1 * 0.01 - 1e-12) & (sigma[coast] <= 0.1 + 1e-12))
    assert np.ptp(sigma[coast]) > 0.0


def test_band_defaults_order_x_band_above_the_early_warning_bands():
    x, uhf, vhf = (BAND_DISCRIMINATION[b] for b in ("X", "UHF", "VHF"))
    assert x[0] - x[1] > uhf[0] - uhf[1] > vhf[0] - vhf[1]


def test_a_holder_seeing_the_warhead_alone_engages_it_and_the_best_radar_calls_the_rest():
    scenario = perfect_sensing(
        1, 0.7, 1, decoys=2, p_warhead_as_warhead=0.5, p_decoy_as_warhead=0.5
    )
    truth = build_truth(scenario)
    views = object_views(scenario, truth, scenario_radars(scenario))
    burnout = float(truth.launch_time[0] + truth.burn_time[0])
    mine = np.ones(1, bool)
    draws = discrimination_draws(np.random.default_rng(0), views)
    # Before burnout only the warhead (the body) is there: no discrimination, engaged.
    assert classify(views, draws, 0, burnout - 10.0, mine)[:2] == (True, 0)
    # After: the draws decide (u < P), object by object.
    draws[:] = 0.9
    draws[0, 0, 1] = 0.1  # one decoy called a warhead
    engage, extra, held = classify(views, draws, 0, burnout + 60.0, mine)
    assert (engage, extra) == (False, 1) and burnout <= held <= burnout + 60.0


def _no_leak_and_shots(scenario, reps, seed):
    """The validation table's sampler: "no leak" count and interceptors per draw."""
    from jointbmd.analysis.validate import _samples

    return _samples(scenario, reps, seed)


def test_perfect_sensing_with_decoys_matches_wilkening():
    """W* = W P_ww + D P_dw objects engaged by n each; P(no leak) = (P_ww K)^N."""
    n_w, sspk, salvo, decoys, p_ww, p_dw = 1, 0.8, 1, 2, 0.8, 0.4
    scenario = perfect_sensing(
        n_w, sspk, salvo, draws=25, revisit_s=5.0, decoys=decoys,
        p_warhead_as_warhead=p_ww, p_decoy_as_warhead=p_dw,
    )  # fmt: skip
    no_leak, shots = _no_leak_and_shots(scenario, 8, 31)
    samples = shots.size  # 200; bands at 99.9 %
    expected = (p_ww * (1 - (1 - sspk) ** salvo)) ** n_w
    ci = binomtest(no_leak, samples).proportion_ci(0.999)
    assert ci.low <= expected <= ci.high
    w_star = n_w * p_ww + n_w * decoys * p_dw
    assert shots.mean() == pytest.approx(salvo * w_star, abs=3.29 * shots.std() / samples**0.5)
    # Without decoys and with a radar that cannot discriminate, every threat is engaged once.
    plain = perfect_sensing(2, sspk, salvo, draws=5, revisit_s=5.0)
    _, plain_shots = _no_leak_and_shots(plain, 1, 32)
    assert np.all(plain_shots == 2 * salvo)


def test_sensing_sees_the_body_in_boost_and_loses_a_small_warhead_after_burnout():
    """A radar 60 km from the launch with a 100 km reach against 1 m²: it detects the 1 m²
    body in boost; the 1e-4 m² warhead (reach 10 km, R ∝ σ^(1/4)) it never detects."""
    from jointbmd.simulation import build_picture, generator

    def first_detection(body_rcs_m2):
        data = perfect_sensing_data(1, 0.7, 1, "ideal")
        data["sensor_types"][0] = {**data["sensor_types"][0], "reference_range_km": 100.0}
        rv = {**data["threat_types"][0]["reentry_vehicle"], "rcs_m2": 1e-4}
        data["threat_types"][0] = {
            **data["threat_types"][0], "body_rcs_m2": body_rcs_m2, "reentry_vehicle": rv,
        }  # fmt: skip
        scenario = validate_data(data)
        truth = build_truth(scenario)
        picture = build_picture(scenario, truth, generator(1, 0, 0), generator(1, 0, 1))
        return float(picture.own["Blue"].first_detection_s[0]), truth

    seen, truth = first_detection(1.0)
    assert truth.launch_time[0] <= seen < truth.launch_time[0] + truth.burn_time[0]
    never, _ = first_detection(1e-4)
    assert math.isnan(never)
