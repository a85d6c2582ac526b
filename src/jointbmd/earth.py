"""The Earth: shape, frames, rotation, gravity and atmosphere.

In: positions and angles as numpy arrays (SI: m, s, rad), any leading batch shape, vectors on the
last axis. Out: the same shapes, transformed. Every function broadcasts.

Two models run through the whole package (the ``model`` argument):

``"full"``
    WGS84 ellipsoid (a = 6 378 137 m, f = 1/298.257223563), rotation ω = 7.2921150e-5 rad/s,
    gravity μ = 3.986004418e14 m³/s² plus the J2 zonal term, US Standard Atmosphere 1976.
``"ideal"``
    A sphere of radius 6 371.0 km, the same μ, no rotation, no J2 (and, in the trajectory stage,
    no drag) -- the Earth of the textbook formulas, for validation.

Frames. ECEF rotates with the Earth. ECI is the inertial frame that coincides with ECEF at the
scenario epoch (t = 0) and in which ECEF turns about z by θ = ω t; so r_eci = R_z(θ) r_ecef and
v_eci = R_z(θ) (v_ecef + ω × r_ecef). (Precession, nutation and polar motion are ignored over the
minutes of a raid.) Local frames are ENU (east, north, up) and AER (azimuth from north,
clockwise; elevation above the local horizontal; slant range) at a geodetic point.

References: NIMA TR8350.2 (WGS84); Vallado, *Fundamentals of Astrodynamics and Applications*,
4th ed. (2013), §3.4 (geodetic conversion), §8.6 (J2 acceleration, exponential atmosphere
Table 8-4); U.S. Standard Atmosphere 1976 (NOAA-S/T 76-1562); Heikkinen (1982) / Zhu (1994) exact
ECEF-to-geodetic; Vincenty (1975) geodesics on the ellipsoid; Skolnik, *Introduction to Radar
Systems*, 3rd ed., §8.2 (4/3-Earth refraction).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from jointbmd.arrays import FloatArray

Model = Literal["full", "ideal"]

MU = 3.986004418e14  # m^3/s^2, WGS84 gravitational parameter
J2 = 1.08262668e-3  # WGS84 (EGM96 normalised C20 converted)
OMEGA = 7.2921150e-5  # rad/s, Earth rotation rate
WGS84_A = 6378137.0  # m, semi-major axis
WGS84_F = 1.0 / 298.257223563
WGS84_B = WGS84_A * (1.0 - WGS84_F)
WGS84_E2 = WGS84_F * (2.0 - WGS84_F)  # first eccentricity squared
R_IDEAL = 6371000.0  # m, sphere of the "ideal" model
G0 = 9.80665  # m/s^2, standard gravity (rocket Isp)

MODELS: tuple[str, ...] = ("full", "ideal")


def check_model(model: str) -> None:
    if model not in MODELS:
        raise ValueError(f"unknown Earth model {model!r}; expected one of {MODELS}")


# --------------------------------------------------------------------------------------------
# Geodetic <-> ECEF
# --------------------------------------------------------------------------------------------


def geodetic_to_ecef(
    lat: ArrayLike, lon: ArrayLike, alt: ArrayLike = 0.0, model: Model = "full"
) -> FloatArray:
    """ECEF position (..., 3) of geodetic latitude, longitude (rad) and height above the surface.

    On the ellipsoid: N = a / sqrt(1 - e² sin²φ); x = (N + h) cosφ cosλ, y = (N + h) cosφ sinλ,
    z = (N (1 - e²) + h) sinφ. On the ideal sphere the latitude is geocentric.
    """
    check_model(model)
    lat, lon, alt = np.broadcast_arrays(
        np.asarray(lat, float), np.asarray(lon, float), np.asarray(alt, float)
    )
    sin_lat, cos_lat = np.sin(lat), np.cos(lat)
    if model == "ideal":
        radius = R_IDEAL + alt
        xy = radius * cos_lat
        return np.stack([xy * np.cos(lon), xy * np.sin(lon), radius * sin_lat], axis=-1)
    n = WGS84_A / np.sqrt(1.0 - WGS84_E2 * sin_lat**2)
    xy = (n + alt) * cos_lat
    return np.stack(
        [xy * np.cos(lon), xy * np.sin(lon), (n * (1.0 - WGS84_E2) + alt) * sin_lat], -1
    )


def ecef_to_geodetic(
    r_ecef: ArrayLike, model: Model = "full"
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Geodetic latitude, longitude (rad) and height (m) of ECEF positions (..., 3).

    Uses the exact closed form of Heikkinen (1982) as given by Zhu (1994), valid everywhere
    except within tens of km of the Earth's centre.
    """
    check_model(model)
    r = np.asarray(r_ecef, float)
    x, y, z = r[..., 0], r[..., 1], r[..., 2]
    lon = np.arctan2(y, x)
    p = np.hypot(x, y)
    if model == "ideal":
        return np.arctan2(z, p), lon, np.sqrt(p**2 + z**2) - R_IDEAL
    a, b, e2 = WGS84_A, WGS84_B, WGS84_E2
    ep2 = (a**2 - b**2) / b**2
    f_ = 54.0 * b**2 * z**2
    g = p**2 + (1.0 - e2) * z**2 - e2 * (a**2 - b**2)
    c = e2**2 * f_ * p**2 / g**3
    s = np.cbrt(1.0 + c + np.sqrt(c**2 + 2.0 * c))
    k = s + 1.0 + 1.0 / s
    big_p = f_ / (3.0 * k**2 * g**2)
    q = np.sqrt(1.0 + 2.0 * e2**2 * big_p)
    r0 = -(big_p * e2 * p) / (1.0 + q) + np.sqrt(
        np.maximum(
            0.5 * a**2 * (1.0 + 1.0 / q)
            - big_p * (1.0 - e2) * z**2 / (q * (1.0 + q))
            - 0.5 * big_p * p**2,
            0.0,
        )
    )
    u = np.sqrt((p - e2 * r0) ** 2 + z**2)
    v = np.sqrt((p - e2 * r0) ** 2 + (1.0 - e2) * z**2)
    z0 = b**2 * z / (a * v)
    alt = u * (1.0 - b**2 / (a * v))
    lat = np.arctan2(z + ep2 * z0, p)
    return lat, lon, alt


