"""Track initiation: priors from one detection, from two detections, or cued by a launch report.

In: radar measurements z = (range_m, az, el) with noise R, their time, the radar's
:class:`~jointbmd.tracking.models.RadarMeasurementModel`; for cueing, a launch report (launch
point, launch time, heading and their errors). Out: prior means ``x (m, 6)`` and covariances
``P (m, 6, 6)`` in ECI at the detection time.

Single point
    r = h⁻¹(z), P_rr = J R Jᵀ with J = ∂h⁻¹/∂z; the velocity is unknown: mean 0 in ECI and a
    large isotropic σ_v (default 4 km/s per axis, enough for any ballistic missile).
Two points
    Two detections of the same object at t₁ < t₂: r₂ as above, v = (r₂ - r₁)/Δt + ½ g(r₂) Δt
    (constant-gravity correction), P_vv = (P₁ + P₂)/Δt², P_rv = P₂/Δt.
Cued by a launch report
    A ballistic object launched from r_L at t_L and seen at r at t has, under slowly varying
    gravity, v(t) = (r - r_L)/τ + (τ/2) ḡ with τ = t - t_L and ḡ = g(r)/3 + 2 g(r_L)/3 (the
    time-weighted mean of a gravity that varies linearly along the arc). The boost phase makes
    this an approximation; the covariance adds an isotropic modelling σ_v (default 1 km/s) to
    the launch point and launch time errors mapped through 1/τ. The cue applies only when the
    bearing from the launch point to the object's ground point agrees with the reported heading
    (within 3 σ_heading + 0.1 rad; any bearing
    within 50 km of the launch point) and the implied mean ground speed is below 8 km/s.

References: Bar-Shalom, Li and Kirubarajan (2001) §3.7 (two-point differencing);
Blackman and Popoli, *Design and Analysis of Modern Tracking Systems* (1999) §6.3 (one-point
initiation with a diffuse velocity prior).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from jointbmd.arrays import FloatArray

from .. import earth
from .models import RadarMeasurementModel, wrap_angle

__all__ = [
    "cued_prior",
    "position_fix",
    "single_point_prior",
    "two_point_from_positions",
    "two_point_prior",
]


def position_fix(
    z: ArrayLike, R: ArrayLike, t: ArrayLike, mm: RadarMeasurementModel
) -> tuple[FloatArray, FloatArray]:
    """ECI positions (m, 3) and their covariances (m, 3, 3) of detections z (m, 3), noise R."""
    z, R, t = np.asarray(z, float), np.asarray(R, float), np.asarray(t, float)
    r = mm.inverse_function(z, t)
    j = mm.inverse_jacobian(z, t)
    return r, j @ R @ np.swapaxes(j, -1, -2)


def single_point_prior(
    z: ArrayLike,
    R: ArrayLike,
    t: ArrayLike,
    measurement_model: RadarMeasurementModel,
    velocity_sigma_m_s: float = 4000.0,
) -> tuple[FloatArray, FloatArray]:
    """Priors (m, 6), (m, 6, 6) from single detections z (m, 3) with noise R (m, 3, 3) at t."""
    z = np.atleast_2d(np.asarray(z, float))
    R = np.broadcast_to(np.asarray(R, float), z.shape[:-1] + (3, 3))
    t = np.broadcast_to(np.asarray(t, float), z.shape[:-1])
    r, p_rr = position_fix(z, R, t, measurement_model)
    return _single_point_from_fix(r, p_rr, velocity_sigma_m_s)


def _single_point_from_fix(
    r: FloatArray, p_rr: FloatArray, velocity_sigma_m_s: float
) -> tuple[FloatArray, FloatArray]:
    x = np.concatenate([r, np.zeros_like(r)], -1)
    P = np.zeros(r.shape[:-1] + (6, 6))
    P[..., :3, :3] = p_rr
    P[..., 3:, 3:] = velocity_sigma_m_s**2 * np.eye(3)
    return x, P


def two_point_prior(
    z1: ArrayLike,
    R1: ArrayLike,
    t1: ArrayLike,
    z2: ArrayLike,
    R2: ArrayLike,
    t2: ArrayLike,
    measurement_model: RadarMeasurementModel,
) -> tuple[FloatArray, FloatArray]:
    """Priors at t2 (m, 6), (m, 6, 6) from pairs of detections of the same objects."""
    z1, z2 = np.atleast_2d(np.asarray(z1, float)), np.atleast_2d(np.asarray(z2, float))
    shape = z2.shape[:-1]
    t1 = np.broadcast_to(np.asarray(t1, float), shape)
    t2 = np.broadcast_to(np.asarray(t2, float), shape)
    r1, p1 = position_fix(z1, np.broadcast_to(R1, shape + (3, 3)), t1, measurement_model)
    r2, p2 = position_fix(z2, np.broadcast_to(R2, shape + (3, 3)), t2, measurement_model)
    return two_point_from_positions(r1, p1, t1, r2, p2, t2, measurement_model.model)


def two_point_from_positions(
    r1: ArrayLike,
    p1: ArrayLike,
    t1: ArrayLike,
    r2: ArrayLike,
    p2: ArrayLike,
    t2: ArrayLike,
    model: earth.Model = "full",
) -> tuple[FloatArray, FloatArray]:
    """Two-point priors at t2 from independent ECI position fixes r (m, 3) with covariances
    p (m, 3, 3) at times t1 < t2 (see the module docstring)."""
    r1, r2 = np.asarray(r1, float), np.asarray(r2, float)
    p1, p2 = np.asarray(p1, float), np.asarray(p2, float)
    dt = (np.asarray(t2, float) - np.asarray(t1, float))[..., None]
    v = (r2 - r1) / dt + 0.5 * earth.gravity(r2, model) * dt
    P = np.zeros(r2.shape[:-1] + (6, 6))
    P[..., :3, :3] = p2
    P[..., :3, 3:] = p2 / dt[..., None]
    P[..., 3:, :3] = p2 / dt[..., None]
    P[..., 3:, 3:] = (p1 + p2) / dt[..., None] ** 2
    return np.concatenate([r2, v], -1), P


#: Largest mean ground speed (m/s) from the launch point of a detection that a cue applies to.
MAX_CUE_GROUND_SPEED_M_S = 8000.0


def cued_prior(
    report: object,
    z: ArrayLike,
    R: ArrayLike,
    t: float,
    measurement_model: RadarMeasurementModel,
    velocity_sigma_m_s: float = 1000.0,
    max_ground_speed_m_s: float = MAX_CUE_GROUND_SPEED_M_S,
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """Priors cued by a launch report for detections z (m, 3) at time t.

    ``report`` is any object with ``lat``, ``lon`` (rad), ``t_launch`` (s), ``heading`` (rad from
    north), ``sigma_position_m``, ``sigma_heading_rad`` and ``sigma_time_s`` (the sensors stage's
    ``LaunchReport``). Returns ``(x (m, 6), P (m, 6, 6), consistent (m,))``; where
    ``consistent`` is False the detection does not fit the report and x, P are meaningless.
    """
    model = measurement_model.model
    z = np.atleast_2d(np.asarray(z, float))
    R = np.broadcast_to(np.asarray(R, float), z.shape[:-1] + (3, 3))
    t_arr = np.broadcast_to(np.asarray(t, float), z.shape[:-1])
    r, p_rr = position_fix(z, R, t_arr, measurement_model)
    tau = float(t) - float(report.t_launch)
    m = z.shape[0]
    if tau <= 0.0:
        return np.zeros((m, 6)), np.tile(np.eye(6), (m, 1, 1)), np.zeros(m, bool)
    lat, lon, _ = earth.ecef_to_geodetic(earth.eci_to_ecef(r, t_arr, model), model)
    return _cued_from_fix(
        report,
        launch_point(report, model),
        r,
        p_rr,
        lat,
        lon,
        tau,
        model,
        velocity_sigma_m_s,
        max_ground_speed_m_s,
    )


def launch_point(report: object, model: earth.Model) -> tuple[FloatArray, FloatArray]:
    """A launch report's launch point in ECI and the gravity there (what `cued_prior` needs of
    the report alone, so a tracker can compute it once per report)."""
    r_launch_ecef = earth.geodetic_to_ecef(report.lat, report.lon, 0.0, model)
    r_launch = earth.ecef_to_eci(r_launch_ecef, float(report.t_launch), model)
    return r_launch, earth.gravity(r_launch, model)


def _cued_from_fix(
    report: object,
    launch: tuple[FloatArray, FloatArray],
    r: FloatArray,
    p_rr: FloatArray,
    lat: FloatArray,
    lon: FloatArray,
    tau: float,
    model: earth.Model,
    velocity_sigma_m_s: float,
    max_ground_speed_m_s: float,
) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """`cued_prior` from the detections' ECI position fixes r (m, 3), p_rr (m, 3, 3) and their
    geodetic latitude and longitude, τ = t - t_launch > 0 (the same operations, so a tracker
    can share the fixes between the single-point prior and every report)."""
    x, P = _cued_prior_from_fix(report, launch, r, p_rr, tau, model, velocity_sigma_m_s)
    return x, P, _cue_fits(report, lat, lon, tau, model, max_ground_speed_m_s)


def _cued_prior_from_fix(
    report: object,
    launch: tuple[FloatArray, FloatArray],
    r: FloatArray,
    p_rr: FloatArray,
    tau: float,
    model: earth.Model,
    velocity_sigma_m_s: float,
) -> tuple[FloatArray, FloatArray]:
    """The cued priors ``x (m, 6)``, ``P (m, 6, 6)`` of `_cued_from_fix`, without the check
    whether the detections fit the report (a tracker skips that check when the prior could not
    be chosen anyway)."""
    r_launch, g_launch = launch
    m = r.shape[0]
    g_mean = earth.gravity(r, model) / 3.0 + 2.0 * g_launch / 3.0
    v = (r - r_launch) / tau + 0.5 * tau * g_mean
    speed = np.linalg.norm(v, axis=-1)
    var_v = (
        velocity_sigma_m_s**2
        + (float(report.sigma_position_m) / tau) ** 2
        + (speed * float(report.sigma_time_s) / tau) ** 2
    )
    P = np.zeros((m, 6, 6))
    P[:, :3, :3] = p_rr
    P[:, :3, 3:] = p_rr / tau  # the velocity mean moves with the measured position
    P[:, 3:, :3] = p_rr / tau
    P[:, 3:, 3:] = p_rr / tau**2 + var_v[:, None, None] * np.eye(3)
    return np.concatenate([r, v], -1), P


def _cue_fits(
    report: object,
    lat: FloatArray,
    lon: FloatArray,
    tau: float,
    model: earth.Model,
    max_ground_speed_m_s: float,
) -> NDArray[np.bool_]:
    """Whether detections with ground points (lat, lon) fit a launch report τ s after its
    launch: the bearing from the launch point agrees with the reported heading (or the point
    is within 50 km of it) and the mean ground speed is below ``max_ground_speed_m_s``."""
    if model == "full":
        # One geodesic solution gives both (what `surface_distance` and `initial_bearing` return).
        distance, bearing = earth._vincenty_inverse(
            *(np.asarray(a, float) for a in (report.lat, report.lon, lat, lon))
        )
    else:
        bearing = earth.initial_bearing(report.lat, report.lon, lat, lon, model)
        distance = earth.surface_distance(report.lat, report.lon, lat, lon, model)
    heading_gate = 3.0 * float(report.sigma_heading_rad) + 0.1
    # Close to the launch point the bearing means nothing; accept it there.
    on_heading = (np.abs(wrap_angle(bearing - float(report.heading))) <= heading_gate) | (
        distance < 50e3
    )
    return on_heading & (distance / tau <= max_ground_speed_m_s)
