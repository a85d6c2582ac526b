"""Engagement stage against independent references: the reach table against flyouts integrated
here with scipy (ideal Earth, and a rotating Earth with J2), the vertical shot against the energy
integral and constant-g kinematics; intercepts against threats flown with scipy; kill statistics
against the binomial and Wilkening's closed forms (docs/reference.md); the assignment
against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.integrate import quad, solve_ivp
from scipy.optimize import brentq
from scipy.stats import binomtest

from jointbmd import earth
from jointbmd.engagement import (
    FireUnits,
    InterceptorType,
    assign_weapons,
    boost_programme,
    build_reach_tables,
    default_capacity,
    engagement_pk,
    execute_engagements,
    flyout_time,
    intercept_geometry,
    reach_table,
    solve_intercepts,
    solve_thrust,
)
from jointbmd.trajectory.propagate import propagate

MU, R = earth.MU, earth.R_IDEAL

# A notional SM-3 Block IA-like type: about 3 km/s, range about 850 km, ceiling about 550 km
# (docs/reference.md, [S2]); burn time and floor notional.
SM3 = InterceptorType("notional-3kms", 3000.0, 30.0, 70e3, 550e3, 850e3, 0.7)
FAST = InterceptorType("notional-8kms", 8000.0, 60.0, 50e3, 1500e3, 3000e3, 0.7)

T_GRID = np.arange(0.0, 1000.0, 2.0)
LAUNCH_LAT, LAUNCH_LON = np.radians(32.0), np.radians(52.0)
BEARING = np.radians(300.0)
THREAT_RANGE = 3000e3


# --------------------------------------------------------------------------------------------
# Independent references
# --------------------------------------------------------------------------------------------


def _two_body(t, y):
    r = y[:3]
    return np.concatenate([y[3:], -MU * r / np.linalg.norm(r) ** 3])


def ballistic_threat(range_m=THREAT_RANGE, t_grid=T_GRID):
    """Minimum-energy missile on the ideal sphere (docs/reference.md formulas), flown with DOP853;
    ECEF = ECI in the ideal model. Returns positions (T, 3), NaN outside the flight, and the
    dense solution."""
    psi = range_m / R
    v = np.sqrt(2 * MU / R * np.sin(psi / 2) / (1 + np.sin(psi / 2)))
    gam = (np.pi - psi) / 4
    r0 = earth.geodetic_to_ecef(LAUNCH_LAT, LAUNCH_LON, 0.0, "ideal")
    enu = earth.enu_matrix(LAUNCH_LAT, LAUNCH_LON)
    d = np.array([np.cos(gam) * np.sin(BEARING), np.cos(gam) * np.cos(BEARING), np.sin(gam)])

    def hit(t, y):
        return np.linalg.norm(y[:3]) - R + (1.0 if t < 1.0 else 0.0)

    hit.terminal, hit.direction = True, -1
    sol = solve_ivp(
        _two_body,
        (0.0, 5000.0),
        np.concatenate([r0, v * (d @ enu)]),
        method="DOP853",
        rtol=1e-11,
        atol=1e-4,
        dense_output=True,
        events=hit,
    )
    t_impact = sol.t_events[0][0]
    ok = (t_grid >= 0.0) & (t_grid <= t_impact)
    out = np.full((t_grid.size, 3), np.nan)
    out[ok] = sol.sol(t_grid[ok])[:3].T
    return out, sol


def point_along(fraction_of_range, offset_m=0.0):
    """Latitude, longitude on the threat's ground track, ``fraction`` of its range downrange."""
    return earth.destination(
        LAUNCH_LAT, LAUNCH_LON, BEARING, fraction_of_range * THREAT_RANGE + offset_m, "ideal"
    )


def _pitch(it, pitch_final, t, pitch_start=0.5 * np.pi):
    """The boost programme of the module docstring: θ_0 during the rise, then
    θ = θ_f + (θ_0 - θ_f) (1 - x)², x the fraction of the time from the rise to burnout
    (θ_0 = 90°: the lofted programmes, a vertical rise; θ_0 = θ_f: the direct ones, a fixed
    attitude from launch)."""
    tb = it.burn_time_s
    rise = min(5.0, 0.1 * tb)
    x = np.clip((t - rise) / (tb - rise), 0.0, 1.0)
    return pitch_final + (pitch_start - pitch_final) * (1.0 - x) ** 2


def _planar_rhs(it, pitch_final, accel, pitch_start=0.5 * np.pi):
    """Point-mass gravity plus, during the burn, thrust ``accel`` along the pitch programme, in
    the plane x (downrange), y (up at the site)."""

    def rhs(t, y):
        r = y[:2]
        rn = np.linalg.norm(r)
        acc = -MU * r / rn**3
        if t < it.burn_time_s:
            up = r / rn
            horizontal = np.array([up[1], -up[0]])
            th = _pitch(it, pitch_final, t, pitch_start)
            acc = acc + accel * (np.cos(th) * horizontal + np.sin(th) * up)
        return np.concatenate([y[2:], acc])

    return rhs


