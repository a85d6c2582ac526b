"""National tracking: models against independent references, filter consistency (NEES over 100
Monte Carlo runs), gating, assignment and track management.

Truth comes from :mod:`jointbmd.tracking.synthetic`: SciPy DOP853 at tight tolerance (not the
filters' RK4) observed through :mod:`jointbmd.earth` (not the filters' measurement model).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pymap3d
import pytest
from scipy.stats import chi2

from jointbmd import earth
from jointbmd.missiles import ThreatMissile
from jointbmd.tracking import (
    BallisticTransition,
    ExtendedKalmanPredictor,
    ExtendedKalmanUpdater,
    RadarMeasurementModel,
    Scan,
    ThrustEnvelope,
    Tracker,
    UnscentedKalmanPredictor,
    UnscentedKalmanUpdater,
    associate,
    cued_prior,
    gate,
    gravity_gradient,
    nees,
    run_tracker,
    single_point_prior,
    split_scans,
    two_point_prior,
)
from jointbmd.tracking.filters import inverse_3x3
from jointbmd.tracking.synthetic import impulsive_launch_state, propagate_truth, radar_measurements

SITE = (np.radians(40.0), np.radians(44.5), 200.0)
SIGMA = np.array([50.0, 1e-3, 1e-3])  # range m, az rad, el rad


def _launch(lat_deg=35.0, lon_deg=50.0, heading_deg=315.0, speed=4500.0, gamma_deg=40.0, t=0.0):
    return impulsive_launch_state(
        np.radians(lat_deg), np.radians(lon_deg), np.radians(heading_deg), speed,
        np.radians(gamma_deg), t,
    )  # fmt: skip


@pytest.fixture(scope="module")
def truth():
    """One ballistic missile (about 2 500 km range) seen from 150 s to 450 s every 2 s."""
    times = np.arange(150.0, 451.0, 2.0)
    return times, propagate_truth(_launch()[None], 0.0, times)


@dataclass
class _Measurements:
    """Stand-in with the fields of the sensors stage's ``Measurements`` contract."""

    sensor: str
    partner: str
    site_lat: float
    site_lon: float
    site_alt: float
    t: np.ndarray
    z: np.ndarray
    cov: np.ndarray
    truth_id: np.ndarray


@dataclass
class _LaunchReport:
    sensor: str
    partner: str
    t_report: float
    t_launch: float
    lat: float
    lon: float
    heading: float
    sigma_position_m: float
    sigma_heading_rad: float
    sigma_time_s: float
    truth_id: int


# -- models ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["full", "ideal"])
def test_gravity_gradient_matches_central_differences_of_earth_gravity(model):
    r = np.array([[3.1e6, -4.2e6, 3.9e6], [1.0e6, 2.0e6, 6.5e6], [6.6e6, 0.0, 0.0]])
    step = 1.0
    numeric = np.stack(
        [
            (earth.gravity(r + step * e, model) - earth.gravity(r - step * e, model)) / (2 * step)
            for e in np.eye(3)
        ],
        -1,
    )
    np.testing.assert_allclose(gravity_gradient(r, model), numeric, rtol=0, atol=1e-13)


def test_gravity_gradient_point_mass_textbook():
    # Radial component -2μ/r³ (tidal stretching), transverse μ/r³ compression.
    r = np.array([7.0e6, 0.0, 0.0])
    g = gravity_gradient(r, "ideal")
    mu_r3 = earth.MU / 7.0e6**3
    np.testing.assert_allclose(np.diag(g), [2 * mu_r3, -mu_r3, -mu_r3], rtol=1e-12)


def test_ideal_transition_matches_tight_tolerance_integration():
    x0 = impulsive_launch_state(0.3, 0.5, 1.0, 6000.0, 0.4, 0.0, model="ideal")
    truth = propagate_truth(x0[None], 0.0, [0.0, 600.0], model="ideal")
    x = BallisticTransition("ideal").function(truth[:, 0], 600.0)
    np.testing.assert_allclose(x[:, :3], truth[:, 1, :3], atol=0.05)


