"""The fast paths of a replication compute exactly what the straightforward code computes.

Each test compares an optimised path with a plain reference -- the public functions it replaces,
or the code as it was before the optimisation -- and asserts bit-for-bit equality (or, for the
exchange, that the same bytes are accepted or refused for the same reason). No timing here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2

from jointbmd import earth
from jointbmd.exchange import messages, signing
from jointbmd.exchange.messages import (
    FusedPicture,
    TrackBatchReport,
    decode_envelope,
    envelope_from_json,
    forget_envelopes,
    known_envelope,
    parse_json,
)
from jointbmd.exchange.receiver import Receiver
from jointbmd.exchange.signing import (
    BAD_SIGNATURE,
    KeyRing,
    Rejected,
    Signer,
    forget_verified,
    generate_keys,
    open_message,
)
from jointbmd.fusion import gate_threshold
from jointbmd.simulation.picture import _batch_reports
from jointbmd.tracking import Tracker, gate
from jointbmd.tracking.filters import (
    ExtendedKalmanUpdater,
    MeasurementPrediction,
    UnscentedKalmanUpdater,
    inverse_3x3,
    mahalanobis_squared,
)
from jointbmd.tracking.initiation import cued_prior, position_fix, single_point_prior
from jointbmd.tracking.models import (
    BallisticTransition,
    RadarMeasurementModel,
    _eci_to_ecef,
    _gravity_and_gradient,
    gravity_gradient,
    wrap_angle,
)
from jointbmd.tracking.tracker import _gate_terms


def _bits_equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f":  # compare the bits: tells -0.0 from 0.0
        return bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))
    return bool(np.array_equal(a, b))


def _positions(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    u = rng.normal(size=shape + (3,))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    return u * rng.uniform(6.2e6, 1.2e7, size=shape + (1,))


# --- tracking ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["full", "ideal"])
@pytest.mark.parametrize("shape", [(), (1,), (7,), (3, 4)])
def test_gravity_and_gradient_in_one_pass_is_bit_identical(model, shape):
    rng = np.random.default_rng(len(shape) + (model == "full"))
    r = _positions(rng, shape)
    a, g = _gravity_and_gradient(r, model)
    assert _bits_equal(a, earth.gravity(r, model))
    assert _bits_equal(g, gravity_gradient(r, model))


@pytest.mark.parametrize("model", ["full", "ideal"])
def test_measurement_function_and_jacobian_together_equal_each(model):
    rng = np.random.default_rng(3)
    mm = RadarMeasurementModel(0.7, 0.6, 120.0, model=model)
    x = np.concatenate([_positions(rng, (9,)), rng.normal(0, 3000, (9, 3))], -1)
    t = rng.uniform(0, 2000, 9)
    z, h = mm.function_and_jacobian(x, t)
    assert _bits_equal(z, mm.function(x, t))
    assert _bits_equal(h, mm.jacobian(x, t))


class _Report:
    """A launch report as the sensors stage makes it (only what cueing reads)."""

    def __init__(self, lat, lon, t_launch, heading, sigma_heading_rad=0.05):
        self.lat, self.lon, self.t_launch, self.heading = lat, lon, t_launch, heading
        self.sigma_position_m, self.sigma_heading_rad, self.sigma_time_s = (
            500.0,
            sigma_heading_rad,
            2.0,
        )
        self.t_report = t_launch + 30.0


def _reference_cued_prior(report, z, R, t, mm, velocity_sigma_m_s=1000.0, max_speed=8000.0):
    """`cued_prior` as it was written before it shared its fixes (public functions only)."""
    model = mm.model
    z = np.atleast_2d(np.asarray(z, float))
    R = np.broadcast_to(np.asarray(R, float), z.shape[:-1] + (3, 3))
    t_arr = np.broadcast_to(np.asarray(t, float), z.shape[:-1])
    r, p_rr = position_fix(z, R, t_arr, mm)
    tau = float(t) - float(report.t_launch)
    m = z.shape[0]
    r_launch_ecef = earth.geodetic_to_ecef(report.lat, report.lon, 0.0, model)
    r_launch = earth.ecef_to_eci(r_launch_ecef, float(report.t_launch), model)
    g_mean = earth.gravity(r, model) / 3.0 + 2.0 * earth.gravity(r_launch, model) / 3.0
    v = (r - r_launch) / tau + 0.5 * tau * g_mean
    speed = np.linalg.norm(v, axis=-1)
    var_v = (
        velocity_sigma_m_s**2
        + (float(report.sigma_position_m) / tau) ** 2
        + (speed * float(report.sigma_time_s) / tau) ** 2
    )
    P = np.zeros((m, 6, 6))
    P[:, :3, :3] = p_rr
    P[:, :3, 3:] = p_rr / tau
    P[:, 3:, :3] = p_rr / tau
    P[:, 3:, 3:] = p_rr / tau**2 + var_v[:, None, None] * np.eye(3)
    lat, lon, _ = earth.ecef_to_geodetic(earth.eci_to_ecef(r, t_arr, model), model)
    bearing = earth.initial_bearing(report.lat, report.lon, lat, lon, model)
    distance = earth.surface_distance(report.lat, report.lon, lat, lon, model)
    gate = 3.0 * float(report.sigma_heading_rad) + 0.1
    on_heading = (np.abs(wrap_angle(bearing - float(report.heading))) <= gate) | (distance < 50e3)
    return np.concatenate([r, v], -1), P, on_heading & (distance / tau <= max_speed)


def _detections(rng, m):
    z = np.column_stack(
        [rng.uniform(2e5, 2e6, m), rng.uniform(0, 2 * np.pi, m), rng.uniform(0.02, 1.2, m)]
    )
    R = np.zeros((m, 3, 3))
    R[:, 0, 0], R[:, 1, 1], R[:, 2, 2] = 100.0**2, 1e-3**2, 1e-3**2
    return z, R


@pytest.mark.parametrize("model", ["full", "ideal"])
def test_cued_prior_equals_the_reference(model):
    rng = np.random.default_rng(5)
    mm = RadarMeasurementModel(0.68, 0.62, 50.0, model=model)
    z, R = _detections(rng, 6)
    for _ in range(5):
        report = _Report(
            rng.uniform(0.4, 0.7), rng.uniform(0.7, 1.0), rng.uniform(0, 200), rng.uniform(0, 6)
        )
        t = report.t_launch + rng.uniform(30, 600)
        got = cued_prior(report, z, R, t, mm)
        want = _reference_cued_prior(report, z, R, t, mm)
        for a, b in zip(got, want, strict=True):
            assert _bits_equal(a, b)


def test_tracker_initiation_with_shared_fixes_equals_priors():
    """A tracker's new tracks are the best-fitting cued priors, else single-point priors."""
    rng = np.random.default_rng(8)
    mm = RadarMeasurementModel(0.68, 0.62, 50.0, model="full")
    z, R = _detections(rng, 5)
    t = 400.0
    reports = [_Report(0.6, 0.8, 100.0, 1.0, 3.0), _Report(0.5, 0.9, 150.0, 2.0, 3.0)]
    tracker = Tracker(model="full")
    for report in reports:
        tracker.cue(report)
    tracker._initiate(t, z, R, np.full(5, -1), mm, "radar")
    x, P = single_point_prior(z, R, t, mm, tracker.initial_velocity_sigma_m_s)
    best = np.full(5, np.inf)
    for report in reports:
        xc, pc, ok = cued_prior(report, z, R, t, mm, tracker.cue_velocity_sigma_m_s)
        score = np.trace(pc[:, 3:, 3:], axis1=-2, axis2=-1)
        better = ok & (score < best)
        x[better], P[better], best[better] = xc[better], pc[better], score[better]
    assert np.isfinite(best).any()  # at least one cue applied, so the cued path is exercised
    assert _bits_equal(tracker._x, x) and _bits_equal(tracker._P, P)
    assert _bits_equal(tracker._cued, np.isfinite(best))