def _planar_boost(it, pitch_final, accel, pitch_start=0.5 * np.pi):
    return solve_ivp(_planar_rhs(it, pitch_final, accel, pitch_start), (0.0, it.burn_time_s),
                     [0.0, R, 0.0, 0.0], method="DOP853", rtol=1e-11, atol=1e-6,
                     dense_output=True)  # fmt: skip


def planar_flyout(it, pitch_final, t_max=1200.0, pitch_start=0.5 * np.pi):
    """The flyout model of the module docstring, flown independently with scipy: the thrust
    found by root-finding so that the speed at burnout is the type's burnout speed, then DOP853
    under point-mass gravity. Returns a function of time giving (ground range, height)."""
    v = it.burnout_speed_mps

    def speed_miss(accel):
        return np.linalg.norm(_planar_boost(it, pitch_final, accel, pitch_start).y[2:, -1]) - v

    nominal = v / it.burn_time_s
    accel = brentq(speed_miss, 0.5 * nominal, 2.0 * nominal + 50.0, xtol=1e-9)
    boost = _planar_boost(it, pitch_final, accel, pitch_start)
    coast = solve_ivp(_planar_rhs(it, pitch_final, 0.0), (it.burn_time_s, t_max), boost.y[:, -1],
                      method="DOP853", rtol=1e-11, atol=1e-4, dense_output=True)  # fmt: skip

    def at(t):
        t = np.asarray(t, float)
        pos = np.where(t <= it.burn_time_s, boost.sol(np.minimum(t, it.burn_time_s))[:2],
                       coast.sol(np.maximum(t, it.burn_time_s))[:2])  # fmt: skip
        return R * np.arctan2(pos[0], pos[1]), np.hypot(pos[0], pos[1]) - R

    at.accel = accel
    at.burnout = boost.y[:, -1]
    return at


# --------------------------------------------------------------------------------------------
# Flyout and reach table
# --------------------------------------------------------------------------------------------


def test_flyout_has_the_burnout_speed_after_its_gravity_loss():
    # The definition of burnout_speed_mps: the speed at burnout along the flown path. A longer
    # burn at the same burnout speed costs more delta-v (gravity loss, ∫ g sin γ dt).
    pitches = np.radians([-20.0, 10.0, 45.0, 80.0, 90.0])
    dv = {}
    for tb in (20.0, 40.0, 80.0):
        it = InterceptorType("t", 3000.0, tb, 0.0, np.inf, np.inf, 0.7)
        accel = solve_thrust(it, pitches)
        if tb == 40.0:
            for k, p in enumerate(pitches):
                ref = planar_flyout(it, p, t_max=tb + 1.0)
                assert accel[k] == pytest.approx(ref.accel, rel=1e-4)
        dv[tb] = accel * tb
    # Vertical shot: gravity loss ≈ g t_b (g falls a little with height).
    assert dv[40.0][-1] - 3000.0 == pytest.approx(9.80 * 40.0, rel=0.02)
    # Climbing programmes lose more the longer they burn (a diving one's path changes shape).
    climbing = pitches >= np.radians(10.0)
    assert np.all(dv[20.0][climbing] < dv[40.0][climbing])
    assert np.all(dv[40.0][climbing] < dv[80.0][climbing])


def test_a_longer_burn_of_the_same_motor_never_reaches_further():
    # Same ideal delta-v (thrust acceleration times burn time), longer burn: more gravity loss,
    # so for every climbing boost programme a lower burnout speed, a lower apogee and a shorter
    # range. (A programme pitched below the horizontal at burnout changes shape with the burn
    # time: gravity then adds speed, and the comparison is not like for like.) Flown through the
    # shared propagator with the library's boost programmes.
    pitches = np.radians(np.linspace(5.0, 90.0, 24))
    x0 = np.zeros((pitches.size, 6))
    x0[:, 1] = R
    reach = []
    for tb in (15.0, 30.0, 60.0, 120.0):
        it = InterceptorType("t", 3000.0, tb, 0.0, np.inf, np.inf, 0.7)
        traj = propagate(x0, 0.0, "ideal", boost=boost_programme(it, pitches, 4000.0 / tb),
                         max_flight_s=3000.0)  # fmt: skip
        t = np.arange(0.0, 3000.0, 2.0)
        pos = traj.position_eci(t)
        s = R * np.arctan2(pos[..., 0], pos[..., 1])
        h = np.hypot(pos[..., 0], pos[..., 1]) - R
        burnout_speed = np.linalg.norm(traj.burnout_state_eci[:, 3:], axis=1)
        reach.append((burnout_speed, np.nanmax(h, axis=1), np.nanmax(s, axis=1)))
    for (v1, h1, s1), (v2, h2, s2) in itertools.pairwise(reach):
        assert np.all(v2 < v1)
        assert np.all(h2 <= h1 + 1.0)
        assert np.all(s2 <= s1 + 1.0)
    # Vertical shot: the apogee from the energy integral of a boost flown with scipy,
    # 1/r_a = 1/r_b - v_b²/(2 mu); the constant-g limit Δv²/(2g) - Δv t_b/2 falls with t_b.
    for (_, h, _), tb in zip(reach, (15.0, 30.0, 60.0, 120.0), strict=True):
        it = InterceptorType("t", 3000.0, tb, 0.0, np.inf, np.inf, 0.7)
        y = _planar_boost(it, 0.5 * np.pi, 4000.0 / tb).y[:, -1]
        r_b, v_b = np.hypot(y[0], y[1]), np.hypot(y[2], y[3])
        assert h[-1] == pytest.approx(1.0 / (1.0 / r_b - v_b**2 / (2 * MU)) - R, abs=2e3)


