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
from jointbmd.tracking import Tracker
from jointbmd.tracking.initiation import cued_prior, position_fix, single_point_prior
from jointbmd.tracking.models import (
    RadarMeasurementModel,
    _gravity_and_gradient,
    gravity_gradient,
    wrap_angle,
)


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
        track_id=rng.choice([0, 1, 7, 2**53, -(2**53), 12345], size=k, replace=False),
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
    text = signed.payload.replace(b'"t_sent":1.0', b'"t_sent":2.0')
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