# --- fusion -----------------------------------------------------------------------------------


def test_gate_threshold_cache_equals_chi2():
    for p in (0.99, 0.9999, 0.5):
        for dim in (3, 6):
            assert gate_threshold(p, dim) == float(chi2.ppf(p, dim))
            assert gate_threshold(p, dim) == float(chi2.ppf(p, dim))  # cached


# --- exchange ---------------------------------------------------------------------------------

EDGE_FLOATS = [
    -0.0, 0.0, 1e-300, -1e-300, 5e-324, 1e308, -1e308, 0.1, 1.0 / 3.0, 2.0**53, 123456789.0
]  # fmt: skip


def _batch(rng, k):
    x = rng.normal(0, 1e6, (k, 6))
    x.flat[: min(x.size, len(EDGE_FLOATS))] = EDGE_FLOATS[: x.size]
    A = rng.normal(size=(k, 6, 6))
    P = A @ np.swapaxes(A, -1, -2)
    P[:, 0, 1] = -0.0 if k else 0.0
    return dict(
        # The ends of RFC 8785's exact integer range (I-JSON: |n| <= 2**53 - 1).
        track_id=rng.choice([0, 1, 7, 2**53 - 1, -(2**53 - 1), 12345], size=k, replace=False),
        t_track=rng.uniform(-1e3, 1e3, k),
        x=x,
        P=P,
        quality=np.abs(rng.normal(size=k)),
        firm=rng.random(k) < 0.5,
    )