def test_a_type_too_slow_for_its_low_programmes_still_gets_a_table():
    # 500 m/s after a 60 s burn: the low programmes hit the ground before burnout while the
    # thrust is solved, and drop out (once, flying them on with no thrust solution never
    # finished). The vertical shot stays: constant net acceleration v/t_b for t_b, then a
    # ballistic coast, so its apogee is v t_b / 2 + v² / (2 g) (g falls 1 % over 30 km).
    slow = InterceptorType("slow", 500.0, 60.0, 0.0, np.inf, np.inf, 0.7)
    table = build_reach_tables([slow], max_points=201, dt=2.0, programmes=100)[0]
    assert table.kinematic_altitude_m == pytest.approx(500.0 * 30.0 + 500.0**2 / (2 * 9.80665),
                                                       rel=0.01)  # fmt: skip
    assert np.isnan(solve_thrust(slow, np.radians([-30.0]))[0])
    assert np.isfinite(solve_thrust(slow, np.radians([90.0]))[0])


def test_vertical_flyout_matches_energy_integral():
    table = reach_table(SM3)
    v, tb = SM3.burnout_speed_mps, SM3.burn_time_s
    ref = planar_flyout(SM3, 0.5 * np.pi)
    r_b = R + ref(tb)[1]

    def exact(h):  # t = t_b + ∫ dr / sqrt(v_b² - 2 mu (1/r_b - 1/r)) (radial Kepler motion)
        return tb + quad(lambda r: 1.0 / np.sqrt(v**2 - 2 * MU * (1 / r_b - 1 / r)), r_b, R + h)[0]

    for h in (100e3, 150e3, 300e3, 450e3):
        assert table.flyout_time(0.0, h) == pytest.approx(exact(h), rel=2e-4)
    # During the boost: the scipy boost's own time to 20 km.
    t_20 = brentq(lambda t: ref(t)[1] - 20e3, 1.0, tb)
    assert table.flyout_time(0.0, 20e3) == pytest.approx(t_20, abs=0.05)
    # The ceiling is the vertical apogee: v² = 2 mu (1/r_b - 1/r_apogee).
    apogee = 1.0 / (1.0 / r_b - v**2 / (2 * MU)) - R
    assert table.kinematic_altitude_m == pytest.approx(apogee, rel=1e-4)


def test_reach_table_matches_direct_flyouts_on_their_ascent():
    # A point on the ascent of a flyout with final pitch θ is reached fastest by that flyout:
    # the table must give its time.
    rng = np.random.default_rng(1)
    table = reach_table(SM3)
    errors = []
    for pitch in np.radians(rng.uniform(0.0, 80.0, 12)):
        ref = planar_flyout(SM3, pitch)
        gamma_b = np.arcsin(np.dot(ref.burnout[:2], ref.burnout[2:]) / np.linalg.norm(
            ref.burnout[:2]) / np.linalg.norm(ref.burnout[2:]))  # fmt: skip
        t_apogee = SM3.burn_time_s + SM3.burnout_speed_mps * np.sin(gamma_b) / 9.0
        t_eval = rng.uniform(SM3.burn_time_s + 5.0, 0.85 * t_apogee, 4)
        s, h = ref(t_eval)
        inside = (s < 0.95 * SM3.max_range_m) & (h < 0.95 * SM3.max_altitude_m)
        got = table.flyout_time(s[inside], h[inside])
        assert np.all(np.isfinite(got))
        errors.extend(np.abs(got - t_eval[inside]) / t_eval[inside])
        assert np.all(np.abs(got - t_eval[inside]) <= 0.01 * t_eval[inside] + 1.0)
    assert len(errors) > 20


_FLOWN: dict = {}