def altitude(r_ecef: ArrayLike, model: Model = "full") -> FloatArray:
    """Height above the ellipsoid (full) or the sphere (ideal) of ECEF (or ECI) positions.

    The height does not depend on longitude, so ECI positions give the right answer too.
    """
    check_model(model)
    r = np.asarray(r_ecef, float)
    if model == "ideal":
        return np.linalg.norm(r, axis=-1) - R_IDEAL
    return ecef_to_geodetic(r, model)[2]


# --------------------------------------------------------------------------------------------
# ECEF <-> ECI
# --------------------------------------------------------------------------------------------


def rotation_angle(t: ArrayLike, model: Model = "full") -> FloatArray:
    """Angle θ = ω t (rad) by which ECEF has turned from ECI at time t; zero for ideal."""
    check_model(model)
    t = np.asarray(t, float)
    return OMEGA * t if model == "full" else np.zeros_like(t)


def _rotate_z(r: FloatArray, theta: FloatArray) -> FloatArray:
    c, s = np.cos(theta), np.sin(theta)
    x, y = r[..., 0], r[..., 1]
    return np.stack(np.broadcast_arrays(c * x - s * y, s * x + c * y, r[..., 2]), axis=-1)


def ecef_to_eci(r_ecef: ArrayLike, t: ArrayLike, model: Model = "full") -> FloatArray:
    """ECI position of an ECEF position at time t (s since the epoch): R_z(ω t) r_ecef."""
    return _rotate_z(np.asarray(r_ecef, float), rotation_angle(t, model))


def eci_to_ecef(r_eci: ArrayLike, t: ArrayLike, model: Model = "full") -> FloatArray:
    """ECEF position of an ECI position at time t: R_z(-ω t) r_eci."""
    return _rotate_z(np.asarray(r_eci, float), -rotation_angle(t, model))


def state_ecef_to_eci(x_ecef: ArrayLike, t: ArrayLike, model: Model = "full") -> FloatArray:
    """ECI state (..., 6) of an ECEF state: v_eci = R_z(θ) (v_ecef + ω × r_ecef)."""
    x = np.asarray(x_ecef, float)
    r, v = x[..., :3], x[..., 3:]
    omega = OMEGA if model == "full" else 0.0
    v_inertial = v + omega * np.stack([-r[..., 1], r[..., 0], np.zeros_like(r[..., 0])], -1)
    return np.concatenate([ecef_to_eci(r, t, model), ecef_to_eci(v_inertial, t, model)], -1)