def test_ballistic_transition_matches_tight_tolerance_integration(truth):
    times, states = truth
    tm = BallisticTransition("full")
    x = tm.function(states[:, 0], times[-1] - times[0])  # 300 s in 30 RK4 substeps
    np.testing.assert_allclose(x[:, :3], states[:, -1, :3], atol=0.05)
    np.testing.assert_allclose(x[:, 3:], states[:, -1, 3:], atol=1e-4)
    back = tm.function(states[:, -1], times[0] - times[-1])
    np.testing.assert_allclose(back[:, :3], states[:, 0, :3], atol=0.05)


def test_transition_jacobian_matches_finite_differences():
    tm = BallisticTransition("full")
    x = np.array(
        [[3.1e6, -4.2e6, 3.9e6, 3000.0, 2000.0, 1000.0], [1e6, 2e6, 6.5e6, -4e3, 1e3, 2e3]]
    )
    dt = np.array([25.0, -7.0])
    x1, phi = tm.function_and_jacobian(x, dt)
    np.testing.assert_array_equal(x1, tm.function(x, dt))
    steps = np.array([1.0, 1.0, 1.0, 0.1, 0.1, 0.1])
    numeric = np.stack(
        [(tm.function(x + s * e, dt) - tm.function(x - s * e, dt)) / (2 * s)
         for s, e in zip(steps, np.eye(6), strict=True)],
        -1,
    )  # fmt: skip
    np.testing.assert_allclose(phi, numeric, rtol=1e-6, atol=1e-7)


def test_process_noise_matches_stone_soup_constant_velocity():
    from stonesoup.models.transition.linear import ConstantVelocity

    q, dt = 2.5, 3.0
    cv = ConstantVelocity(q).covar(time_interval=timedelta(seconds=dt))  # (x, vx) per axis
    ours = BallisticTransition(q=q).covar(dt)
    for axis in range(3):
        idx = [axis, axis + 3]
        np.testing.assert_allclose(ours[np.ix_(idx, idx)], cv, rtol=1e-12)
    np.testing.assert_allclose(BallisticTransition(q=q).covar(-dt), ours)


def test_radar_model_matches_pymap3d():
    rng = np.random.default_rng(0)
    lat, lon, alt = np.radians(44.08), np.radians(24.4), 150.0
    mm = RadarMeasurementModel(lat, lon, alt)
    t = rng.uniform(0.0, 3000.0, 20)
    r_ecef = earth.geodetic_to_ecef(
        lat + rng.uniform(-0.2, 0.2, 20),
        lon + rng.uniform(-0.2, 0.2, 20),
        rng.uniform(1e5, 1e6, 20),
    )
    x = np.concatenate([earth.ecef_to_eci(r_ecef, t), np.zeros((20, 3))], -1)
    z = mm.function(x, t)
    az, el, rng_m = pymap3d.ecef2aer(*r_ecef.T, lat, lon, alt, deg=False)
    np.testing.assert_allclose(z[:, 0], rng_m, rtol=1e-12)
    np.testing.assert_allclose(z[:, 1], az, atol=1e-10)
    np.testing.assert_allclose(z[:, 2], el, atol=1e-10)
    np.testing.assert_allclose(mm.inverse_function(z, t), x[:, :3], atol=1e-6)


def test_radar_jacobians_match_finite_differences():
    mm = RadarMeasurementModel(*SITE)
    x = np.array([[3.1e6, -4.2e6, 3.9e6, 3e3, 2e3, 1e3], [3.5e6, 3.9e6, 4.5e6, -4e3, 1e3, 2e3]])
    t = np.array([100.0, 350.0])
    numeric = np.stack(
        [mm.residual(mm.function(x + e, t), mm.function(x - e, t)) / 2.0 for e in np.eye(6)], -1
    )
    np.testing.assert_allclose(mm.jacobian(x, t), numeric, rtol=1e-6, atol=1e-12)
    z = mm.function(x, t)
    j_inv = mm.inverse_jacobian(z, t)
    np.testing.assert_allclose(j_inv @ mm.jacobian(x, t)[:, :, :3], np.tile(np.eye(3), (2, 1, 1)),
                               atol=1e-9)  # fmt: skip