def _fastest_through(it, s_target, h_target, family, parameters, t_max=1200.0):
    """Brute force over one one-parameter family of boost programmes flown with scipy
    (``family(p)`` -> (θ_0, θ_f)): every programme that passes through the point (scan the
    parameter, then root-find), and the earliest time any of them gets there (inf if none).
    The direct family counts up to burnout only, as the reach table takes it."""
    until = it.burn_time_s if family is _direct else t_max
    t = np.arange(0.0, until + 0.5, 1.0)

    def fly(p):
        start, final = family(p)
        key = (it, float(start), float(final), t_max)
        if key not in _FLOWN:  # the scan's flyouts serve every point
            _FLOWN[key] = planar_flyout(it, final, t_max, pitch_start=start)
        return _FLOWN[key]

    def height_and_time(at):
        # First passage of the ground range s_target before falling back to the ground.
        s_k, h_k = at(t)
        airborne = np.cumprod(h_k > -1.0).astype(bool)
        reach = np.flatnonzero(airborne & (s_k >= s_target))
        if reach.size == 0 or reach[0] == 0:
            return np.nan, np.nan
        k = reach[0]
        t_s = brentq(lambda tt: at(tt)[0] - s_target, t[k - 1], t[k], xtol=1e-9)
        return at(t_s)[1], t_s

    hs = np.array([height_and_time(fly(p))[0] for p in parameters]) - h_target
    best = np.inf
    for k in np.flatnonzero(np.isfinite(hs[:-1]) & np.isfinite(hs[1:]) & (hs[:-1] * hs[1:] < 0)):
        p = brentq(lambda p: height_and_time(fly(p))[0] - h_target, parameters[k],
                   parameters[k + 1], xtol=1e-8)  # fmt: skip
        best = min(best, height_and_time(fly(p))[1])
    return best


def _lofted(p):
    return 0.5 * np.pi, p


def _direct(p):
    return p, p


@pytest.mark.slow
def test_reach_table_is_the_minimum_over_boost_programmes():
    # Brute force over both families (lofted: a turn from the vertical to the final pitch;
    # direct: a fixed attitude), the fastest programme through each point.
    table = reach_table(SM3)
    lofted = np.radians(np.linspace(-88.0, 89.0, 90))
    direct = np.radians(np.linspace(2.0, 89.0, 30))
    for s_target, h_target in ((300e3, 150e3), (600e3, 120e3), (150e3, 400e3), (750e3, 80e3)):
        best = min(_fastest_through(SM3, s_target, h_target, _lofted, lofted),
                   _fastest_through(SM3, s_target, h_target, _direct, direct))  # fmt: skip
        assert np.isfinite(best)
        assert table.flyout_time(s_target, h_target) == pytest.approx(best, rel=0.005, abs=0.5)


@pytest.mark.slow
def test_low_points_close_to_the_site_are_reached_by_a_direct_programme():
    # A fast type pitches its lofted programmes over by the fraction of its burn: early in the
    # burn, where it passes points close to the site, every one is still steep, so none passes
    # 54 km out and 55 km up. A fixed attitude does (flown with scipy: the fastest of them,
    # within the boost of the 9 km/s type), and the table must know it, to within a percent.
    fast = InterceptorType("notional-9kms", 9000.0, 30.0, 50e3, 1000e3, 3000e3, 0.7)
    table = reach_table(fast)
    attitudes = np.radians(np.linspace(20.0, 70.0, 6))
    for s_target, h_target in ((54e3, 55e3), (60e3, 30e3), (100e3, 60e3)):
        best = _fastest_through(fast, s_target, h_target, _direct, attitudes, t_max=60.0)
        assert best <= fast.burn_time_s  # reached during the boost
        got = table.flyout_time(s_target, h_target)
        assert got == pytest.approx(best, rel=0.01, abs=0.5)
    # Not vacuous: no lofted programme passes through the first point at all.
    lofted = np.radians(np.linspace(-90.0, 89.9, 25))
    assert _fastest_through(fast, 54e3, 55e3, _lofted, lofted, t_max=60.0) == np.inf


def test_reach_table_against_a_rotating_earth_with_j2():
    # The same boost programmes flown by the shared propagator on the full model: J2 gravity,
    # the rotating Earth (the site's inertial velocity, hence Coriolis and centrifugal effects),
    # the ellipsoid, a site at Deveselu; the neglected terms must cost under 1 % of the flyout
    # time (plus a second).
    lat, lon, alt = np.radians(44.08), np.radians(24.41), 100.0
    site = earth.geodetic_to_ecef(lat, lon, alt)
    enu = earth.enu_matrix(lat, lon)
    rng = np.random.default_rng(7)
    az = rng.uniform(0, 2 * np.pi, 6)
    pitch = np.radians(rng.uniform(5, 75, 6))
    up = np.array([0.0, 0.0, 1.0]) @ enu
    east_north = np.stack([np.sin(az), np.cos(az), np.zeros(6)], 1) @ enu
    normal = np.cross(east_north, up)  # thrust plane: up and the launch azimuth
    x0 = earth.state_ecef_to_eci(np.concatenate([np.tile(site, (6, 1)), np.zeros((6, 3))], 1),
                                 0.0, "full")  # fmt: skip
    accel = solve_thrust(SM3, pitch)
    flown = propagate(x0, 0.0, "full", boost=boost_programme(SM3, pitch, accel, normal),
                      max_flight_s=900.0)  # fmt: skip
    tb, v = SM3.burn_time_s, SM3.burnout_speed_mps
    checked = 0
    for k in range(6):
        t_eval = np.sort(rng.uniform(tb + 10, tb + 0.7 * v * np.sin(pitch[k] + 0.2) / 9.8, 3))
        r_ecef = flown.position_ecef(t_eval)[k]
        s, h, got = flyout_time(SM3, lat, lon, alt, r_ecef, "full")
        inside = (s < 0.95 * SM3.max_range_m) & (h < 0.95 * SM3.max_altitude_m) & (h > 10e3)
        assert np.all(np.abs(got[inside] - t_eval[inside]) <= 0.01 * t_eval[inside] + 1.0)
        checked += int(inside.sum())
    assert checked >= 8


