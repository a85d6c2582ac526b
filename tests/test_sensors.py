"""Tests of the sensing stage against textbook formulas, published numbers and pymap3d."""

from __future__ import annotations

import math

import numpy as np
import pymap3d
import pytest
from scipy import integrate, stats

from jointbmd import earth
from jointbmd.errors import UserError
from jointbmd.sensors import (
    REFRACTION_CEILING_M,
    Radar,
    SpaceInfrared,
    apparent_elevation,
    horizon_angle,
    interpolate_truth,
    swerling1_pd,
    swerling1_snr_db,
)

R = earth.R_IDEAL


def all_round(**overrides) -> Radar:
    """A radar that sees everything above the horizon, on the ideal sphere, at the equator."""
    params = dict(
        name="test",
        partner="A",
        lat=0.0,
        lon=0.0,
        alt=20.0,
        reference_range=1.0e9,
        range_noise=50.0,
        angle_noise=1e-3,
        revisit=10.0,
        min_elevation=-np.pi / 2,
        max_elevation=np.pi / 2,
        model="ideal",
    )
    params.update(overrides)
    return Radar(**params)


def armavir(**overrides) -> Radar:
    spec = dict(
        reference_range_km=4000.0,
        revisit_s=10.0,
        range_noise_m=100.0,
        angle_noise_mrad=1.0,
        boresight_az_deg=175.0,
        az_half_width_deg=120.0,
        min_elevation_deg=2.0,
        max_elevation_deg=60.0,
        detection_snr_db=13.0,
    )
    spec.update(overrides)
    return Radar.from_spec("Armavir", "Russia", 44.925106, 40.983894, 0.0, **spec)


def on_equator(theta, h):
    """ECEF points on the ideal sphere at central angle theta east of (0, 0), height h."""
    theta, h = np.broadcast_arrays(np.asarray(theta, float), np.asarray(h, float))
    return earth.geodetic_to_ecef(0.0, theta, h, "ideal")


# ---- probability of detection ---------------------------------------------------------------


def test_swerling1_needs_21_db_for_pd_09_at_pfa_1e6_as_in_skolnik():
    # Published: about 21 dB single-look for a Swerling 1 target at Pd 0.9, Pfa 1e-6
    # (Skolnik, Introduction to Radar Systems, Fig. 2.23; Richards, Fundamentals of Radar Signal
    # Processing, eq. 6.99), against 13.2 dB for a steady target (Albersheim/Shnidman).
    assert swerling1_snr_db(0.9, 1e-6) == pytest.approx(21.14, abs=0.01)
    assert swerling1_pd(21.14, 1e-6) == pytest.approx(0.9, abs=1e-3)
    assert swerling1_snr_db(0.5, 1e-6) == pytest.approx(12.77, abs=0.01)


def test_swerling1_is_the_marcum_q_averaged_over_exponential_rcs():
    # Independent derivation: the steady-target square-law detector has Pd = Q_M (noncentral
    # chi-square with 2 dof), which reproduces the published 13.18 dB for Pd 0.9 at Pfa 1e-6;
    # averaging it over the exponential SNR distribution of a Swerling 1 target must give the
    # closed form.
    pfa = 1e-6
    gamma = -math.log(pfa)
    assert stats.ncx2.sf(2 * gamma, 2, 2 * 10 ** (13.1835 / 10)) == pytest.approx(0.9, abs=1e-4)
    for snr_db in (5.0, 10.0, 15.0, 21.14, 30.0):
        mean = 10 ** (snr_db / 10)
        pd, _ = integrate.quad(
            lambda s, m=mean: stats.ncx2.sf(2 * gamma, 2, 2 * s) * math.exp(-s / m) / m,
            0,
            50 * mean,
            limit=200,
        )
        assert swerling1_pd(snr_db, pfa) == pytest.approx(pd, abs=2e-4)