def test_inverse_3x3_matches_numpy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 3, 3))
    s = a @ np.swapaxes(a, -1, -2) + 0.1 * np.eye(3)
    np.testing.assert_allclose(inverse_3x3(s), np.linalg.inv(s), rtol=1e-9, atol=1e-9)


def test_azimuth_innovation_wraps():
    nu = RadarMeasurementModel.residual([[1.0, 0.01, 0.0]], [[1.0, 2 * np.pi - 0.01, 0.0]])
    np.testing.assert_allclose(nu[0], [0.0, 0.02, 0.0], atol=1e-12)


def test_models_broadcast_over_batch_shapes():
    tm = BallisticTransition()
    x = np.tile([7.0e6, 0.0, 0.0, 0.0, 7.5e3, 0.0], (4, 5, 1))
    x1, phi = tm.function_and_jacobian(x, 10.0)
    assert x1.shape == (4, 5, 6) and phi.shape == (4, 5, 6, 6)
    assert tm.covar(np.ones((4, 5))).shape == (4, 5, 6, 6)
    mm = RadarMeasurementModel(*SITE)
    assert mm.function(x, 0.0).shape == (4, 5, 3)
    assert mm.jacobian(x, np.zeros((4, 5))).shape == (4, 5, 3, 6)


# -- filter consistency: 100 Monte Carlo runs as 100 tracks of one batch ---------------------


def _monte_carlo(truth, predictor, updater, runs=100, seed=7):
    """Filter ``runs`` independent noisy realisations; return the mean NEES at every scan and
    the final position errors."""
    times, states = truth
    rng = np.random.default_rng(seed)
    z, R, _ = radar_measurements(np.repeat(states, runs, 0), times, *SITE, SIGMA, rng)
    mm = RadarMeasurementModel(*SITE)
    p0 = np.diag([1e3**2] * 3 + [100.0**2] * 3)
    x = states[:, 0] + rng.multivariate_normal(np.zeros(6), p0, runs)
    P = np.repeat(p0[None], runs, 0)
    mean_nees = []
    for i, t in enumerate(times):
        if i:
            x, P = predictor.predict(x, P, np.full(runs, t - times[i - 1]))
        mp = updater.predict_measurement(x, P, np.full(runs, t), mm)
        x, P = updater.update(x, P, mp, z[:, i], R)
        mean_nees.append(nees(x, P, states[:, i]).mean())
    return np.array(mean_nees), x[:, :3] - states[:, -1, :3]


@pytest.mark.parametrize("kind", ["ekf", "ukf"])
def test_nees_of_100_monte_carlo_runs_lies_in_the_95_percent_band(truth, kind):
    runs = 100
    tm = BallisticTransition("full", q=1e-6)  # the truth has no process noise
    if kind == "ekf":
        predictor, updater = ExtendedKalmanPredictor(tm), ExtendedKalmanUpdater()
    else:
        predictor, updater = UnscentedKalmanPredictor(tm), UnscentedKalmanUpdater()
    mean_nees, _ = _monte_carlo(truth, predictor, updater, runs)
    lo, hi = chi2.ppf([0.025, 0.975], 6 * runs) / runs
    checked = [0, 10, 50, 100, 150]  # 150 s to 450 s after launch
    assert np.all((mean_nees[checked] > lo) & (mean_nees[checked] < hi)), mean_nees[checked]
    # At most a few of all 151 scans outside the band (5 % expected), and the time average
    # (151 scans x 100 runs) close to 6.
    assert np.mean((mean_nees < lo) | (mean_nees > hi)) < 0.1
    assert 5.6 < mean_nees.mean() < 6.4