def test_reach_table_refuses_points_beyond_the_interceptor():
    table = reach_table(SM3)
    # Nothing above the vertical shot's apogee near the site, nothing outside the kinematic
    # range.
    assert np.isnan(table.flyout_time(300e3, table.kinematic_altitude_m - 10e3))
    assert np.isnan(table.flyout_time(table.range_m[-1] + 10e3, 100e3))
    # 3 km/s, 30 s: the kinematics reach beyond the 850 km cap but not up to the 550 km cap.
    assert table.range_limit == (SM3.max_range_m, "cap")
    assert table.altitude_limit == (table.kinematic_altitude_m, "kinematic")
    assert 500e3 < table.kinematic_altitude_m < SM3.max_altitude_m
    uncapped = reach_table(InterceptorType("u", 3000.0, 30.0, 70e3, np.inf, np.inf, 0.7))
    assert uncapped.range_limit[1] == "kinematic" and uncapped.range_limit[0] > 850e3
    assert not table.in_envelope(100e3, 60e3)  # below the floor
    assert table.in_envelope(100e3, 80e3)
    assert not table.in_envelope(900e3, 100e3)  # beyond the range cap


# --------------------------------------------------------------------------------------------
# Intercept solution
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def threat():
    return ballistic_threat()


def units_at(points, it=SM3, **kw):
    lat = np.array([p[0] for p in points], float)
    lon = np.array([p[1] for p in points], float)
    return FireUnits.create(lat_rad=lat, lon_rad=lon, interceptor=it, **{"inventory": 8, **kw})


def test_head_on_threat_is_engaged_on_its_trajectory(threat):
    r, sol = threat
    units = units_at([point_along(0.95), point_along(0.8, offset_m=0.0)])
    res, _ = solve_intercepts(T_GRID, r[None], units, 0.0, model="ideal")
    assert res.feasible.shape == (1, 2) and res.feasible.all()
    # The point is on the threat's path at the intercept time, inside the envelope, and the
    # launch plus the flyout is the intercept time.
    truth = sol.sol(res.t_intercept[0])[:3].T
    assert np.max(np.linalg.norm(res.r_intercept_ecef[0] - truth, axis=-1)) < 50.0
    assert np.all((res.altitude_m >= SM3.min_altitude_m) & (res.altitude_m <= SM3.max_altitude_m))
    assert np.all(res.range_m <= SM3.max_range_m)
    np.testing.assert_allclose(res.t_launch + res.flyout_s, res.t_intercept, atol=1e-9)
    _, _, fly = flyout_time(SM3, *point_along(0.95), 0.0, res.r_intercept_ecef[0, 0], "ideal")
    assert fly == pytest.approx(res.flyout_s[0, 0], abs=1e-6)


def test_tail_chase_is_never_engaged(threat):
    # The site sits 50 km behind the launch point; the threat flies away at about 3.6 km/s of
    # ground speed, the 3 km/s interceptor cannot close whenever it is allowed to launch.
    r, _ = threat
    behind = units_at([point_along(0.0, offset_m=-50e3)])
    earliest = np.arange(0.0, 900.0, 10.0)[:, None]
    res, _ = solve_intercepts(T_GRID, np.repeat(r[None], earliest.shape[0], 0), behind, earliest,
                              model="ideal")  # fmt: skip
    assert not res.feasible.any()
    assert np.all(np.isnan(res.t_intercept))
    # Not vacuous: an 8 km/s interceptor at the same site catches it if launched early.
    fast = units_at([point_along(0.0, offset_m=-50e3)], it=FAST)
    res_fast, _ = solve_intercepts(T_GRID, r[None], fast, 60.0, model="ideal")
    assert res_fast.feasible[0, 0]