def state_eci_to_ecef(x_eci: ArrayLike, t: ArrayLike, model: Model = "full") -> FloatArray:
    """ECEF state (..., 6) of an ECI state: v_ecef = R_z(-θ) v_eci - ω × r_ecef."""
    x = np.asarray(x_eci, float)
    r = eci_to_ecef(x[..., :3], t, model)
    v = eci_to_ecef(x[..., 3:], t, model)
    omega = OMEGA if model == "full" else 0.0
    v = v - omega * np.stack([-r[..., 1], r[..., 0], np.zeros_like(r[..., 0])], -1)
    return np.concatenate([r, v], -1)


# --------------------------------------------------------------------------------------------
# Local frames
# --------------------------------------------------------------------------------------------


def enu_matrix(lat: ArrayLike, lon: ArrayLike) -> FloatArray:
    """Rotation (..., 3, 3) from ECEF to ENU at (lat, lon): rows are the east, north, up axes."""
    lat, lon = np.broadcast_arrays(np.asarray(lat, float), np.asarray(lon, float))
    sl, cl = np.sin(lat), np.cos(lat)
    so, co = np.sin(lon), np.cos(lon)
    east = np.stack([-so, co, np.zeros_like(lat)], -1)
    north = np.stack([-sl * co, -sl * so, cl], -1)
    up = np.stack([cl * co, cl * so, sl], -1)
    return np.stack([east, north, up], axis=-2)


def ecef_to_enu(
    r_ecef: ArrayLike,
    lat0: ArrayLike,
    lon0: ArrayLike,
    alt0: ArrayLike = 0.0,
    model: Model = "full",
) -> FloatArray:
    """ENU coordinates (..., 3) of ECEF positions seen from the point (lat0, lon0, alt0)."""
    origin = geodetic_to_ecef(lat0, lon0, alt0, model)
    d = np.asarray(r_ecef, float) - origin
    return np.einsum("...ij,...j->...i", enu_matrix(lat0, lon0), d)


def enu_to_ecef(
    enu: ArrayLike, lat0: ArrayLike, lon0: ArrayLike, alt0: ArrayLike = 0.0, model: Model = "full"
) -> FloatArray:
    """ECEF positions of ENU coordinates at the geodetic point (lat0, lon0, alt0)."""
    origin = geodetic_to_ecef(lat0, lon0, alt0, model)
    return origin + np.einsum("...ji,...j->...i", enu_matrix(lat0, lon0), np.asarray(enu, float))