def test_detection_probability_is_zero_below_the_floor_and_matches_monte_carlo():
    radar = armavir()
    rng = np.random.default_rng(1)
    # 3000 looks at one range: the detected fraction is the model's Pd.
    site = radar
    r_ref = radar.detection_range(1.0)
    for frac, rcs in ((0.9, 1.0), (0.5, 1.0), (1.05, 1.0)):
        # Put the target at 30 deg elevation, due south (inside the field of view).
        pos = earth.aer_to_ecef(
            math.radians(175), math.radians(30), frac * r_ref, site.lat, site.lon, site.alt
        )
        r = np.broadcast_to(pos, (3000, 1, 3))
        m = radar.measure(np.array([0.0]), r, np.full(3000, rcs), rng)
        pd = float(radar.detection_probability(radar.snr_db(frac * r_ref, rcs)))
        assert len(m) / 3000 == pytest.approx(pd, abs=4 * math.sqrt(pd * (1 - pd) / 3000) + 1e-9)
    assert float(radar.detection_probability(12.9)) == 0.0


# ---- R^4 law --------------------------------------------------------------------------------


def test_detection_range_scales_as_rcs_to_the_quarter():
    radar = armavir()
    r1 = radar.detection_range(1.0)
    assert r1 == pytest.approx(4.0e6)
    assert radar.detection_range(0.01) / r1 == pytest.approx(0.01**0.25, rel=1e-12)
    assert 0.01**0.25 == pytest.approx(0.316, abs=1e-3)  # 100x smaller -> 0.316x range
    # Same SNR (hence Pd) at 0.316x the range for 100x smaller cross-section.
    assert radar.snr_db(0.01**0.25 * 2.0e6, 0.01) == pytest.approx(radar.snr_db(2.0e6, 1.0))


def test_measured_detection_edge_moves_by_the_quarter_power():
    radar = armavir()
    rng = np.random.default_rng(2)
    for rcs in (1.0, 0.01):
        edge = 4.0e6 * rcs**0.25
        ranges = np.array([0.98 * edge, 1.02 * edge])
        pos = earth.aer_to_ecef(
            math.radians(175), math.radians(20), ranges, radar.lat, radar.lon, radar.alt
        )
        r = np.tile(pos[:, None, :], (500, 1, 1))  # inside, beyond, inside, ...
        m = radar.measure(np.array([0.0]), r, np.full(1000, rcs), rng)
        inside = np.isin(m.truth_id, np.arange(0, 1000, 2))
        assert inside.sum() > 200  # Pd about 0.55 just inside
        assert (~inside).sum() == 0  # nothing beyond the floor


# ---- line of sight --------------------------------------------------------------------------


@pytest.mark.parametrize("h2", [3.0e3, 1.0e5, 1.0e6])
def test_geometric_line_of_sight_matches_the_tangent_formula(h2):
    # reference.md: d = sqrt((R+h1)^2 - R^2) + sqrt((R+h2)^2 - R^2) is the longest grazing chord.
    radar = all_round(refraction_k=1.0)
    h1 = radar.alt
    d = float(earth.line_of_sight_range(h1, h2, k=1.0))
    r1, r2 = R + h1, R + h2
    for slant, expected in ((d * (1 - 1e-4), True), (d * (1 + 1e-4), False)):
        # Place the target at that slant range and height (law of cosines).
        theta = math.acos((r1**2 + r2**2 - slant**2) / (2 * r1 * r2))
        assert bool(radar.visible(on_equator(theta, h2))) is expected


def test_refraction_extends_the_low_horizon_by_the_effective_earth_factor():
    # Heights below the refracting layer: the horizon is the 4/3-Earth one, about sqrt(4/3) x.
    h1, h2 = 20.0, 3000.0
    assert h2 < REFRACTION_CEILING_M

    def max_ground_range(radar):
        lo, hi = 0.0, 0.2
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if radar.visible(on_equator(mid, h2)) else (lo, mid)
        return R * lo

    geometric = max_ground_range(all_round(alt=h1, refraction_k=1.0))
    refracted = max_ground_range(all_round(alt=h1))
    pure = max_ground_range(all_round(alt=h1, refraction_ceiling=np.inf))
    expected = float(
        earth.line_of_sight_range(h1, h2, k=4 / 3) / earth.line_of_sight_range(h1, h2, k=1.0)
    )
    assert expected == pytest.approx(math.sqrt(4 / 3), rel=2e-3)
    assert refracted / geometric == pytest.approx(expected, rel=2e-3)
    assert pure == pytest.approx(refracted, rel=1e-9)
    # And the horizon distance itself is docs/reference.md's d with kR (arc vs chord: < 0.1 %).
    assert refracted == pytest.approx(float(earth.line_of_sight_range(h1, h2, k=4 / 3)), rel=1e-3)