def _assert_same_envelope(a, b):
    assert (a.sender, a.seq, a.kind) == (b.sender, b.seq, b.kind)
    assert math.copysign(1.0, a.t_sent) == math.copysign(1.0, b.t_sent) and a.t_sent == b.t_sent
    for name in a.body.FIELDS:
        va, vb = getattr(a.body, name), getattr(b.body, name)
        if isinstance(va, np.ndarray):
            assert _bits_equal(va, vb), name
            assert not va.flags.writeable and not vb.flags.writeable
        else:
            assert type(va) is type(vb) and va == vb, name
    assert a.encode() == b.encode()


@pytest.mark.parametrize("k", [0, 1, 2, 5])
def test_known_payloads_decode_like_the_full_path(k):
    rng = np.random.default_rng(k)
    keys = generate_keys(["NATO", "DFC"], seed=1)
    nato, centre = Signer("NATO", keys["NATO"]), Signer("DFC", keys["DFC"])
    ring = KeyRing.from_private(keys)
    bodies = [
        (nato, TrackBatchReport(source="NATO", t=-0.0, **_batch(rng, k))),
        (
            centre,
            FusedPicture(t=1e-300, sources=tuple(("NATO", "Russia")[: i % 3] for i in range(k)),
                         **_batch(rng, k)),
        ),
    ]  # fmt: skip
    for signer, body in bodies:
        signed = signer.sign(body, 12.5)
        assert known_envelope(signed.payload) is signed.envelope  # remembered when signed
        via_cache = open_message(signed.wire, ring)
        forget_envelopes()
        forget_verified()
        full = envelope_from_json(parse_json(signed.payload), signed.payload)
        _assert_same_envelope(signed.envelope, full)
        _assert_same_envelope(via_cache.envelope, full)
        _assert_same_envelope(open_message(signed.wire, ring).envelope, full)
        _assert_same_envelope(decode_envelope(signed.payload), full)


def test_caches_never_accept_what_the_full_checks_refuse():
    keys = generate_keys(["NATO", "DFC"], seed=2)
    other = generate_keys(["NATO"], seed=3)
    ring = KeyRing.from_private(keys)
    signed = Signer("NATO", keys["NATO"]).sign(
        TrackBatchReport(source="NATO", t=1.0, **_batch(np.random.default_rng(0), 2)), 1.0
    )
    open_message(signed.wire, ring)  # now known and verified
    assert known_envelope(signed.payload) is not None
    # A different key for the same name: the signature is checked again, and fails.
    with pytest.raises(Rejected) as error:
        open_message(signed.wire, KeyRing.from_private({"NATO": other["NATO"]}))
    assert error.value.reason == BAD_SIGNATURE
    # Any changed byte of the signature or payload misses both caches and is refused.
    bad_sig = signed.payload + bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
    with pytest.raises(Rejected) as error:
        open_message(bad_sig, ring)
    assert error.value.reason == BAD_SIGNATURE
    text = signed.payload.replace(b'"t_sent":1,', b'"t_sent":2,')  # RFC 8785 writes 1.0 as 1
    assert text != signed.payload
    with pytest.raises(Rejected) as error:
        open_message(text + signed.signature, ring)
    assert error.value.reason == BAD_SIGNATURE
    # Every receiver still runs its own replay and time checks on the same (cached) bytes.
    first, second = Receiver("DFC", ring), Receiver("Russia", ring)
    assert first.receive(signed.wire, 2.0) is not None
    assert first.receive(signed.wire, 2.0) is None and first.rejections == {"replay": 1}
    assert second.receive(signed.wire, 500.0) is None and second.rejections == {"stale": 1}
    assert second.receive(signed.wire, 3.0) is not None