def test_ekf_and_ukf_agree_and_beat_the_measurement_noise(truth):
    tm = BallisticTransition("full", q=1e-6)
    _, err_ekf = _monte_carlo(truth, ExtendedKalmanPredictor(tm), ExtendedKalmanUpdater())
    _, err_ukf = _monte_carlo(truth, UnscentedKalmanPredictor(tm), UnscentedKalmanUpdater())
    rmse_ekf = np.sqrt((err_ekf**2).sum(-1).mean())
    rmse_ukf = np.sqrt((err_ukf**2).sum(-1).mean())
    assert abs(rmse_ekf / rmse_ukf - 1.0) < 0.01
    # A single fix at ~870 km with 1 mrad angles is ~1.2 km RSS; 151 scans filter it down.
    assert rmse_ekf < 150.0


# -- initiation --------------------------------------------------------------------------------


def test_two_point_prior_is_consistent(truth):
    times, states = truth
    runs = 400
    rng = np.random.default_rng(11)
    z, R, _ = radar_measurements(np.repeat(states[:, :2], runs, 0), times[:2], *SITE, SIGMA, rng)
    mm = RadarMeasurementModel(*SITE)
    x, P = two_point_prior(z[:, 0], R, times[0], z[:, 1], R, times[1], mm)
    band = chi2.ppf([0.005, 0.995], 6 * runs) / runs
    assert band[0] < nees(x, P, states[:, 1]).mean() < band[1]


def test_single_point_prior_position_is_consistent(truth):
    times, states = truth
    runs = 400
    rng = np.random.default_rng(12)
    z, R, _ = radar_measurements(np.repeat(states[:, :1], runs, 0), times[:1], *SITE, SIGMA, rng)
    x, P = single_point_prior(z[:, 0], R, times[0], RadarMeasurementModel(*SITE))
    err = x[:, :3] - states[:, 0, :3]
    band = chi2.ppf([0.005, 0.995], 3 * runs) / runs
    assert band[0] < nees(err, P[:, :3, :3], np.zeros(3)).mean() < band[1]
    assert np.all(np.sqrt(P[:, 3, 3]) == 4000.0)


def test_cued_prior_from_a_launch_report(truth):
    times, states = truth
    report = _LaunchReport("sbirs", "A", 60.0, 0.0, np.radians(35.0), np.radians(50.0),
                           np.radians(315.0), 2000.0, np.radians(2.0), 2.0, 0)  # fmt: skip
    rng = np.random.default_rng(5)
    runs = 200
    z, R, _ = radar_measurements(np.repeat(states[:, :1], runs, 0), times[:1], *SITE, SIGMA, rng)
    mm = RadarMeasurementModel(*SITE)
    x, P, ok = cued_prior(report, z[:, 0], R, times[0], mm)
    assert ok.all()
    v_err = x[:, 3:] - states[:, 0, 3:]
    # The launch report pins the velocity to a few hundred m/s -- far better than the 4 km/s
    # of an uncued single detection -- and the stated covariance covers the error.
    assert np.sqrt((v_err**2).sum(-1).mean()) < 500.0
    assert nees(x, P, states[:, 0]).mean() < 6.0 * 1.5
    # A report with the wrong heading does not cue this object.
    wrong = _LaunchReport(**{**report.__dict__, "heading": np.radians(135.0)})
    assert not cued_prior(wrong, z[:, 0], R, times[0], mm)[2].any()
    # Nor does a launch that would need more than 8 km/s over the ground.
    late = _LaunchReport(**{**report.__dict__, "t_launch": 140.0})
    assert not cued_prior(late, z[:, 0], R, times[0], mm)[2].any()


# -- gating and assignment --------------------------------------------------------------------


def _prediction_for(states_eci, t, sigma_pos=300.0, sigma_vel=30.0):
    k = len(states_eci)
    P = np.tile(np.diag([sigma_pos**2] * 3 + [sigma_vel**2] * 3), (k, 1, 1))
    mm = RadarMeasurementModel(*SITE)
    return ExtendedKalmanUpdater().predict_measurement(states_eci, P, np.full(k, t), mm), mm