def enu_to_aer(enu: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Azimuth (from north, clockwise, in [0, 2π)), elevation and range of ENU vectors."""
    enu = np.asarray(enu, float)
    e, n, u = enu[..., 0], enu[..., 1], enu[..., 2]
    horizontal = np.hypot(e, n)
    return np.mod(np.arctan2(e, n), 2.0 * np.pi), np.arctan2(u, horizontal), np.hypot(horizontal, u)


def aer_to_enu(az: ArrayLike, el: ArrayLike, range_m: ArrayLike) -> FloatArray:
    """ENU vector (..., 3) of an azimuth, elevation and slant range."""
    az, el, rng = np.broadcast_arrays(
        np.asarray(az, float), np.asarray(el, float), np.asarray(range_m, float)
    )
    horizontal = rng * np.cos(el)
    return np.stack([horizontal * np.sin(az), horizontal * np.cos(az), rng * np.sin(el)], -1)


def ecef_to_aer(
    r_ecef: ArrayLike,
    lat0: ArrayLike,
    lon0: ArrayLike,
    alt0: ArrayLike = 0.0,
    model: Model = "full",
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Azimuth, elevation (rad) and slant range (m) of ECEF positions from a geodetic point."""
    return enu_to_aer(ecef_to_enu(r_ecef, lat0, lon0, alt0, model))


def aer_to_ecef(
    az: ArrayLike,
    el: ArrayLike,
    range_m: ArrayLike,
    lat0: ArrayLike,
    lon0: ArrayLike,
    alt0: ArrayLike = 0.0,
    model: Model = "full",
) -> FloatArray:
    """ECEF positions at azimuth, elevation and slant range from a geodetic point."""
    return enu_to_ecef(aer_to_enu(az, el, range_m), lat0, lon0, alt0, model)


# --------------------------------------------------------------------------------------------
# Gravity and atmosphere
# --------------------------------------------------------------------------------------------


def gravity(r: ArrayLike, model: Model = "full") -> FloatArray:
    """Gravitational acceleration (..., 3) at positions r (ECI or ECEF: the field is axisymmetric).

    Point mass plus J2 (Vallado eq. 8-30), for ``full``:

        a = -μ r / |r|³ ⊙ [1 + 3/2 J2 (a_e/|r|)² (1 - 5 z²/|r|²)] on x and y,
                          [1 + 3/2 J2 (a_e/|r|)² (3 - 5 z²/|r|²)] on z;

    point mass only for ``ideal``. (No centrifugal term: it belongs to the rotating frame.)
    """
    check_model(model)
    r = np.asarray(r, float)
    r2 = np.einsum("...i,...i->...", r, r)
    rn = np.sqrt(r2)
    factor = -MU / (r2 * rn)
    if model == "ideal":
        return factor[..., None] * r
    z2_r2 = r[..., 2] ** 2 / r2
    j = 1.5 * J2 * WGS84_A**2 / r2
    fxy = factor * (1.0 + j * (1.0 - 5.0 * z2_r2))
    fz = factor * (1.0 + j * (3.0 - 5.0 * z2_r2))
    return np.stack([fxy * r[..., 0], fxy * r[..., 1], fz * r[..., 2]], -1)


# U.S. Standard Atmosphere 1976 below 86 km geometric (84.852 km geopotential): base geopotential
# height (m), molecular-scale temperature (K), lapse rate (K/m) of each layer.
_USSA_H = np.array([0.0, 11000.0, 20000.0, 32000.0, 47000.0, 51000.0, 71000.0, 84852.0])
_USSA_T = np.array([288.15, 216.65, 216.65, 228.65, 270.65, 270.65, 214.65, 186.946])
_USSA_L = np.array([-6.5e-3, 0.0, 1.0e-3, 2.8e-3, 0.0, -2.8e-3, -2.0e-3, 0.0])
_USSA_R0 = 6356766.0  # m, Earth radius used for geopotential height
_USSA_GMR = G0 * 0.0289644 / 8.31432  # g0 M0 / R*, K/m


def _ussa_base_pressures() -> FloatArray:
    pressures = [101325.0]
    for i in range(len(_USSA_H) - 1):
        dh = _USSA_H[i + 1] - _USSA_H[i]
        tb, lapse, pb = _USSA_T[i], _USSA_L[i], pressures[-1]
        if lapse == 0.0:
            pressures.append(pb * np.exp(-_USSA_GMR * dh / tb))
        else:
            pressures.append(pb * (tb / (tb + lapse * dh)) ** (_USSA_GMR / lapse))
    return np.array(pressures)


_USSA_P = _ussa_base_pressures()

# Above 86 km: Vallado's exponential model (4th ed., Table 8-4), base altitude (m), base density
# (kg/m^3), scale height (m); scaled by a constant so that it meets the 1976 value at 86 km.
_EXP_H0 = 1000.0 * np.array(
    [80, 90, 100, 110, 120, 130, 140, 150, 180, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800,
     900, 1000]
)  # fmt: skip
_EXP_RHO = np.array(
    [1.905e-5, 3.396e-6, 5.297e-7, 9.661e-8, 2.438e-8, 8.484e-9, 3.845e-9, 2.070e-9, 5.464e-10,
     2.789e-10, 7.248e-11, 2.418e-11, 9.518e-12, 3.725e-12, 1.585e-12, 6.967e-13, 1.454e-13,
     3.614e-14, 1.170e-14, 5.245e-15, 3.019e-15]
)  # fmt: skip
_EXP_SCALE = 1000.0 * np.array(
    [5.799, 5.382, 5.877, 7.263, 9.473, 12.636, 16.149, 22.523, 29.740, 37.105, 45.546, 53.628,
     53.298, 58.515, 60.828, 63.822, 71.835, 88.667, 124.64, 181.05, 268.00]
)  # fmt: skip


def _ussa_density(alt_m: FloatArray) -> FloatArray:
    geopotential = _USSA_R0 * alt_m / (_USSA_R0 + alt_m)
    i = np.clip(np.searchsorted(_USSA_H, geopotential, side="right") - 1, 0, len(_USSA_H) - 1)
    dh = geopotential - _USSA_H[i]
    tb, lapse, pb = _USSA_T[i], _USSA_L[i], _USSA_P[i]
    temperature = tb + lapse * dh
    with np.errstate(divide="ignore", invalid="ignore"):
        isothermal = pb * np.exp(-_USSA_GMR * dh / tb)
        gradient = pb * (tb / temperature) ** (_USSA_GMR / np.where(lapse == 0.0, 1.0, lapse))
    pressure = np.where(lapse == 0.0, isothermal, gradient)
    # rho = P M0 / (R* T_M): with the molecular-scale temperature this holds to 86 km.
    return pressure * (_USSA_GMR / G0) / temperature


def _exponential_density(alt_m: FloatArray) -> FloatArray:
    i = np.clip(np.searchsorted(_EXP_H0, alt_m, side="right") - 1, 0, len(_EXP_H0) - 1)
    return _EXP_RHO[i] * np.exp(-(alt_m - _EXP_H0[i]) / _EXP_SCALE[i])


_EXP_MATCH = float(_ussa_density(np.array(86000.0)) / _exponential_density(np.array(86000.0)))


def atmosphere_density(alt_m: ArrayLike) -> FloatArray:
    """Air density (kg/m³) at geometric altitude (m).

    U.S. Standard Atmosphere 1976 from 0 to 86 km (7 layers of linear molecular-scale temperature
    in geopotential height, hydrostatic pressure); above, Vallado's piecewise exponential model
    matched to the 1976 value at 86 km; zero above 1 500 km. Below sea level the first layer is
    extended.
    """
    h = np.asarray(alt_m, float)
    low = _ussa_density(np.minimum(np.maximum(h, -5000.0), 86000.0))
    high = _EXP_MATCH * _exponential_density(np.maximum(h, 86000.0))
    rho = np.where(h <= 86000.0, low, high)
    return np.where(h > 1.5e6, 0.0, rho)


# --------------------------------------------------------------------------------------------
# Surface geometry
# --------------------------------------------------------------------------------------------


def _vincenty_inverse(lat1, lon1, lat2, lon2, iterations: int = 60):
    a, b, f = WGS84_A, WGS84_B, WGS84_F
    u1 = np.arctan((1.0 - f) * np.tan(lat1))
    u2 = np.arctan((1.0 - f) * np.tan(lat2))
    big_l = lon2 - lon1
    lam = big_l
    su1, cu1, su2, cu2 = np.sin(u1), np.cos(u1), np.sin(u2), np.cos(u2)
    for _ in range(iterations):
        sl, cl = np.sin(lam), np.cos(lam)
        sin_sigma = np.hypot(cu2 * sl, cu1 * su2 - su1 * cu2 * cl)
        cos_sigma = su1 * su2 + cu1 * cu2 * cl
        sigma = np.arctan2(sin_sigma, cos_sigma)
        with np.errstate(invalid="ignore", divide="ignore"):
            sin_alpha = np.where(sin_sigma == 0, 0.0, cu1 * cu2 * sl / sin_sigma)
            cos2_alpha = 1.0 - sin_alpha**2
            cos_2sm = np.where(cos2_alpha == 0, 0.0, cos_sigma - 2.0 * su1 * su2 / cos2_alpha)
        c = f / 16.0 * cos2_alpha * (4.0 + f * (4.0 - 3.0 * cos2_alpha))
        lam_new = big_l + (1.0 - c) * f * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1.0 + 2.0 * cos_2sm**2))
        )
        done = np.all(np.abs(lam_new - lam) < 1e-13)
        lam = lam_new
        if done:
            break
    u_sq = cos2_alpha * (a**2 - b**2) / b**2
    big_a = 1.0 + u_sq / 16384.0 * (4096.0 + u_sq * (-768.0 + u_sq * (320.0 - 175.0 * u_sq)))
    big_b = u_sq / 1024.0 * (256.0 + u_sq * (-128.0 + u_sq * (74.0 - 47.0 * u_sq)))
    d_sigma = (
        big_b
        * sin_sigma
        * (
            cos_2sm
            + big_b
            / 4.0
            * (
                cos_sigma * (-1.0 + 2.0 * cos_2sm**2)
                - big_b / 6.0 * cos_2sm * (-3.0 + 4.0 * sin_sigma**2) * (-3.0 + 4.0 * cos_2sm**2)
            )
        )
    )
    distance = b * big_a * (sigma - d_sigma)
    sl, cl = np.sin(lam), np.cos(lam)
    azimuth = np.arctan2(cu2 * sl, cu1 * su2 - su1 * cu2 * cl)
    return distance, np.mod(azimuth, 2.0 * np.pi)