def test_two_layer_refraction_for_space_targets():
    # A missile at 1000 km: the pure 4/3 model would stretch the horizon by ~15 %; the two-layer
    # model adds only what ~0.57 deg of total bending gives.
    h = 1.0e6
    geometric = horizon_angle(h, R, k=1.0)
    two_layer = horizon_angle(h, R)
    pure = horizon_angle(h, R, ceiling=np.inf)
    assert geometric < two_layer < pure
    assert pure / geometric > 1.15
    assert 1.005 < two_layer / geometric < 1.03
    # Bending of a ray grazing the surface: L / (4 R) over the layer, 34.5 arcmin by design.
    a = 4 / 3 * R
    bend = math.sqrt((a + REFRACTION_CEILING_M) ** 2 - a**2) / (4 * R)
    assert math.degrees(bend) * 60 == pytest.approx(34.5, abs=0.2)
    # Apparent elevation: refraction raises it, a little, and never lowers it.
    theta = np.linspace(0.05, 0.52, 20)
    bump = apparent_elevation(theta, 0.0, h, R) - apparent_elevation(theta, 0.0, h, R, k=1.0)
    assert np.all(bump >= 0) and np.all(np.degrees(bump) < 0.6)


def test_visibility_over_the_ellipsoid_agrees_with_an_exact_chord_test():
    # Exact geometric line of sight over WGS84: scale z by a/b so the ellipsoid becomes a sphere
    # of radius a (straight lines stay straight) and test the chord against it.
    def exact(r_obs, r_tgt):
        s = np.array([1.0, 1.0, earth.WGS84_A / earth.WGS84_B])
        p, q = r_obs * s, r_tgt * s
        d = q - p
        u = np.clip(-np.einsum("...i,...i", p, d) / np.einsum("...i,...i", d, d), 0, 1)
        return np.linalg.norm(p + u[..., None] * d, axis=-1) >= earth.WGS84_A

    rng = np.random.default_rng(3)
    worst = 0.0
    for _ in range(60):
        lat0, lon0 = rng.uniform(-1.2, 1.2), rng.uniform(-np.pi, np.pi)
        az0, h2 = rng.uniform(0, 2 * np.pi), rng.uniform(5e4, 1.5e6)
        radar = Radar(
            "x", "A", lat0, lon0, 100.0, 1e9, 1.0, 1e-3, 10.0,
            min_elevation=-np.pi / 2, refraction_k=1.0,
        )  # fmt: skip
        nominal = R * (horizon_angle(100.0, R, 1.0) + horizon_angle(h2, R, 1.0))
        dist = np.linspace(0.98, 1.02, 801) * nominal
        lat_s, lon_s = earth.destination(lat0, lon0, az0, dist)
        tgt = earth.geodetic_to_ecef(lat_s, lon_s, h2)
        ours, theirs = radar.visible(tgt), exact(radar.site_ecef, tgt)
        # Each is visible up to a boundary and not beyond it; compare the boundaries.
        assert not ours.all() and not theirs.all() and ours[0] and theirs[0]
        edge_ours, edge_exact = dist[np.argmin(ours)], dist[np.argmin(theirs)]
        assert np.all(ours[: np.argmin(ours)]) and not np.any(ours[np.argmin(ours) :])
        worst = max(worst, abs(edge_ours / edge_exact - 1))
    assert worst < 3e-3  # measured: 0.11 % at most


# ---- field of view --------------------------------------------------------------------------


def test_armavir_field_of_view():
    radar = armavir()
    az_deg = np.array([50, 54.5, 55.5, 100, 175, 294.5, 295.5, 300, 10])
    el_deg = np.array([1.0, 1.5, 2.5, 30, 59.5, 60.5, 70])
    az, el = np.meshgrid(np.radians(az_deg), np.radians(el_deg), indexing="ij")
    pos = earth.aer_to_ecef(az, el, 1.5e6, radar.lat, radar.lon, radar.alt).reshape(-1, 1, 3)
    inside = (
        ((az_deg >= 55) & (az_deg <= 295))[:, None] & ((el_deg >= 2) & (el_deg <= 60))[None, :]
    ).reshape(-1)
    np.testing.assert_array_equal(radar.visible(pos[:, 0]), inside)
    m = radar.measure(np.array([0.0]), pos, np.full(len(pos), 1e4), np.random.default_rng(4))
    np.testing.assert_array_equal(np.sort(m.truth_id), np.flatnonzero(inside))