def test_gate_rejects_a_far_outlier(truth):
    times, states = truth
    mp, mm = _prediction_for(states[:, 10], times[10])
    z_true = mm.function(states[:, 10], times[10])
    outlier = z_true + [20e3, 0.02, 0.0]  # 20 km and 20 mrad off: hundreds of sigma
    R = np.diag(SIGMA**2)[None].repeat(2, 0)
    d2, log_det = gate(mp, np.concatenate([z_true, outlier]), R)
    threshold = chi2.ppf(0.9999, 3)
    assert d2[0, 0] < chi2.ppf(0.99, 3) and d2[0, 1] > 100 * threshold
    rows, cols = associate(d2, log_det, threshold)
    assert rows.tolist() == [0] and cols.tolist() == [0]
    rows, cols = associate(d2[:, 1:], log_det[:, 1:], threshold)
    assert rows.size == 0


def test_assignment_picks_the_right_pairs_for_two_crossing_targets():
    """Two targets whose paths cross, 600 m apart just before the crossing. Track 0's estimate
    has drifted 350 m towards target 1, so target 1's detection is the nearer one for track 0
    (greedy nearest-neighbour would swap the tracks); the optimal assignment must not."""
    t = 300.0
    mm = RadarMeasurementModel(*SITE)
    centre = earth.ecef_to_eci(earth.aer_to_ecef(np.radians(120.0), np.radians(20.0), 800e3,
                                                 *SITE), t)  # fmt: skip
    east = np.cross([0.0, 0.0, 1.0], centre)
    east /= np.linalg.norm(east)
    north = np.cross(centre / np.linalg.norm(centre), east)
    r_true = centre + np.array([-1, 1])[:, None] * 300.0 * east
    v_true = 3000.0 * north + np.array([1, -1])[:, None] * 3000.0 * east  # converging
    states = np.concatenate([r_true, v_true], -1)
    estimates = states.copy()
    estimates[0, :3] += 350.0 * east
    mp, _ = _prediction_for(estimates, t, 200.0)
    sigma = np.array([50.0, 2e-4, 2e-4])  # 160 m across at 800 km
    z = mm.function(states, t)[::-1]  # detections in reversed order
    R = np.repeat(np.diag(sigma**2)[None], 2, 0)
    d2, log_det = gate(mp, z, R)
    threshold = chi2.ppf(0.9999, 3)
    assert (d2 < threshold).all()  # an ambiguous situation: everything gates
    assert np.argmin(d2[0]) == 0  # track 0's nearest detection is target 1's (column 0)
    rows, cols = associate(d2, log_det, threshold)
    assert dict(zip(rows.tolist(), cols.tolist(), strict=True)) == {0: 1, 1: 0}


# -- track management ------------------------------------------------------------------------


def _scan(t, z, truth_id, sensor="r1"):
    z = np.atleast_2d(z)
    return Scan(sensor, *SITE, t, z, np.repeat(np.diag(SIGMA**2)[None], len(z), 0),
                np.asarray(truth_id, np.int64))  # fmt: skip


def test_track_lifecycle_tentative_firm_deleted(truth):
    times, states = truth
    rng = np.random.default_rng(4)
    z, _, _ = radar_measurements(states, times, *SITE, SIGMA, rng)
    tracker = Tracker(confirm_m=3, confirm_n=5, delete_misses=3, firm_position_sigma_m=1000.0)
    batch = tracker.step(times[0], _scan(times[0], z[0, 0], [0]))
    assert batch.n == 1 and not batch.confirmed[0] and not batch.firm[0]
    tracker.step(times[1], _scan(times[1], z[0, 1], [0]))
    assert not tracker.tracks().confirmed[0]
    batch = tracker.step(times[2], _scan(times[2], z[0, 2], [0]))
    assert batch.confirmed[0]  # 3 hits in 3 scans
    for i in range(3, 10):
        batch = tracker.step(times[i], _scan(times[i], z[0, i], [0]))
    assert batch.firm[0] and batch.position_sigma_m[0] < 1000.0
    track_id = batch.track_id[0]
    # The target vanishes; scans of another object go on (far away: no gating).
    other = z[0, 10] + [-300e3, 0.3, 0.0]
    for i in range(10, 12):
        batch = tracker.step(times[i], _scan(times[i], other, [-1]))
        assert track_id in batch.track_id
    batch = tracker.step(times[12], _scan(times[12], other, [-1]))
    assert track_id not in batch.track_id  # 3 consecutive misses
    log = tracker.log()
    rows = log.select(track_id)
    assert rows.updated.sum() == 10 and rows.t.max() == times[11]
    assert log.first_firm_time(track_id) <= times[9]
    assert log.truth_of(track_id) == 0