def surface_distance(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike, model: Model = "full"
) -> FloatArray:
    """Shortest distance (m) along the surface: the WGS84 geodesic (Vincenty 1975) for ``full``,
    the great circle on the 6 371.0 km sphere for ``ideal``."""
    check_model(model)
    lat1, lon1, lat2, lon2 = (np.asarray(v, float) for v in (lat1, lon1, lat2, lon2))
    if model == "ideal":
        return R_IDEAL * central_angle(lat1, lon1, lat2, lon2)
    return _vincenty_inverse(lat1, lon1, lat2, lon2)[0]


def central_angle(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> FloatArray:
    """Angle (rad) between two directions given by (geocentric) latitude and longitude."""
    lat1, lon1, lat2, lon2 = (np.asarray(v, float) for v in (lat1, lon1, lat2, lon2))
    dlon = lon2 - lon1
    num = np.hypot(
        np.cos(lat2) * np.sin(dlon),
        np.cos(lat1) * np.sin(lat2) - np.sin(lat1) * np.cos(lat2) * np.cos(dlon),
    )
    den = np.sin(lat1) * np.sin(lat2) + np.cos(lat1) * np.cos(lat2) * np.cos(dlon)
    return np.arctan2(num, den)


def initial_bearing(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike, model: Model = "full"
) -> FloatArray:
    """Initial azimuth (rad from north, clockwise) of the shortest surface path from 1 to 2."""
    check_model(model)
    lat1, lon1, lat2, lon2 = (np.asarray(v, float) for v in (lat1, lon1, lat2, lon2))
    if model == "full":
        return _vincenty_inverse(lat1, lon1, lat2, lon2)[1]
    dlon = lon2 - lon1
    y = np.sin(dlon) * np.cos(lat2)
    x = np.cos(lat1) * np.sin(lat2) - np.sin(lat1) * np.cos(lat2) * np.cos(dlon)
    return np.mod(np.arctan2(y, x), 2.0 * np.pi)


def destination(
    lat: ArrayLike,
    lon: ArrayLike,
    bearing: ArrayLike,
    distance_m: ArrayLike,
    model: Model = "full",
) -> tuple[FloatArray, FloatArray]:
    """Latitude and longitude (rad) reached by going ``distance_m`` along the surface from (lat,
    lon) with initial azimuth ``bearing``: Vincenty's direct formula on WGS84 for ``full``, the
    great circle for ``ideal``."""
    check_model(model)
    lat, lon, bearing, s = np.broadcast_arrays(
        *(np.asarray(v, float) for v in (lat, lon, bearing, distance_m))
    )
    if model == "ideal":
        delta = s / R_IDEAL
        lat2 = np.arcsin(
            np.sin(lat) * np.cos(delta) + np.cos(lat) * np.sin(delta) * np.cos(bearing)
        )
        lon2 = lon + np.arctan2(
            np.sin(bearing) * np.sin(delta) * np.cos(lat),
            np.cos(delta) - np.sin(lat) * np.sin(lat2),
        )
        return lat2, _wrap_pi(lon2)
    a, b, f = WGS84_A, WGS84_B, WGS84_F
    u1 = np.arctan((1.0 - f) * np.tan(lat))
    su1, cu1 = np.sin(u1), np.cos(u1)
    sa1, ca1 = np.sin(bearing), np.cos(bearing)
    sigma1 = np.arctan2(np.tan(u1), ca1)
    sin_alpha = cu1 * sa1
    cos2_alpha = 1.0 - sin_alpha**2
    u_sq = cos2_alpha * (a**2 - b**2) / b**2
    big_a = 1.0 + u_sq / 16384.0 * (4096.0 + u_sq * (-768.0 + u_sq * (320.0 - 175.0 * u_sq)))
    big_b = u_sq / 1024.0 * (256.0 + u_sq * (-128.0 + u_sq * (74.0 - 47.0 * u_sq)))
    sigma = s / (b * big_a)
    for _ in range(20):
        cos_2sm = np.cos(2.0 * sigma1 + sigma)
        ss, cs = np.sin(sigma), np.cos(sigma)
        d_sigma = (
            big_b
            * ss
            * (
                cos_2sm
                + big_b
                / 4.0
                * (
                    cs * (-1.0 + 2.0 * cos_2sm**2)
                    - big_b / 6.0 * cos_2sm * (-3.0 + 4.0 * ss**2) * (-3.0 + 4.0 * cos_2sm**2)
                )
            )
        )
        sigma = s / (b * big_a) + d_sigma
    cos_2sm = np.cos(2.0 * sigma1 + sigma)
    ss, cs = np.sin(sigma), np.cos(sigma)
    tmp = su1 * ss - cu1 * cs * ca1
    lat2 = np.arctan2(su1 * cs + cu1 * ss * ca1, (1.0 - f) * np.hypot(sin_alpha, tmp))
    lam = np.arctan2(ss * sa1, cu1 * cs - su1 * ss * ca1)
    c = f / 16.0 * cos2_alpha * (4.0 + f * (4.0 - 3.0 * cos2_alpha))
    big_l = lam - (1.0 - c) * f * sin_alpha * (
        sigma + c * ss * (cos_2sm + c * cs * (-1.0 + 2.0 * cos_2sm**2))
    )
    return lat2, _wrap_pi(lon + big_l)


def _wrap_pi(angle: FloatArray) -> FloatArray:
    return np.mod(angle + np.pi, 2.0 * np.pi) - np.pi


# --------------------------------------------------------------------------------------------
# Line of sight
# --------------------------------------------------------------------------------------------


def line_of_sight_range(
    h1: ArrayLike, h2: ArrayLike, k: float = 1.0, radius: float = R_IDEAL
) -> FloatArray:
    """Line-of-sight distance (m) between heights h1 and h2 over a sphere, grazing the surface.

    d = sqrt((kR + h1)² - (kR)²) + sqrt((kR + h2)² - (kR)²): each term is the distance to the
    tangent point; k = 4/3 models standard refraction in the lower atmosphere (Skolnik §8.2).
    """
    kr = k * radius
    h1, h2 = np.asarray(h1, float), np.asarray(h2, float)
    return np.sqrt((kr + h1) ** 2 - kr**2) + np.sqrt((kr + h2) ** 2 - kr**2)


def is_visible(
    r_obs_ecef: ArrayLike, r_tgt_ecef: ArrayLike, k: float = 4.0 / 3.0, model: Model = "full"
) -> NDArray[np.bool_]:
    """Whether the straight line from observer to target clears the Earth.

    The effective-Earth-radius model: the Earth is replaced by a sphere of radius k R_loc (R_loc
    the local geocentric radius of the surface below the observer), heights above the surface are
    kept, and the geocentric angle between the two points is shrunk by 1/k so that surface
    distances are kept. The target is visible when the chord's closest approach to the centre of
    that sphere is above its surface (or the closest point lies outside the segment).
    """
    r_obs = np.asarray(r_obs_ecef, float)
    r_tgt = np.asarray(r_tgt_ecef, float)
    h_obs = altitude(r_obs, model)
    h_tgt = altitude(r_tgt, model)
    n_obs = np.linalg.norm(r_obs, axis=-1)
    n_tgt = np.linalg.norm(r_tgt, axis=-1)
    r_loc = n_obs - h_obs
    cos_theta = np.einsum("...i,...i->...", r_obs, r_tgt) / (n_obs * n_tgt)
    theta = np.arccos(np.clip(cos_theta, -1.0, 1.0)) / k
    big_r = k * r_loc
    a = big_r + h_obs
    b = big_r + h_tgt
    # Points at radii a and b separated by angle theta, in a plane: A = (a, 0), B = b(cos, sin).
    bx, by = b * np.cos(theta), b * np.sin(theta)
    dx, dy = bx - a, by
    seg2 = dx**2 + dy**2
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.clip(np.where(seg2 > 0, -(a * dx) / seg2, 0.0), 0.0, 1.0)
    px, py = a + s * dx, s * dy
    closest = np.hypot(px, py)
    return closest >= big_r - 1e-6