def test_visibility_and_snr_broadcast():
    radar = armavir()
    pos = earth.aer_to_ecef(math.radians(175), math.radians(10), 1.0e6, radar.lat, radar.lon)
    assert radar.visible(pos).shape == ()
    assert radar.visible(np.broadcast_to(pos, (4, 5, 3))).shape == (4, 5)
    assert radar.snr_db(np.ones((4, 5)) * 1e6, np.ones((4, 1))).shape == (4, 5)
    assert radar.snr_db(4.0e6, 1.0) == pytest.approx(13.0)


def test_min_range_and_nan_truth_are_not_seen():
    radar = armavir(min_range_km=100.0)
    near = earth.aer_to_ecef(math.radians(175), 0.5, [50e3, 150e3], radar.lat, radar.lon)
    assert radar.visible(near).tolist() == [False, True]
    assert not radar.visible(np.full(3, np.nan))


# ---- measurement noise ----------------------------------------------------------------------


def test_measurement_noise_is_chi_square_with_three_dof():
    radar = armavir(range_noise_floor_m=5.0)
    rng = np.random.default_rng(5)
    n = 3000
    ranges = rng.uniform(3e5, 3.5e6, n)
    az = np.radians(rng.uniform(80, 270, n))
    el = np.radians(rng.uniform(5, 55, n))
    pos = earth.aer_to_ecef(az, el, ranges, radar.lat, radar.lon, radar.alt)[:, None, :]
    m = radar.measure(np.array([100.0]), pos, np.full(n, 10.0), rng)
    assert len(m) > 2500
    # Truth from an independent library (pymap3d, WGS84).
    lat, lon, alt = (np.degrees(radar.lat), np.degrees(radar.lon), radar.alt)
    x, y, z = pos[m.truth_id, 0].T
    az_t, el_t, r_t = pymap3d.ecef2aer(x, y, z, lat, lon, alt)
    err = m.z - np.stack([r_t, np.radians(az_t), np.radians(el_t)], -1)
    err[:, 1] = (err[:, 1] + np.pi) % (2 * np.pi) - np.pi
    nis = np.einsum("mi,mij,mj->m", err, np.linalg.inv(m.cov), err)
    assert nis.mean() == pytest.approx(3.0, abs=3 * math.sqrt(6 / len(nis)))
    assert stats.kstest(nis, stats.chi2(3).cdf).pvalue > 0.01
    # The noise model itself: sigma = sqrt(sigma_ref^2 SNR_ref/SNR + floor^2).
    snr = radar.snr_db(r_t, 10.0)
    sig_r = np.sqrt(100.0**2 * 10 ** ((13.0 - snr) / 10) + 25.0)
    np.testing.assert_allclose(np.sqrt(m.cov[:, 0, 0]), sig_r, rtol=1e-9)
    np.testing.assert_allclose(np.sqrt(m.cov[:, 1, 1]), np.sqrt(m.cov[:, 2, 2]))


def test_noise_grows_as_snr_falls():
    radar = armavir()
    rng = np.random.default_rng(6)
    stds = []
    for rng_m in (1.0e6, 2.0e6):  # 12 dB apart: sigma x 4 (R^4 law, sigma ~ 1/sqrt(SNR) ~ R^2)
        pos = earth.aer_to_ecef(math.radians(175), math.radians(20), rng_m, radar.lat, radar.lon)
        m = radar.measure(np.array([0.0]), np.broadcast_to(pos, (2000, 1, 3)), 100.0, rng)
        stds.append(np.std(m.z[:, 0]))
    assert stds[1] / stds[0] == pytest.approx(4.0, rel=0.08)


# ---- scanning -------------------------------------------------------------------------------