def test_tentative_track_is_deleted_when_m_of_n_becomes_impossible(truth):
    times, states = truth
    tracker = Tracker(confirm_m=3, confirm_n=5)
    z = RadarMeasurementModel(*SITE).function(states[:, 0], times[0])
    tracker.step(times[0], _scan(times[0], z, [0]))
    far = z[0] + [-300e3, 0.5, 0.0]
    for i in (1, 2):
        batch = tracker.step(times[i], _scan(times[i], far, [-1]))
    assert 0 in batch.track_id  # 1 hit, 2 misses: 3 of 5 still possible
    batch = tracker.step(times[3], _scan(times[3], far, [-1]))
    assert 0 not in batch.track_id  # 1 hit, 3 misses: it is not


def test_track_out_of_coverage_is_not_charged_a_miss(truth):
    times, states = truth
    rng = np.random.default_rng(8)
    z, _, _ = radar_measurements(states, times, *SITE, SIGMA, rng)
    tracker = Tracker()
    for i in range(5):
        tracker.step(times[i], _scan(times[i], z[0, i], [0]))
    far = z[0, 5] + [-300e3, 0.5, 0.0]
    for i in range(5, 15):
        batch = tracker.step(times[i], _scan(times[i], far, [-1]),
                             coverage=lambda r_ecef: np.zeros(len(r_ecef), bool))  # fmt: skip
    assert 0 in batch.track_id


def test_cued_tracker_initiates_with_the_launch_velocity(truth):
    times, states = truth
    report = _LaunchReport("sbirs", "A", 60.0, 0.0, np.radians(35.0), np.radians(50.0),
                           np.radians(315.0), 2000.0, np.radians(2.0), 2.0, 0)  # fmt: skip
    z = RadarMeasurementModel(*SITE).function(states[:, 0], times[0])
    cued, plain = Tracker(), Tracker()
    cued.cue(report)
    b_cued = cued.step(times[0], _scan(times[0], z, [0]))
    b_plain = plain.step(times[0], _scan(times[0], z, [0]))
    assert b_cued.cued[0] and not b_plain.cued[0]
    err_cued = np.linalg.norm(b_cued.x[0, 3:] - states[0, 0, 3:])
    err_plain = np.linalg.norm(b_plain.x[0, 3:] - states[0, 0, 3:])
    assert err_cued < 500.0 and err_plain > 3000.0  # the uncued prior knows no velocity
    assert np.trace(b_cued.P[0, 3:, 3:]) < np.trace(b_plain.P[0, 3:, 3:]) / 10