def test_later_allowed_launch_means_later_or_no_intercept(threat):
    r, _ = threat
    units = units_at([point_along(0.9)])
    earliest = np.arange(0.0, 900.0, 5.0)
    res, _ = solve_intercepts(T_GRID, np.repeat(r[None], earliest.size, 0), units,
                              earliest[:, None], model="ideal")  # fmt: skip
    ok = res.feasible[:, 0]
    assert ok[0] and not ok[-1]
    assert np.all(np.diff(ok.astype(int)) <= 0)  # once infeasible, stays infeasible
    t_int = res.t_intercept[ok, 0]
    assert np.all(np.diff(t_int) >= -1e-6)
    assert np.all(res.t_launch[ok, 0] >= earliest[ok] - 1e-9)
    # Where the launch time binds, the solution launches at it (the intercept is the earliest).
    binding = ok & (earliest > res.t_launch[0, 0] + 5.0)
    np.testing.assert_allclose(res.t_launch[binding, 0], earliest[binding], atol=0.1)
    # Forbidden pairs (inf) are never feasible.
    res_inf, _ = solve_intercepts(T_GRID, r[None], units, np.inf, model="ideal")
    assert not res_inf.feasible.any()


# --------------------------------------------------------------------------------------------
# Doctrine and kill draws
# --------------------------------------------------------------------------------------------


def replicated_engagements(threat, n, **unit_kw):
    """n independent copies of the head-on engagement: threat i by unit i."""
    r, _ = threat
    lat, lon = point_along(0.9)
    units = FireUnits.create(lat_rad=np.full(n, lat), lon_rad=np.full(n, lon), **unit_kw)
    idx = np.arange(n)
    geometry = intercept_geometry(T_GRID, np.broadcast_to(r, (n,) + r.shape), units, idx, idx,
                                  model="ideal")  # fmt: skip
    return geometry, idx


def within_binomial(successes, trials, p, level=0.999):
    lo, hi = binomtest(int(successes), int(trials), p).proportion_ci(level)
    return lo <= p <= hi


def test_imperfect_kill_assessment_wastes_shots_on_kills_and_lets_false_kills_through(threat):
    """A look right with probability q: after a kill it fires again with probability 1 - q (a
    wasted interceptor at a dead warhead); after a miss it stops with probability 1 - q (the
    warhead leaks). Closed form for two salvos of one: P = p + (1-p) q p, E[shots] =
    1 + p (1-q) + (1-p) q (Wilkening's model with a kill assessment,
    analysis.effectiveness)."""
    from jointbmd.analysis.effectiveness import evaluate

    n, p, q = 2000, 0.6, 0.7
    it = InterceptorType("t", 3000.0, 30.0, 70e3, 550e3, 850e3, p)
    geometry, idx = replicated_engagements(
        threat, n, interceptor=it, inventory=2, doctrine="shoot-look-shoot",
        kill_assessment_delay_s=10.0, kill_assessment_p_correct=q,
    )  # fmt: skip
    out = execute_engagements(geometry, idx, idx, 0.0, np.random.default_rng(5))
    shots = out.shots
    first = shots.salvo_number == 0
    assert first.sum() == n
    hit_first = dict(zip(shots.threat_idx[first], shots.hit[first], strict=True))
    second = [hit_first[i] for i in shots.threat_idx[~first]]
    n_hit = sum(hit_first.values())
    # Missed kills: a second shot at a warhead already dead, with probability 1 - q.
    assert within_binomial(sum(second), n_hit, 1 - q)
    # False kills: a surviving warhead not shot at again, with probability 1 - q.
    assert within_binomial(len(second) - sum(second), n - n_hit, q)
    closed = evaluate(1, p, 2, doctrine="shoot-look-shoot", p_kill_assessment=q)
    assert float(closed.k_object) == pytest.approx(p + (1 - p) * q * p)
    assert within_binomial(out.killed.sum(), n, float(closed.k_object))
    expected_shots = 1 + p * (1 - q) + (1 - p) * q
    assert float(closed.expected_shots_per_object) == pytest.approx(expected_shots)
    assert out.shots_by_unit.mean() == pytest.approx(expected_shots, abs=4 * 0.5 / np.sqrt(n))
    # A perfect assessment on the same draws: never a second shot after a kill.
    perfect, _ = replicated_engagements(
        threat, 50, interceptor=it, inventory=2, doctrine="shoot-look-shoot",
        kill_assessment_delay_s=10.0,
    )  # fmt: skip
    ok = execute_engagements(perfect, idx[:50], idx[:50], 0.0, np.random.default_rng(5))
    again = ok.shots.threat_idx[ok.shots.salvo_number == 1]
    assert not np.any(ok.shots.hit[ok.shots.salvo_number == 0][again])