def test_known_payload_memory_is_bounded():
    forget_envelopes()
    keys = generate_keys(["NATO"], seed=4)
    signer = Signer("NATO", keys["NATO"])
    body = TrackBatchReport(source="NATO", t=0.0, **_batch(np.random.default_rng(1), 1))
    for i in range(messages.KNOWN_PAYLOADS_MAX + 10):
        signer.sign(body, float(i))
    assert len(messages._KNOWN) == messages.KNOWN_PAYLOADS_MAX
    assert len(signing._VERIFIED) <= signing.VERIFIED_MAX


# --- picture ----------------------------------------------------------------------------------


def test_batch_reports_carry_what_track_reports_carry():
    body = TrackBatchReport(source="NATO", t=5.0, **_batch(np.random.default_rng(2), 4))
    fast, slow = _batch_reports(body), body.reports()
    assert len(fast) == len(slow) == 4
    for f, s in zip(fast, slow, strict=True):
        assert (f.source, f.track_id, f.t, f.firm) == (s.source, s.track_id, s.t, s.firm)
        assert type(f.track_id) is int and type(f.t) is float and type(f.firm) is bool
        assert _bits_equal(f.x, s.x) and _bits_equal(f.P, s.P)


# --- tracking: per-scan fast paths ---------------------------------------------------------------


def _reference_inverse_3x3(S):
    """`inverse_3x3` as it was written before the gathered cofactors (nine slices, stacks)."""
    a, b, c = S[..., 0, 0], S[..., 0, 1], S[..., 0, 2]
    d, e, f = S[..., 1, 0], S[..., 1, 1], S[..., 1, 2]
    g, h, i = S[..., 2, 0], S[..., 2, 1], S[..., 2, 2]
    c00, c01, c02 = e * i - f * h, f * g - d * i, d * h - e * g
    det = a * c00 + b * c01 + c * c02
    adj = np.stack(
        [
            np.stack([c00, c * h - b * i, b * f - c * e], -1),
            np.stack([c01, a * i - c * g, c * d - a * f], -1),
            np.stack([c02, b * g - a * h, a * e - b * d], -1),
        ],
        -2,
    )
    return adj / det[..., None, None]


@pytest.mark.parametrize("shape", [(1,), (4,), (3, 5)])
def test_inverse_3x3_gathered_cofactors_equal_the_written_out_formula(shape):
    rng = np.random.default_rng(len(shape) * 10 + shape[-1])
    A = rng.normal(size=shape + (3, 3))
    S = A @ np.swapaxes(A, -1, -2) + np.eye(3)
    assert _bits_equal(inverse_3x3(S), _reference_inverse_3x3(S))


@pytest.mark.parametrize("dt", [0.0, 2.5, np.array([1.0, 7.25, 0.1]), np.array([[3.0], [-4.0]])])
@pytest.mark.parametrize("q", [0.0, 1.0, 2.7])
def test_process_noise_written_into_diagonals_equals_the_block_formula(dt, q):
    # The block formula of the module docstring, as `covar` computed it before.
    d = np.abs(np.asarray(dt, float))[..., None, None]
    eye = np.eye(3)
    top = np.concatenate([d**3 / 3.0 * eye, d**2 / 2.0 * eye], -1)
    bottom = np.concatenate([d**2 / 2.0 * eye, d * eye], -1)
    want = q * np.concatenate([top, bottom], -2)
    assert _bits_equal(BallisticTransition("full", q).covar(dt), want)