@pytest.mark.parametrize("kind", ["ekf", "ukf"])
def test_run_tracker_on_a_raid_gives_one_track_per_missile(kind):
    """Three missiles, two launched 20 s apart from neighbouring sites, one radar with a 5 s
    revisit and 90 % probability of detection; a launch report cues the third."""
    rng = np.random.default_rng(3)
    launch_t = np.array([0.0, 20.0, 40.0])
    x0 = impulsive_launch_state(np.radians([35.0, 35.2, 34.0]), np.radians([50.0, 50.3, 52.0]),
                                np.radians([315.0, 316.0, 300.0]), 4500.0, np.radians(40.0),
                                launch_t)  # fmt: skip
    times = np.arange(150.0, 600.0, 5.0)
    states = np.concatenate([propagate_truth(x0[i : i + 1], launch_t[i], times) for i in range(3)])
    z, R, z_true = radar_measurements(states, times, *SITE, SIGMA, rng)
    seen = (z_true[..., 2] > 0) & (rng.random(z_true.shape[:2]) < 0.9)
    obj, k = np.nonzero(seen)
    meas = _Measurements("r1", "A", *SITE, times[k], z[obj, k], np.repeat(R[None], obj.size, 0),
                         obj)  # fmt: skip
    report = _LaunchReport("sbirs", "A", 100.0, 40.0, np.radians(34.0), np.radians(52.0),
                           np.radians(300.0), 2000.0, np.radians(2.0), 2.0, 2)  # fmt: skip
    log = run_tracker([meas], [report], Tracker(filter=kind))
    assert log.track_ids.size == 3
    for track_id in log.track_ids:
        rows = log.select(track_id)
        target = log.truth_of(track_id)
        assert np.all(rows.detection_truth_id[rows.updated] == target)  # never swapped
        assert log.first_firm_time(track_id) <= times[0] + 5 * 5.0
        i = np.searchsorted(times, rows.t)
        err = np.linalg.norm(rows.x[:, :3] - states[target, i, :3], axis=-1)
        assert np.sqrt(np.mean(err[rows.firm] ** 2)) < 1000.0


def test_split_scans_orders_scans_of_several_sensors_by_time():
    def meas(name, t):
        t = np.asarray(t, float)
        z, cov = np.ones((t.size, 3)), np.tile(np.eye(3), (t.size, 1, 1))
        return _Measurements(name, "A", *SITE, t, z, cov, np.arange(t.size))

    scans = split_scans([meas("a", [10.0, 10.0, 20.0]), meas("b", [5.0, 10.0])])
    assert [(s.sensor, s.t, len(s.z)) for s in scans] == [
        ("b", 5.0, 1), ("a", 10.0, 2), ("b", 10.0, 1), ("a", 20.0, 1)
    ]  # fmt: skip
    assert scans[1].truth_id.tolist() == [0, 1]


def test_empty_tracker_log():
    log = Tracker().log()
    assert log.track_ids.size == 0 and log.x.shape == (0, 6)


def test_tracker_rejects_bad_parameters():
    with pytest.raises(ValueError):
        Tracker(filter="kalman")
    with pytest.raises(ValueError):
        Tracker(confirm_m=4, confirm_n=3)


# -- boost: thrust envelope, iterated update --------------------------------------------------

G0 = 9.80665


def test_thrust_envelope_is_the_burnout_acceleration_f_over_m():
    """A stage at constant thrust F = Isp g0 m_p / t_b is hardest at its burnout, on its dry
    mass and everything above it (Sutton & Biblarz §4.1): the envelope from τ on is the largest
    F / m_burnout of the stages still burning, zero after the last."""
    single = ThreatMissile.from_spec(
        stages=[dict(burn_time_s=110, propellant_mass_kg=12900, dry_mass_kg=1900, isp_s=250)],
        payload_mass_kg=1000, reentry_vehicle=dict(ballistic_coefficient_kg_m2=5000, rcs_m2=0.05),
    )  # fmt: skip
    two = ThreatMissile.from_spec(
        stages=[dict(burn_time_s=50, propellant_mass_kg=10500, dry_mass_kg=1500, isp_s=260),
                dict(burn_time_s=50, propellant_mass_kg=6000, dry_mass_kg=900, isp_s=260)],
        payload_mass_kg=650, reentry_vehicle=dict(ballistic_coefficient_kg_m2=5000, rcs_m2=0.05),
    )  # fmt: skip
    a_single = 250 * G0 * 12900 / 110 / (1900 + 1000)
    a_first = 260 * G0 * 10500 / 50 / (1500 + 900 + 6000 + 650)
    a_second = 260 * G0 * 6000 / 50 / (900 + 650)
    assert a_single == pytest.approx(99.1, abs=0.1)  # 287 kN on 2.9 t
    one = ThrustEnvelope.of_missiles([single])
    assert one.bound(np.array([0.0, 109.0, 110.0, 300.0])) == pytest.approx([a_single] * 2 + [0, 0])
    both = ThrustEnvelope.of_missiles([single, two])
    assert both.latest_burnout_s == 110.0
    # Before 100 s the second stage of the two-stage missile may still come; after it, only the
    # single stage is burning; after 110 s nothing.
    got = both.bound(np.array([0.0, 60.0, 100.0, 105.0, 110.0]))
    assert got == pytest.approx([max(a_first, a_second, a_single)] * 2 + [a_single] * 2 + [0])
    assert ThrustEnvelope.of_missiles([]).bound(0.0) == 0.0