def test_false_targets_spend_interceptors_and_never_kill(threat):
    """An engagement fires its salvo at each object believed to be a warhead: a warhead called a
    decoy is not shot at and leaks; decoys called warheads draw a salvo each."""
    n, p = 400, 0.7
    it = InterceptorType("t", 3000.0, 30.0, 70e3, 550e3, 850e3, p)
    geometry, idx = replicated_engagements(threat, n, interceptor=it, inventory=6, salvo=2)
    missed = execute_engagements(
        geometry, idx, idx, 0.0, np.random.default_rng(1),
        warhead_engaged=False, false_targets=2,
    )  # fmt: skip
    assert not missed.killed.any()
    assert np.all(missed.shots_by_unit == 4) and missed.shots.on_false_target.all()
    both = execute_engagements(
        geometry, idx, idx, 0.0, np.random.default_rng(2),
        warhead_engaged=True, false_targets=2, warhead_slot=1,
    )  # fmt: skip
    assert np.all(both.shots_by_unit == 6)
    assert (~both.shots.on_false_target).sum() == 2 * n
    assert within_binomial(both.killed.sum(), n, 1 - (1 - p) ** 2)
    # The warhead is the second object engaged (slot 1): its salvo comes after one decoy's.
    unit0 = both.shots.on_false_target[both.shots.unit_idx == 0]
    assert unit0.tolist() == [True, True, False, False, True, True]


@pytest.mark.parametrize(("sspk", "salvo"), [(0.7, 1), (0.5, 3)])
def test_barrage_kill_probability_is_binomial(threat, sspk, salvo):
    n = 1500
    it = InterceptorType("t", 3000.0, 30.0, 70e3, 550e3, 850e3, sspk)
    geometry, idx = replicated_engagements(
        threat, n, interceptor=it, inventory=6, salvo=salvo, launch_interval_s=4.0
    )
    out = execute_engagements(geometry, idx, idx, 0.0, np.random.default_rng(11))
    assert np.all(out.shots_by_unit == salvo)  # a barrage fires all its shots
    assert within_binomial(out.killed.sum(), n, 1 - (1 - sspk) ** salvo)
    shots = out.shots
    assert np.all(shots.t_intercept[shots.kill] == out.t_kill[shots.threat_idx[shots.kill]])


def test_shoot_look_shoot_matches_the_closed_form_with_fewer_interceptors(threat):
    n, sspk, salvo = 1500, 0.6, 1
    it = InterceptorType("t", 3000.0, 30.0, 70e3, 550e3, 850e3, sspk)
    kw = {"interceptor": it, "inventory": 6, "salvo": salvo, "kill_assessment_delay_s": 10.0}
    geometry, idx = replicated_engagements(threat, n, doctrine="shoot-look-shoot", **kw)
    sls = execute_engagements(geometry, idx, idx, 0.0, np.random.default_rng(3), max_salvos=2)
    p1 = engagement_pk(sspk, salvo)
    p_two_looks = 1 - (1 - p1) * (1 - p1)
    assert within_binomial(sls.killed.sum(), n, p_two_looks)
    # The second salvo goes only to survivors of the first, after the look.
    first = sls.shots.salvo_number == 0
    second = ~first
    assert first.sum() == n and second.sum() == np.sum(~sls.shots.hit[first])
    first_t = dict(zip(sls.shots.threat_idx[first], sls.shots.t_intercept[first], strict=True))
    for i, t_l in zip(sls.shots.threat_idx[second], sls.shots.t_launch[second], strict=True):
        assert t_l >= first_t[i] + 10.0 - 1e-9
    mean_sls = sls.shots_by_unit.mean()
    assert mean_sls == pytest.approx(salvo * (2 - p1), abs=4 * np.sqrt(p1 * (1 - p1) / n))
    # A barrage of the same maximum number of shots: same kill probability, more interceptors.
    geometry_b, _ = replicated_engagements(threat, n, **{**kw, "salvo": 2 * salvo})
    barrage = execute_engagements(geometry_b, idx, idx, 0.0, np.random.default_rng(4))
    assert within_binomial(barrage.killed.sum(), n, p_two_looks)
    assert barrage.shots_by_unit.mean() == 2 * salvo > mean_sls


def test_inventory_interval_and_earliest_launch_are_respected(threat):
    r, _ = threat
    rng = np.random.default_rng(5)
    second_salvos = 0
    for trial in range(8):
        n = 4
        offsets = rng.uniform(-60.0, 60.0, n)  # threats launched at different times
        t_grid = np.arange(-100.0, 1100.0, 2.0)
        rs = np.stack([ballistic_threat(t_grid=t_grid - o)[0] for o in offsets])
        units = units_at(
            [point_along(0.9), point_along(0.85)],
            inventory=rng.integers(0, 14, 2),
            salvo=rng.integers(1, 4, 2),
            launch_interval_s=rng.uniform(0.0, 15.0, 2),
            doctrine=["shoot-look-shoot", "barrage"][:: 1 if trial % 2 else -1],
            kill_assessment_delay_s=5.0,
        )
        res, geometry = solve_intercepts(t_grid, rs, units, 0.0, model="ideal")
        ti, uj = np.nonzero(res.feasible)
        earliest = rng.uniform(0.0, 200.0, ti.size)
        out = execute_engagements(geometry, ti, uj, earliest, rng)
        assert np.all(out.inventory_left >= 0)
        assert np.all(out.shots_by_unit + out.inventory_left == units.inventory)
        s = out.shots
        allowed = dict(zip(zip(ti, uj, strict=True), earliest, strict=True))
        for k in range(s.t_launch.size):
            assert s.t_launch[k] >= allowed[(s.threat_idx[k], s.unit_idx[k])] - 1e-9
        for j in range(units.m):
            launches = np.sort(s.t_launch[s.unit_idx == j])
            assert np.all(np.diff(launches) >= units.launch_interval_s[j] - 1e-6)
        assert np.all(s.t_intercept > s.t_launch)
        second_salvos += np.sum(s.salvo_number > 0)
    assert second_salvos > 0  # shoot-look-shoot did look and fire again somewhere