def test_observe_scans_at_the_revisit_period_and_is_time_ordered():
    radar = all_round(revisit=7.0)
    times = np.arange(0.0, 601.0, 10.0)
    # Circular-ish motion at 500 km altitude: three objects, one ending early (NaN).
    theta = 0.2 + 1e-3 * times
    r = np.stack([on_equator(theta + 0.01 * i, 5e5) for i in range(3)])
    r[2, 30:] = np.nan
    rng = np.random.default_rng(7)
    m = radar.observe(times, r, np.array([1.0, 1.0, 1.0]), rng)
    assert np.all(np.diff(m.t) >= 0)
    scans = np.unique(m.t)
    np.testing.assert_allclose(np.diff(scans), 7.0)
    assert 0.0 <= scans[0] < 7.0
    for i in range(3):
        assert len(np.unique(m.t[m.truth_id == i])) == np.count_nonzero(m.truth_id == i)
    assert m.t[m.truth_id == 2].max() <= times[29]
    # Same seed, same measurements.
    m2 = radar.observe(times, r, np.array([1.0, 1.0, 1.0]), np.random.default_rng(7))
    np.testing.assert_array_equal(m.z, m2.z)


def test_truth_interpolation_is_accurate_on_a_coarse_grid():
    # Circular orbit at 500 km sampled every 10 s: cubic interpolation within a metre.
    times = np.arange(0.0, 1000.0, 10.0)
    omega = math.sqrt(earth.MU / (R + 5e5) ** 3)
    t = np.linspace(1.0, 990.0, 777)
    exact = on_equator(omega * t, 5e5)
    got = interpolate_truth(times, on_equator(omega * times, 5e5)[None], t)[0]
    assert np.max(np.linalg.norm(got - exact, axis=-1)) < 1.0


def test_false_alarms_are_poisson_and_labelled():
    radar = armavir(false_alarms_per_scan=2.0)
    rng = np.random.default_rng(8)
    t = np.arange(0.0, 5000.0, 10.0)
    m = radar.measure(t, np.full((1, t.size, 3), np.nan), 1.0, rng)
    assert np.all(m.truth_id == -1)
    assert len(m) / t.size == pytest.approx(2.0, abs=4 * math.sqrt(2.0 / t.size))
    az = np.degrees(m.z[:, 1])
    assert np.all((az > 50) & (az < 300))


def test_from_spec_converts_units_and_rejects_bad_values():
    radar = armavir()
    assert radar.boresight_az == pytest.approx(math.radians(175))
    assert radar.angle_noise == pytest.approx(1e-3)
    assert radar.reference_range == pytest.approx(4.0e6)
    with pytest.raises(UserError):
        armavir(revisit_s=0.0)
    with pytest.raises(UserError):
        armavir(min_elevation_deg=70.0)


# ---- space-based infrared -------------------------------------------------------------------


def test_infrared_errors_have_the_stated_statistics():
    sensor = SpaceInfrared.from_spec(
        "SBIRS", "NATO",
        latency_s=45.0, launch_position_sigma_km=2.0, heading_sigma_deg=3.0,
        launch_time_sigma_s=4.0, min_burn_s=30.0,
    )  # fmt: skip
    rng = np.random.default_rng(9)
    n = 4000
    t_launch = rng.uniform(0, 600, n)
    lat = np.radians(rng.uniform(25, 40, n))
    lon = np.radians(rng.uniform(45, 60, n))
    heading = rng.uniform(0, 2 * np.pi, n)
    burn = np.where(np.arange(n) % 10 == 0, 20.0, 120.0)  # every tenth too short to be seen
    reports = sensor.report(t_launch, lat, lon, heading, rng, burn_time=burn)
    ids = np.array([r.truth_id for r in reports])
    assert len(reports) == n - n // 10 and np.all(ids % 10 != 0)
    assert all(a.t_report <= b.t_report for a, b in zip(reports, reports[1:], strict=False))
    t_rep = np.array([r.t_report for r in reports])
    np.testing.assert_allclose(t_rep, t_launch[ids] + 45.0)
    # Position errors in the true launch point's ENU frame (pymap3d, WGS84).
    e, nn, _ = pymap3d.geodetic2enu(
        np.array([r.lat for r in reports]), np.array([r.lon for r in reports]), 0.0,
        lat[ids], lon[ids], 0.0, deg=False,
    )  # fmt: skip
    dt = np.array([r.t_launch for r in reports]) - t_launch[ids]
    dh = (np.array([r.heading for r in reports]) - heading[ids] + np.pi) % (2 * np.pi) - np.pi
    for x, sigma in ((e, 2000.0), (nn, 2000.0), (dt, 4.0), (dh, math.radians(3))):
        assert stats.kstest(x / sigma, "norm").pvalue > 0.01
        assert np.std(x) == pytest.approx(sigma, rel=0.05)
    assert reports[0].sigma_position_m == 2000.0