def test_iterated_update_lands_on_a_precise_measurement_far_from_the_prediction(truth):
    """A prediction 20 km off with a diffuse covariance, and a noise-free detection: the
    posterior position should be the true one. The EKF, linearised at the prediction, misses it
    by about the second-order term |Δr|²/ρ (hundreds of metres at 430 km); the iterated update
    (Gauss-Newton) does not."""
    times, states = truth
    x_true = states[0, 10]
    mm = RadarMeasurementModel(*SITE)
    z = mm.function(x_true, times[10])[None]
    R = np.diag([10.0, 1e-5, 1e-5]) ** 2
    x_prior = (x_true + np.array([12e3, -10e3, 12e3, 0, 0, 0]))[None]
    P_prior = np.diag([30e3**2] * 3 + [10.0**2] * 3)[None]
    up = ExtendedKalmanUpdater()
    mp = up.predict_measurement(x_prior, P_prior, np.full(1, times[10]), mm)
    x_ekf, _ = up.update(x_prior, P_prior, mp, z, R[None])
    x_it, P_it = up.iterate(x_prior, P_prior, x_ekf, z, R[None], np.full(1, times[10]), mm)
    assert z[0, 0] == pytest.approx(430e3, rel=0.05)
    assert np.linalg.norm(x_ekf[0, :3] - x_true[:3]) > 100.0
    assert np.linalg.norm(x_it[0, :3] - x_true[:3]) < 1.0
    assert nees(x_it[:, :3], P_it[:, :3, :3], x_true[None, :3])[0] < chi2.ppf(0.99, 3)


def test_a_track_that_may_be_in_boost_keeps_the_thrust_noise_until_the_latest_burnout(truth):
    """Cued by a launch at t = 0 (σ 2 s), a track coasting 10 s gains velocity variance
    (a dt)² per axis, a the envelope's burnout acceleration, while the missile may still
    thrust; after the latest burnout plus 3 σ of the report's time it gains only what the
    manoeuvre test adds (q_manoeuvre dt), whatever its innovations."""
    times, states = truth
    a = 99.0
    envelope = ThrustEnvelope([110.0], [a])
    mm = RadarMeasurementModel(*SITE)
    gained = []
    for t_launch in (times[0] - 100.0, times[0] - 120.0):  # in boost / 4 s after 110 + 3 σ
        report = _LaunchReport("sbirs", "A", t_launch + 30.0, t_launch, np.radians(35.0),
                               np.radians(50.0), np.radians(315.0), 2000.0, np.radians(2.0),
                               2.0, 0)  # fmt: skip
        tracker = Tracker(thrust=envelope)
        tracker.cue(report)
        born = tracker.step(times[0], _scan(times[0], mm.function(states[:, 0], times[0]), [0]))
        assert born.cued[0]
        coast = tracker.step(times[0] + 10.0, _scan(times[0] + 10.0, np.zeros((0, 3)), []))
        gained.append(np.trace(coast.P[0, 3:, 3:] - born.P[0, 3:, 3:]) / 3)
    assert gained[0] == pytest.approx((a * 10.0) ** 2, rel=0.05)
    assert gained[1] == pytest.approx(Tracker().q_manoeuvre * 10.0, rel=0.05)