@pytest.mark.parametrize("model", ["full", "ideal"])
def test_radar_model_fast_paths_equal_earth_functions(model):
    """The ECEF rotation written into one array equals `earth.eci_to_ecef`; one scan time for
    all tracks gives what one time per track gives; the Jacobian still matches the function's
    finite differences (a loose check that the hand-filled ∂(ρ, az, el)/∂enu is the right one)."""
    rng = np.random.default_rng(11)
    mm = RadarMeasurementModel(0.61, -0.15, 420.0, model=model)
    x = np.concatenate([_positions(rng, (6,)), rng.normal(0, 3000, (6, 3))], -1)
    t = 1234.5
    assert _bits_equal(_eci_to_ecef(x[:, :3], np.full(6, t), model),
                       earth.eci_to_ecef(x[:, :3], np.full(6, t), model))  # fmt: skip
    z1, h1 = mm.function_and_jacobian(x, np.full(1, t))
    zk, hk = mm.function_and_jacobian(x, np.full(6, t))
    assert _bits_equal(z1, zk) and _bits_equal(h1, hk)
    ref = earth.ecef_to_aer(earth.eci_to_ecef(x[:, :3], t, model), 0.61, -0.15, 420.0, model)
    np.testing.assert_allclose(zk[:, 0], ref[2], rtol=1e-12)
    np.testing.assert_allclose(zk[:, 1:], np.column_stack(ref[:2]), atol=1e-12)
    step = 1.0
    for i in range(3):
        dx = np.zeros(6)
        dx[i] = step
        fd = (mm.function(x + dx, t) - mm.function(x - dx, t)) / (2 * step)
        fd[:, 1] = wrap_angle(fd[:, 1] * 2 * step) / (2 * step)
        np.testing.assert_allclose(hk[:, :, i], fd, rtol=1e-5, atol=1e-12)


def test_gate_terms_feed_the_same_update_as_the_plain_updater():
    """The tracker updates an assigned pair from the gate's ν, S and S⁻¹; `update` computes them
    itself. Both must give the same posterior, and the gate the same d² as
    `mahalanobis_squared`."""
    rng = np.random.default_rng(12)
    mm = RadarMeasurementModel(0.7, 0.3, 80.0, model="full")
    k, m = 4, 3
    # Targets a few hundred km above the site (ECEF = ECI at t = 0; t is small).
    r = mm.site_ecef * 1.05 + rng.normal(0, 2e5, (k, 3))
    x = np.concatenate([r, rng.normal(0, 3e3, (k, 3))], -1)
    A = rng.normal(size=(k, 6, 6))
    P = A @ np.swapaxes(A, -1, -2) * 1e3 + np.eye(6) * 1e4
    t = np.full(1, 600.0)
    z, R = _detections(rng, m)
    for updater in (ExtendedKalmanUpdater(), UnscentedKalmanUpdater()):
        mp = updater.predict_measurement(x, P, t, mm)
        d2, log_det, nu, s, s_inv = _gate_terms(mp, z, R)
        want_d2, want_log_det = gate(mp, z, R)
        assert _bits_equal(d2, want_d2) and _bits_equal(log_det, want_log_det)
        assert _bits_equal(d2, mahalanobis_squared(nu, s))
        rows, cols = np.array([0, 2, 3]), np.array([1, 0, 2])
        sub = MeasurementPrediction(
            mp.z[rows], mp.Pzz[rows], mp.Pxz[rows], None if mp.H is None else mp.H[rows]
        )
        got = updater.update_with_innovation(
            x[rows], P[rows], sub, R[cols], nu[rows, cols], s[rows, cols], s_inv[rows, cols]
        )
        want = updater.update(x[rows], P[rows], sub, z[cols], R[cols])
        assert _bits_equal(got[0], want[0]) and _bits_equal(got[1], want[1])