@pytest.mark.parametrize(("sspk", "shots_of_b"), [(1.0, 0), (0.0, 1)])
def test_a_threat_known_dead_is_not_engaged_again(threat, sspk, shots_of_b):
    r, _ = threat
    it = InterceptorType("t", 3000.0, 30.0, 70e3, 550e3, 850e3, sspk)
    units = units_at([point_along(0.9)] * 2, it=it, kill_assessment_delay_s=10.0)
    res, geometry = solve_intercepts(T_GRID, r[None], units, 0.0, model="ideal")
    # Unit 1 may only launch after unit 0's intercept and kill assessment.
    later = res.t_intercept[0, 0] + 10.0
    out = execute_engagements(geometry, [0, 0], [0, 1], [0.0, later], np.random.default_rng(0))
    assert out.shots_by_unit.tolist() == [1, shots_of_b]
    assert out.killed[0] == (sspk == 1.0)


# --------------------------------------------------------------------------------------------
# Weapon-target assignment
# --------------------------------------------------------------------------------------------


def test_assignment_beats_greedy_on_a_hand_example():
    # Greedy takes 0.9 first (total 0.9 + 0.1 = 1.0); the optimum is 0.8 + 0.5 = 1.3.
    pk = np.array([[0.9, 0.8], [0.5, 0.1]])
    a = assign_weapons(pk, np.ones((2, 2), bool), [1, 1])
    assert sorted(zip(a.threat_idx.tolist(), a.unit_idx.tolist(), strict=True)) == [(0, 1), (1, 0)]
    assert a.expected_kills == pytest.approx(1.3)


def brute_force_one_round(pk, mask, capacity):
    n, m = pk.shape
    best = 0.0
    for choice in itertools.product(range(-1, m), repeat=n):  # -1: not engaged
        used = np.bincount([c for c in choice if c >= 0], minlength=m)
        if np.any(used > capacity) or any(c >= 0 and not mask[i, c] for i, c in enumerate(choice)):
            continue
        best = max(best, sum(pk[i, c] for i, c in enumerate(choice) if c >= 0))
    return best


def test_assignment_is_optimal_and_respects_mask_and_capacity():
    rng = np.random.default_rng(9)
    for _ in range(40):
        n, m = rng.integers(1, 5), rng.integers(1, 4)
        pk = rng.uniform(0.0, 1.0, (n, m))
        mask = rng.random((n, m)) < 0.7
        capacity = rng.integers(0, 3, m)
        a = assign_weapons(pk, mask, capacity)
        assert np.all(mask[a.threat_idx, a.unit_idx])
        assert np.all(np.bincount(a.unit_idx, minlength=m) <= capacity)
        assert len(set(a.threat_idx.tolist())) == a.threat_idx.size  # one unit per threat
        assert a.expected_kills == pytest.approx(brute_force_one_round(pk, mask, capacity))


def test_second_round_adds_units_on_leakage():
    pk = np.array([[0.6, 0.5], [0.3, 0.0]])
    a = assign_weapons(pk, pk > 0, [1, 2], max_units_per_threat=2)
    # Round 1: threat 0 <- unit 1 (0.5) and threat 1 <- unit 0 (0.3): 0.8 beats 0.6 alone.
    # Round 2: unit 0 is spent, unit 1 already engages threat 0 and cannot reach threat 1.
    assert sorted(zip(a.threat_idx.tolist(), a.unit_idx.tolist(), strict=True)) == [(0, 1), (1, 0)]
    # With two engagements on unit 0, round 1 gives it both threats (0.6 + 0.3 = 0.9); round 2
    # adds unit 1 to threat 0 on its leakage: gain (1 - 0.6) * 0.5.
    b = assign_weapons(pk, pk > 0, [2, 2], max_units_per_threat=2)
    pairs = sorted(zip(b.threat_idx.tolist(), b.unit_idx.tolist(), b.round.tolist(), strict=True))
    assert pairs == [(0, 0, 0), (0, 1, 1), (1, 0, 0)]
    assert b.p_kill[0] == pytest.approx(1 - 0.4 * 0.5)
    assert b.expected_kills == pytest.approx(0.9 + 0.4 * 0.5)
    assert np.all(default_capacity(units_at([point_along(0.9)], inventory=7, salvo=2)) == 3)