@pytest.mark.parametrize("model", ["full", "ideal"])
def test_impact_check_only_below_the_outer_sphere_equals_the_altitude_everywhere(model):
    rng = np.random.default_rng(13)
    u = rng.normal(size=(400, 3))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    r = u * rng.uniform(6.33e6, 6.42e6, (400, 1))  # from 40 km under to 40 km over the surface
    tracker = Tracker(model=model)
    want = earth.altitude(r, model) < -5000.0
    assert want.any() and not want.all()
    assert _bits_equal(tracker._impacted(r), want)
    assert _bits_equal(tracker._impacted(np.zeros((0, 3))), np.zeros(0, bool))


def test_initiation_skips_only_cues_that_could_not_win():
    """Several reports, some older and looser than others: the cued priors chosen with the
    consistency check skipped for reports whose prior cannot beat the best so far equal the
    choice over every report."""
    rng = np.random.default_rng(14)
    mm = RadarMeasurementModel(0.68, 0.62, 50.0, model="full")
    z, R = _detections(rng, 4)
    t = 500.0
    reports = [_Report(0.6, 0.8, 100.0 + 40.0 * i, 1.0 + 0.3 * i, 3.0) for i in range(5)]
    reports += [_Report(0.6, 0.8, 50.0, 1.0, 3.0)]  # older: a larger τ, cannot beat the others
    tracker = Tracker(model="full")
    for report in reports:
        tracker.cue(report)
    tracker._initiate(t, z, R, np.full(4, -1), mm, "radar")
    x, P = single_point_prior(z, R, t, mm, tracker.initial_velocity_sigma_m_s)
    best = np.full(4, np.inf)
    for report in reports:
        xc, pc, ok = cued_prior(report, z, R, t, mm, tracker.cue_velocity_sigma_m_s)
        score = np.trace(pc[:, 3:, 3:], axis1=-2, axis2=-1)
        better = ok & (score < best)
        x[better], P[better], best[better] = xc[better], pc[better], score[better]
    assert np.isfinite(best).any()
    assert _bits_equal(tracker._x, x) and _bits_equal(tracker._P, P)
    assert _bits_equal(tracker._cued, np.isfinite(best))


@pytest.mark.parametrize("kind", ["ekf", "ukf"])
def test_tracker_log_rows_equal_the_live_tracks_after_every_scan(kind):
    """The log is joined once at the end from the arrays of each scan; its rows of each scan
    must be what `step` returned as the live tracks then (the arrays are never changed in place
    once logged), and a whole run must start, confirm and end tracks."""
    from jointbmd.tracking import Scan
    from jointbmd.tracking.synthetic import (
        impulsive_launch_state,
        propagate_truth,
        radar_measurements,
    )

    rng = np.random.default_rng(15)
    site = (np.radians(38.0), np.radians(45.0), 100.0)
    x0 = impulsive_launch_state(np.radians([35.0, 35.2]), np.radians([50.0, 50.3]),
                                np.radians([315.0, 316.0]), 4500.0, np.radians(40.0),
                                np.array([0.0, 20.0]))  # fmt: skip
    times = np.arange(150.0, 700.0, 5.0)
    states = np.concatenate([propagate_truth(x0[i : i + 1], 20.0 * i, times) for i in range(2)])
    z, R, z_true = radar_measurements(states, times, *site, (50.0, 2e-3, 2e-3), rng)
    tracker = Tracker(model="full", filter=kind)
    batches = []
    for i, t in enumerate(times):
        seen = (z_true[:, i, 2] > 0) & (rng.random(2) < 0.9)
        scan = Scan("r1", *site, float(t), z[seen, i], np.repeat(R[None], seen.sum(), 0),
                    np.nonzero(seen)[0])  # fmt: skip
        batches.append((float(t), tracker.step(t, scan)))
    log = tracker.log()
    assert log.confirmed.any() and log.firm.any()
    start = 0
    for t, batch in batches:
        rows = slice(start, start + batch.n)  # kept tracks, then those born at this scan
        assert np.all(log.t[rows] == t)
        for name in ("track_id", "x", "P", "confirmed", "firm", "position_sigma_m"):
            assert _bits_equal(getattr(log, name)[rows], getattr(batch, name)), name
        start += batch.n
    assert start == log.t.size
    assert set(log.sensor.tolist()) == {"r1"}
