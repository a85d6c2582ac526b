"""Sensing: radars that measure threats, and space-based infrared that reports their launches.

In: truth as plain arrays -- ``times (T,)`` and ``r_ecef (n, T, 3)`` (NaN where an object is not
in flight) with a radar cross-section per object -- and, for infrared, each launch's time, point
and heading. Out: one :class:`Measurements` per radar (time-ordered range/azimuth/elevation with
their noise covariance, SNR and the truth id kept for scoring) and a list of
:class:`LaunchReport`.

Radar model (Skolnik, *Introduction to Radar Systems*, 3rd ed., ch. 2; Richards, *Fundamentals of
Radar Signal Processing*, 2nd ed., ch. 6)
--------------------------------------------------------------------------------------------
*Signal-to-noise ratio.* The radar equation makes the mean SNR proportional to σ / R⁴ for a given
radar, so it is scaled from one reference point (reference range R_ref against a reference
cross-section σ_ref gives SNR_ref)::

    SNR_dB(R, σ) = SNR_ref,dB + 10 log10(σ / σ_ref) + 40 log10(R_ref / R).

The range at which any fixed SNR (hence any fixed probability of detection) is reached therefore
scales as σ^(1/4): 100x smaller cross-section, 0.316x the range. Atmospheric and beam-shape losses
are not modelled.

*Probability of detection.* The target is a Swerling 1 fluctuator (Rayleigh amplitude, constant
within a look, independent from scan to scan -- the usual model of a complex body), seen with a
square-law detector on one look whose threshold gives the false-alarm probability P_fa. Averaging
the non-fluctuating (Marcum Q) result over the exponential distribution of σ gives the closed form
(Richards §6.3, eq. 6.99 with N = 1, after Meyer & Mayer 1973; Skolnik §2.8)::

    P_d = P_fa ** (1 / (1 + SNR))        (SNR linear, mean over the fluctuation)

so P_fa = 1e-6 needs 21.1 dB for P_d = 0.9 and 12.8 dB for P_d = 0.5. Optionally
(``detection_snr_db``) a look is only reported when the mean SNR also reaches that floor; the
scenario files quote a radar's public detection range as the reference range with
reference SNR equal to that floor, so the radar never reports beyond its quoted range.

*Measurement noise.* Range and angle errors are zero-mean Gaussian with standard deviations that
grow as 1/sqrt(SNR) (the Cramér-Rao bound of a time-delay or monopulse estimate: σ ∝ resolution /
sqrt(2 SNR); Richards §7.2, Skolnik §6.3)::

    σ_R = sqrt(σ_R,ref² · SNR_ref / SNR + σ_R,floor²)       (same law for the angles)

σ_R,ref and σ_θ,ref are the errors at SNR_ref; the optional floors stand for bias and calibration
limits that do not shrink at short range. Azimuth and elevation get the same σ_θ; the covariance
of z = (range, az, el) is diagonal.

*Visibility.* A target can be measured when all of these hold:

- it is in flight (finite position) and above the surface;
- slant range ≥ ``min_range`` (and ≤ ``max_range`` when one is set: an instrumented range);
- its azimuth lies within ``az_half_width`` of ``boresight_az`` (a half-width ≥ π is all round);
- its elevation lies within [``min_elevation``, ``max_elevation``], where the elevation compared
  is the *apparent* one: the geometric elevation over the ellipsoid raised by atmospheric
  refraction (below);
- the line of sight clears the Earth, with refraction.

*Search and cued acquisition.* A radar that is given a ``search_frame`` time searches its
whole volume once per frame and looks at an object there only at the frame rate, with the SNR of
a search dwell: the same energy spread over the many beam positions of the volume, so a search
look sits ``search_loss_db`` below a dedicated look (the search radar equation makes the SNR
proportional to P_av A t_frame / Ω, for a solid angle Ω searched in frame time t_frame:
Skolnik §2.13, Richards §2.8; the loss is 10 log10 of the ratio of a dedicated dwell to a search
dwell). Once it has an object -- its first search detection, or a cue -- it looks at it every
``revisit`` seconds with dedicated dwells. A *cue* is a launch report (own space-based infrared
or a partner's, relayed) or any other outside designation of the object: from the cue time on
the radar spends dedicated dwells on the small volume where the object is predicted, so it
acquires the object as soon as it is visible at the full SNR instead of waiting for a search
look at the search SNR. A cue is assumed to point at the right volume (report errors of a few
km against a beam of tens of km at these ranges); false and ambiguous cues are not modelled.
Without ``search_frame`` the radar looks at every object every ``revisit`` seconds at the
full SNR, cued or not (the model before search was added, kept for checks against textbook
formulas).

*Refraction and the horizon.* The classic effective-Earth-radius model (Skolnik §8.2, reference.md)
replaces the Earth of radius R by one of radius kR, k = 4/3, and draws rays straight. It describes
the lower atmosphere, where the refractivity gradient is about -40 N-units/km. Applied all the way
to a missile at 1 000 km it would bend rays by degrees and stretch the horizon by 14 %; the real
bending of a ray leaving the atmosphere at grazing incidence is only about 0.57° (astronomical
refraction at the horizon). So jointbmd uses a two-layer model: rays follow the k = 4/3 model below
``refraction_ceiling`` (default 3.85 km, chosen so that a ray grazing the surface is bent by
L / (4 R) = 34.5 arcmin over its path L through the layer -- the standard horizontal refraction)
and are straight above it. Angles to the local horizontal are kept across the boundary. The
horizon (largest central angle θ between a point at height h and a grazing ray) is then

    θ_h(h) = k arccos(kR / (kR + min(h, H))) + [h > H] (arccos(r_H cos α / (R + h)) - α),
    cos α = kR / (kR + H),  r_H = R + H,

and the target is above the horizon when θ ≤ θ_h(h_site) + θ_h(h_target) (a chord between two
points clears a sphere exactly when their central angle is at most the sum of their horizon
angles). With ``refraction_ceiling = inf`` this is the pure 4/3-Earth model and the tangent
lengths are reference.md's d = sqrt((kR+h1)² - (kR)²) + sqrt((kR+h2)² - (kR)²); with k = 1 it is the
geometric horizon.

These sphere formulas are applied on the sphere that osculates the ellipsoid at the site in the
target's azimuth (Euler: 1/R_α = cos²α / M + sin²α / N, M and N the meridian and prime-vertical
radii of curvature): the site's and target's geodetic heights and their true slant range fix the
triangle, hence θ. On the ideal model's sphere this is exact; on WGS84 the horizon it gives
differs from the exact ellipsoid chord by well under 1 %. The apparent elevation is the
ellipsoid's geometric elevation plus the refraction increment computed on that sphere (the ray
through the layer is traced in closed form and the launch elevation that reaches the target is
found by bisection). The increment matches the standard horizontal refraction at grazing
incidence and is about half the tabulated refraction at 5-10° elevation (a few hundredths of a
degree), which is small against the elevation limits it is compared with.

Space-based infrared
--------------------
A launch is reported ``latency`` seconds after lift-off (the time for the plume to clear the
clouds, be confirmed on several frames and be processed) when the boost lasts at least
``min_burn``; the report's launch point is off by a circular Gaussian error of σ per horizontal
axis, its launch time and heading by Gaussian errors. Errors are drawn from the Generator passed
in, so runs repeat exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from . import earth
from .arrays import BoolArray, FloatArray, IntArray
from .errors import UserError

#: Effective-Earth-radius factor of the standard atmosphere (Skolnik §8.2).
REFRACTION_K = 4.0 / 3.0
#: Top of the refracting layer (m): a grazing ray is bent by 34.5 arcmin in total (see above).
REFRACTION_CEILING_M = 3850.0

_TWO_PI = 2.0 * np.pi


# --------------------------------------------------------------------------------------------
# Pure functions: detection, noise, horizon and refraction geometry
# --------------------------------------------------------------------------------------------


def db_to_linear(x_db: ArrayLike) -> FloatArray:
    return 10.0 ** (np.asarray(x_db, float) / 10.0)


def swerling1_pd(snr_db: ArrayLike, pfa: float) -> FloatArray:
    """Single-look probability of detection of a Swerling 1 target: P_fa ** (1 / (1 + SNR))."""
    snr = db_to_linear(snr_db)
    return np.power(pfa, 1.0 / (1.0 + snr))


def swerling1_snr_db(pd: ArrayLike, pfa: float) -> FloatArray:
    """Mean SNR (dB) a Swerling 1 target needs for ``pd`` at ``pfa``: ln P_fa / ln P_d - 1."""
    pd = np.asarray(pd, float)
    return 10.0 * np.log10(np.log(pfa) / np.log(pd) - 1.0)


def horizon_angle(
    h: ArrayLike,
    radius: ArrayLike = earth.R_IDEAL,
    k: float = REFRACTION_K,
    ceiling: float = REFRACTION_CEILING_M,
) -> FloatArray:
    """Central angle (rad) from a point at height ``h`` to where a grazing ray touches the Earth.

    Two-layer refraction (module docstring): effective radius k R below ``ceiling``, straight
    rays above. ``k = 1`` gives the geometric horizon arccos(R / (R + h)).
    """
    h = np.maximum(np.asarray(h, float), 0.0)
    radius = np.asarray(radius, float)
    a = k * radius
    h_low = np.minimum(h, ceiling)
    theta = k * np.arccos(a / (a + h_low))
    if math.isinf(ceiling):
        return theta
    cos_alpha = a / (a + ceiling)
    alpha = np.arccos(cos_alpha)
    r_top = radius + ceiling
    above = np.arccos(np.minimum(r_top * cos_alpha / (radius + np.maximum(h, ceiling)), 1.0))
    return theta + np.where(h > ceiling, above - alpha, 0.0)


def _ray_angle(e, h1, h2, radius, k, ceiling):
    """Central angle travelled by a ray launched at elevation e from height h1 < ceiling until it
    reaches height h2 > ceiling (two-layer model). Decreases with e."""
    a = k * radius
    b = (a + h1) * np.cos(e)  # impact parameter in the effective-Earth picture
    cos_alpha = np.minimum(b / (a + ceiling), 1.0)
    alpha = np.arccos(cos_alpha)
    low = k * (alpha - e)  # arccos(b / (a + H)) - e, stretched back to true central angle
    r_top = radius + ceiling
    high = np.arccos(np.minimum(r_top * cos_alpha / (radius + h2), 1.0)) - alpha
    return low + high


def apparent_elevation(
    theta: ArrayLike,
    h1: ArrayLike,
    h2: ArrayLike,
    radius: ArrayLike = earth.R_IDEAL,
    k: float = REFRACTION_K,
    ceiling: float = REFRACTION_CEILING_M,
) -> FloatArray:
    """Elevation (rad) at which an observer at height h1 sees a point at height h2 and central
    angle θ on a sphere of ``radius``, with two-layer refraction (k = 1: geometric).

    Both points below the ceiling: straight rays over the sphere of radius k R, central angle
    θ / k. Site below, target above: the launch elevation whose ray reaches the target, by
    bisection. Site above the ceiling: rays rise without entering the layer, geometric.
    Points beyond the horizon get NaN.
    """
    theta, h1, h2, radius = np.broadcast_arrays(
        *(np.asarray(v, float) for v in (theta, h1, h2, radius))
    )

    def straight(kk: float) -> FloatArray:
        a = kk * radius
        th = theta / kk
        return np.arctan2((a + h2) * np.cos(th) - (a + h1), (a + h2) * np.sin(th))

    el = (
        straight(k)
        if (k == 1.0 or math.isinf(ceiling))
        else np.where((h1 <= ceiling) & (h2 <= ceiling), straight(k), straight(1.0))
    )
    if not (k == 1.0 or math.isinf(ceiling)):
        through = (h1 < ceiling) & (h2 > ceiling)
        if np.any(through):
            r_, t_, a_, b_ = radius[through], theta[through], h1[through], h2[through]
            a_eff = k * r_
            lo = -np.arccos(a_eff / (a_eff + np.maximum(a_, 0.0)))  # grazing launch
            hi = np.full_like(lo, np.pi / 2)
            for _ in range(32):  # bisection to ~1e-9 rad
                mid = 0.5 * (lo + hi)
                far = _ray_angle(mid, a_, b_, r_, k, ceiling) > t_
                lo = np.where(far, mid, lo)
                hi = np.where(far, hi, mid)
            el[through] = 0.5 * (lo + hi)
    beyond = theta > horizon_angle(h1, radius, k, ceiling) + horizon_angle(h2, radius, k, ceiling)
    return np.where(beyond, np.nan, el)


def radius_of_curvature(lat: ArrayLike, azimuth: ArrayLike, model: str = "full") -> FloatArray:
    """Radius (m) of the sphere osculating the Earth at ``lat`` in direction ``azimuth``.

    WGS84: Euler's formula 1/R_α = cos²α / M + sin²α / N with M = a(1-e²)/(1-e² sin²φ)^(3/2),
    N = a/(1-e² sin²φ)^(1/2). Ideal: the sphere's radius.
    """
    lat, azimuth = np.broadcast_arrays(np.asarray(lat, float), np.asarray(azimuth, float))
    if model == "ideal":
        return np.full(lat.shape, earth.R_IDEAL)
    w2 = 1.0 - earth.WGS84_E2 * np.sin(lat) ** 2
    m = earth.WGS84_A * (1.0 - earth.WGS84_E2) / w2**1.5
    n = earth.WGS84_A / np.sqrt(w2)
    return 1.0 / (np.cos(azimuth) ** 2 / m + np.sin(azimuth) ** 2 / n)


def _wrap(angle: FloatArray) -> FloatArray:
    """Angle wrapped to [-π, π)."""
    return np.mod(angle + np.pi, _TWO_PI) - np.pi


# --------------------------------------------------------------------------------------------
# Data handed to the next stage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Measurements:
    """One radar's time-ordered detections.

    ``z (M, 3)`` = (slant range m, azimuth rad from north clockwise in [0, 2π), elevation rad)
    from the site, geometric (the radar corrects its own refraction); ``cov (M, 3, 3)`` its noise
    covariance; ``snr_db (M,)`` the mean SNR of the look; ``truth_id (M,)`` the object measured
    (-1 for a false alarm) -- for scoring only, trackers must not use it. ``model`` is the Earth
    model of the site's geodetic coordinates.
    """

    sensor: str
    partner: str
    site_lat: float
    site_lon: float
    site_alt: float
    t: FloatArray
    z: FloatArray
    cov: FloatArray
    snr_db: FloatArray
    truth_id: IntArray
    model: str = "full"

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @property
    def site_ecef(self) -> FloatArray:
        return earth.geodetic_to_ecef(self.site_lat, self.site_lon, self.site_alt, self.model)

    def position_ecef(self) -> FloatArray:
        """ECEF positions (M, 3) of the measurements (noisy)."""
        return earth.aer_to_ecef(
            self.z[:, 1], self.z[:, 2], self.z[:, 0],
            self.site_lat, self.site_lon, self.site_alt, self.model,
        )  # fmt: skip


@dataclass(frozen=True)
class LaunchReport:
    """A space-based infrared report of one launch (angles in rad, times in s since the epoch)."""

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


class _Looks(NamedTuple):
    """Every look of one radar at ``n`` objects at ``S`` scan times: ``detected (n, S)``, the
    true ``aer (n, S, 3)`` (range, az, el), the mean ``snr_db (n, S)`` and the unit-variance
    noise ``(n, S, 3)`` drawn for each look."""

    t: FloatArray
    detected: BoolArray
    aer: FloatArray
    snr_db: FloatArray
    unit_noise: FloatArray

    def select(self, keep: BoolArray) -> tuple:
        """The kept looks as ``(t, aer, snr, unit_noise, truth_id)`` rows."""
        obj, scan = np.nonzero(keep)
        return (self.t[scan], self.aer[obj, scan], self.snr_db[obj, scan],
                self.unit_noise[obj, scan], obj.astype(np.int64))  # fmt: skip


# --------------------------------------------------------------------------------------------
# Radar
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Radar:
    """A ground (or ship) radar: parameters only; :meth:`observe` does the work.

    All values SI (rad, m, s); see the module docstring for the model. Build one from scenario
    numbers (degrees, km, mrad) with :meth:`from_spec`.
    """

    name: str
    partner: str
    lat: float
    lon: float
    alt: float
    reference_range: float
    range_noise: float
    angle_noise: float
    revisit: float
    reference_rcs: float = 1.0
    reference_snr_db: float = 13.0
    pfa: float = 1.0e-6
    detection_snr_db: float | None = None
    boresight_az: float = 0.0
    az_half_width: float = np.pi
    min_elevation: float = 0.0
    max_elevation: float = np.pi / 2
    min_range: float = 0.0
    max_range: float = np.inf
    range_noise_floor: float = 0.0
    angle_noise_floor: float = 0.0
    false_alarms_per_scan: float = 0.0
    refraction_k: float = REFRACTION_K
    refraction_ceiling: float = REFRACTION_CEILING_M
    search_frame: float | None = None
    search_loss_db: float = 0.0
    model: Literal["full", "ideal"] = "full"

    # ---- construction from scenario units -----------------------------------------------------

    @classmethod
    def from_spec(
        cls,
        name: str,
        partner: str,
        lat_deg: float,
        lon_deg: float,
        alt_m: float | None = 0.0,
        *,
        reference_range_km: float,
        revisit_s: float,
        range_noise_m: float,
        angle_noise_mrad: float,
        reference_rcs_m2: float = 1.0,
        reference_snr_db: float = 13.0,
        detection_snr_db: float | None = None,
        pfa: float = 1.0e-6,
        min_range_km: float = 0.0,
        max_range_km: float | None = None,
        boresight_az_deg: float = 0.0,
        az_half_width_deg: float = 180.0,
        min_elevation_deg: float = 0.0,
        max_elevation_deg: float = 90.0,
        range_noise_floor_m: float = 0.0,
        angle_noise_floor_mrad: float = 0.0,
        false_alarms_per_scan: float = 0.0,
        search_frame_s: float | None = None,
        search_loss_db: float = 0.0,
        model: Literal["full", "ideal"] = "full",
    ) -> Radar:
        """A radar from the numbers a scenario file holds (degrees, km, mrad, s). Fields of the
        scenario that describe the radar without entering the model (its band, the span of its
        reference cross-section) are not taken here."""
        checks = {
            "reference_range_km": reference_range_km > 0,
            "revisit_s": revisit_s > 0,
            "range_noise_m": range_noise_m > 0,
            "angle_noise_mrad": angle_noise_mrad > 0,
            "reference_rcs_m2": reference_rcs_m2 > 0,
            "pfa": 0 < pfa < 1,
            "min_range_km": 0 <= min_range_km < reference_range_km,
            "az_half_width_deg": 0 < az_half_width_deg <= 180,
            "max_elevation_deg": -90 <= min_elevation_deg < max_elevation_deg <= 90,
            "false_alarms_per_scan": false_alarms_per_scan >= 0,
            "search_frame_s": search_frame_s is None or search_frame_s > 0,
            "search_loss_db": search_loss_db >= 0,
        }
        for key, ok in checks.items():
            if not ok:
                raise UserError(f"radar {name!r}: invalid value", field=key)
        return cls(
            name=name,
            partner=partner,
            lat=math.radians(lat_deg),
            lon=math.radians(lon_deg),
            alt=float(alt_m or 0.0),
            reference_range=reference_range_km * 1e3,
            range_noise=float(range_noise_m),
            angle_noise=angle_noise_mrad * 1e-3,
            revisit=float(revisit_s),
            reference_rcs=float(reference_rcs_m2),
            reference_snr_db=float(reference_snr_db),
            pfa=float(pfa),
            detection_snr_db=None if detection_snr_db is None else float(detection_snr_db),
            boresight_az=math.radians(boresight_az_deg),
            az_half_width=math.radians(az_half_width_deg),
            min_elevation=math.radians(min_elevation_deg),
            max_elevation=math.radians(max_elevation_deg),
            min_range=min_range_km * 1e3,
            max_range=np.inf if max_range_km is None else max_range_km * 1e3,
            range_noise_floor=float(range_noise_floor_m),
            angle_noise_floor=angle_noise_floor_mrad * 1e-3,
            false_alarms_per_scan=float(false_alarms_per_scan),
            search_frame=None if search_frame_s is None else float(search_frame_s),
            search_loss_db=float(search_loss_db),
            model=model,
        )

    # ---- pure model functions -----------------------------------------------------------------

    @property
    def site_ecef(self) -> FloatArray:
        return earth.geodetic_to_ecef(self.lat, self.lon, self.alt, self.model)

    def snr_db(self, range_m: ArrayLike, rcs_m2: ArrayLike) -> FloatArray:
        """Mean SNR (dB) against cross-section ``rcs_m2`` at slant range ``range_m`` (R⁴ law)."""
        range_m, rcs_m2 = np.asarray(range_m, float), np.asarray(rcs_m2, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (
                self.reference_snr_db
                + 10.0 * np.log10(rcs_m2 / self.reference_rcs)
                + 40.0 * np.log10(self.reference_range / range_m)
            )

    def detection_probability(self, snr_db: ArrayLike) -> FloatArray:
        """Single-look P_d at mean SNR ``snr_db``: Swerling 1 at ``pfa``, zero below the floor."""
        snr_db = np.asarray(snr_db, float)
        pd = swerling1_pd(snr_db, self.pfa)
        if self.detection_snr_db is not None:
            pd = np.where(snr_db >= self.detection_snr_db, pd, 0.0)
        return np.where(np.isfinite(snr_db), pd, 0.0)

    def detection_range(self, rcs_m2: ArrayLike, snr_db: float | None = None) -> FloatArray:
        """Range (m) at which the mean SNR against ``rcs_m2`` equals ``snr_db`` (default: the
        detection floor, else the reference SNR): R_ref (σ/σ_ref)^(1/4) 10^((SNR_ref-SNR)/40)."""
        if snr_db is None:
            snr_db = (
                self.reference_snr_db if self.detection_snr_db is None else self.detection_snr_db
            )
        ratio = np.asarray(rcs_m2, float) / self.reference_rcs
        return self.reference_range * ratio**0.25 * 10.0 ** ((self.reference_snr_db - snr_db) / 40)

    def noise_sigma(self, snr_db: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """1-sigma range (m) and angle (rad) errors at mean SNR ``snr_db``."""
        scale = db_to_linear(self.reference_snr_db - np.asarray(snr_db, float))
        sigma_r = np.sqrt(self.range_noise**2 * scale + self.range_noise_floor**2)
        sigma_a = np.sqrt(self.angle_noise**2 * scale + self.angle_noise_floor**2)
        return sigma_r, sigma_a

    def aer(self, r_ecef: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Geometric azimuth, elevation (rad) and slant range (m) of ECEF positions (..., 3)."""
        return earth.ecef_to_aer(r_ecef, self.lat, self.lon, self.alt, self.model)

    def apparent_elevation(self, r_ecef: ArrayLike) -> FloatArray:
        """Elevation (rad) at which the target appears, refraction included; NaN below the
        horizon."""
        az, el, rng = self.aer(r_ecef)
        h2 = earth.altitude(r_ecef, self.model)
        return self._apparent(az, el, rng, h2)

    def _apparent(self, az, el, rng, h2):
        radius = radius_of_curvature(self.lat, az, self.model)
        r1, r2 = radius + self.alt, radius + h2
        with np.errstate(invalid="ignore"):
            s2 = np.clip((rng**2 - (r1 - r2) ** 2) / (4.0 * r1 * r2), 0.0, 1.0)
        theta = 2.0 * np.arcsin(np.sqrt(s2))
        refracted = apparent_elevation(
            theta, self.alt, h2, radius, self.refraction_k, self.refraction_ceiling
        )
        geometric = np.arctan2(r2 * np.cos(theta) - r1, r2 * np.sin(theta))
        return el + (refracted - geometric)

    def visible(self, r_ecef: ArrayLike) -> BoolArray:
        """Whether targets at ECEF positions (..., 3) are in the field of view and above the
        horizon (NaN positions are not visible)."""
        r_ecef = np.asarray(r_ecef, float)
        az, el, rng = self.aer(r_ecef)
        h2 = earth.altitude(r_ecef, self.model)
        return self._visible(az, el, rng, h2)

    def _visible(self, az, el, rng, h2):
        az, el, rng, h2 = (np.array(v, float) for v in np.broadcast_arrays(az, el, rng, h2))
        shape = az.shape
        az, el, rng, h2 = az.reshape(-1), el.reshape(-1), rng.reshape(-1), h2.reshape(-1)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(rng) & (h2 >= 0.0)
            ok &= (rng >= self.min_range) & (rng <= self.max_range)
            if self.az_half_width < np.pi:
                ok &= np.abs(_wrap(az - self.boresight_az)) <= self.az_half_width
            # Refraction raises elevation by well under a degree: only those near the limits or
            # inside them need the (costlier) apparent elevation and horizon test.
            ok &= (el >= self.min_elevation - np.radians(2.0)) & (el <= self.max_elevation)
            el_app = self._apparent(az[ok], el[ok], rng[ok], h2[ok])  # NaN beyond the horizon
            inside = (el_app >= self.min_elevation) & (el_app <= self.max_elevation)
        ok[ok] = inside
        return ok.reshape(shape)

    # ---- measuring ----------------------------------------------------------------------------

    def scan_times(
        self,
        t_start: float,
        t_end: float,
        rng: np.random.Generator,
        period: float | None = None,
    ) -> FloatArray:
        """Scan times every ``period`` seconds (default ``revisit``) from a random phase in
        [t_start, t_start + period)."""
        period = self.revisit if period is None else period
        t0 = t_start + rng.uniform(0.0, period)
        count = max(int(np.floor((t_end - t0) / period)) + 1, 0)
        return t0 + period * np.arange(count)

    def observe(
        self,
        times: ArrayLike,
        r_ecef: ArrayLike,
        rcs_m2: ArrayLike,
        rng: np.random.Generator,
        cue_time: ArrayLike | None = None,
    ) -> Measurements:
        """Measure objects whose truth is sampled at ``times (T,)`` as ``r_ecef (n, T, 3)``.

        Scans run every ``revisit`` s from a random phase; positions (and an ``(n, T)``
        cross-section) are interpolated to the scan times with cubic Lagrange polynomials on the
        truth grid (linear next to a gap or an end). ``rcs_m2`` is ``(n,)`` or ``(n, T)``.

        With a ``search_frame``, objects are first looked at by search frames (at the search
        SNR) and, from their acquisition on -- the first search detection, or ``cue_time (n,)``
        (s; inf or NaN: never cued) if earlier -- by dedicated looks every ``revisit`` s (see
        the module docstring). The random draws do not depend on the cues, so the same
        generator state with and without a cue gives paired samples.
        """
        times = np.asarray(times, float)
        r_ecef = np.asarray(r_ecef, float)
        if r_ecef.ndim != 3 or r_ecef.shape[1] != times.shape[0]:
            raise ValueError(f"r_ecef must be (n, {times.shape[0]}, 3), got {r_ecef.shape}")
        if times.shape[0] < 2:  # nothing to interpolate: one look at the given instant
            return self.measure(times, r_ecef, rcs_m2, rng)
        rcs = np.asarray(rcs_m2, float)

        def at(scans: FloatArray) -> tuple[FloatArray, FloatArray]:
            r_scan = interpolate_truth(times, r_ecef, scans)
            if rcs.ndim == 2:
                # Clipped: the cubic overshoots below zero next to a step (body to RV).
                sigma = interpolate_truth(times, rcs[..., None], scans)[..., 0]
                return r_scan, np.maximum(sigma, 0.0)
            return r_scan, rcs

        if self.search_frame is None:
            scans = self.scan_times(times[0], times[-1], rng)
            return self.measure(scans, *at(scans), rng)
        search = self.scan_times(times[0], times[-1], rng, self.search_frame)
        dedicated = self.scan_times(times[0], times[-1], rng)
        search_looks = self._looks(search, *at(search), rng, self.search_loss_db)
        dedicated_looks = self._looks(dedicated, *at(dedicated), rng, 0.0)
        fa = self._false_alarms(search, rng, self.search_loss_db)
        n = r_ecef.shape[0]
        cued = np.full(n, np.inf) if cue_time is None else np.asarray(cue_time, float)
        cued = np.where(np.isnan(cued), np.inf, cued)
        first_search = np.where(
            search_looks.detected.any(axis=1),
            search[np.argmax(search_looks.detected, axis=1)],
            np.inf,
        )
        acquired = np.fmin(first_search, cued)
        keep_search = search_looks.detected & (search[None, :] <= acquired[:, None])
        keep_dedicated = dedicated_looks.detected & (dedicated[None, :] > acquired[:, None])
        return self._assemble(
            [search_looks.select(keep_search), dedicated_looks.select(keep_dedicated)], fa
        )

    def measure(
        self,
        t: ArrayLike,
        r_ecef: ArrayLike,
        rcs_m2: ArrayLike,
        rng: np.random.Generator,
    ) -> Measurements:
        """Detect and measure objects at the given scan times ``t (S,)``: ``r_ecef (n, S, 3)``,
        ``rcs_m2`` scalar, ``(n,)`` or ``(n, S)``. One look per object per scan, at the full SNR
        of a dedicated look."""
        t = np.asarray(t, float)
        looks = self._looks(t, r_ecef, rcs_m2, rng, 0.0)
        fa = self._false_alarms(t, rng)
        return self._assemble([looks.select(looks.detected)], fa)

    def _looks(
        self,
        t: FloatArray,
        r_ecef: ArrayLike,
        rcs_m2: ArrayLike,
        rng: np.random.Generator,
        loss_db: float,
    ) -> _Looks:
        """One look per object per scan time at ``loss_db`` below the full SNR: which were
        detected, and the measured (range, az, el) of every look. Draws in a fixed order and
        shape, whatever is detected, so runs repeat exactly."""
        r_ecef = np.asarray(r_ecef, float)
        n, s = r_ecef.shape[:2]
        rcs = np.asarray(rcs_m2, float)
        rcs = np.broadcast_to(rcs[:, None] if rcs.ndim == 1 else rcs, (n, s))
        az, el, rng_m = self.aer(r_ecef)
        h2 = earth.altitude(r_ecef, self.model)
        snr = self.snr_db(rng_m, rcs) - loss_db
        pd = np.where(self._visible(az, el, rng_m, h2), self.detection_probability(snr), 0.0)
        detected = rng.uniform(size=(n, s)) < pd
        unit_noise = rng.standard_normal(size=(n, s, 3))
        return _Looks(np.asarray(t, float), detected, np.stack([rng_m, az, el], -1), snr,
                      unit_noise)  # fmt: skip

    def _assemble(self, parts: list[tuple], fa) -> Measurements:
        """Measurements from selected looks ``(t, truth, snr, unit_noise, truth_id)`` and the
        false alarms, time-ordered."""
        t_out = np.concatenate([p[0] for p in parts])
        truth = np.concatenate([p[1] for p in parts])
        snr_d = np.concatenate([p[2] for p in parts])
        unit = np.concatenate([p[3] for p in parts])
        truth_id = np.concatenate([p[4] for p in parts])
        sigma_r, sigma_a = self.noise_sigma(snr_d)
        sigma = np.stack([sigma_r, sigma_a, sigma_a], axis=-1)
        z = truth + sigma * unit
        if fa is not None:
            t_out = np.concatenate([t_out, fa[0]])
            z = np.concatenate([z, fa[1]])
            sigma = np.concatenate([sigma, fa[2]])
            snr_d = np.concatenate([snr_d, fa[3]])
            truth_id = np.concatenate([truth_id, np.full(fa[0].shape, -1, np.int64)])

        z[:, 1] = np.mod(z[:, 1], _TWO_PI)
        order = np.lexsort((truth_id, t_out))
        cov = np.zeros((len(order), 3, 3))
        idx = np.arange(3)
        cov[:, idx, idx] = sigma[order] ** 2
        return Measurements(
            sensor=self.name,
            partner=self.partner,
            site_lat=self.lat,
            site_lon=self.lon,
            site_alt=self.alt,
            t=t_out[order],
            z=z[order],
            cov=cov,
            snr_db=snr_d[order],
            truth_id=truth_id[order],
            model=self.model,
        )

    def _false_alarms(self, t: FloatArray, rng: np.random.Generator, loss_db: float = 0.0):
        """Poisson false alarms per scan, uniform in range, azimuth sector and elevation band,
        reported at the floor (or reference) SNR with the matching noise; the range reaches
        the detection range of the look (``loss_db`` below a dedicated look)."""
        if self.false_alarms_per_scan <= 0.0 or t.size == 0:
            return None
        counts = rng.poisson(self.false_alarms_per_scan, size=t.shape)
        m = int(counts.sum())
        reach = self.detection_range(self.reference_rcs) * 10.0 ** (-loss_db / 40)
        r_max = min(self.max_range, reach)
        rng_m = rng.uniform(self.min_range, r_max, m)
        half = min(self.az_half_width, np.pi)
        az = np.mod(self.boresight_az + rng.uniform(-half, half, m), _TWO_PI)
        el = rng.uniform(self.min_elevation, self.max_elevation, m)
        snr_fa = self.reference_snr_db if self.detection_snr_db is None else self.detection_snr_db
        snr = np.full(m, snr_fa)
        sigma_r, sigma_a = self.noise_sigma(snr)
        sigma = np.stack([sigma_r, sigma_a, sigma_a], axis=-1)
        return np.repeat(t, counts), np.stack([rng_m, az, el], axis=-1), sigma, snr


def interpolate_truth(times: FloatArray, values: FloatArray, t: FloatArray) -> FloatArray:
    """Values (n, T, d) known at ``times (T,)`` interpolated to ``t (S,)`` -> (n, S, d).

    Cubic Lagrange through the four nearest grid points (error ~ h⁴ x 4th derivative: sub-mm for
    ballistic motion on a 10 s grid); linear where one of those four is NaN or the grid has fewer
    than four points; NaN outside the grid or where a bracketing value is NaN.
    """
    times = np.asarray(times, float)
    values = np.asarray(values, float)
    t = np.asarray(t, float)
    n_t = times.shape[0]
    i = np.clip(np.searchsorted(times, t, side="right") - 1, 0, n_t - 2)
    t0, t1 = times[i], times[i + 1]
    w = ((t - t0) / (t1 - t0))[None, :, None]
    linear = values[:, i] * (1.0 - w) + values[:, i + 1] * w
    out = linear
    if n_t >= 4:
        j0 = np.clip(i - 1, 0, n_t - 4)
        nodes = j0[:, None] + np.arange(4)  # (S, 4)
        tn = times[nodes]
        weights = np.ones((t.shape[0], 4))
        for a in range(4):
            for b in range(4):
                if a != b:
                    weights[:, a] *= (t - tn[:, b]) / (tn[:, a] - tn[:, b])
        cubic = np.einsum("sk,nskd->nsd", weights, values[:, nodes])
        out = np.where(np.isfinite(cubic), cubic, linear)
    outside = (t < times[0]) | (t > times[-1])
    out[:, outside] = np.nan
    return out


# --------------------------------------------------------------------------------------------
# Space-based infrared
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpaceInfrared:
    """Space-based infrared launch detection (a constellation, not one satellite): parameters
    only. Times in s, angles in rad, distances in m."""

    name: str
    partner: str
    latency: float
    sigma_position: float
    sigma_heading: float
    sigma_time: float
    min_burn: float = 0.0
    model: Literal["full", "ideal"] = "full"

    @classmethod
    def from_spec(
        cls,
        name: str,
        partner: str,
        *,
        latency_s: float,
        launch_position_sigma_km: float,
        heading_sigma_deg: float,
        launch_time_sigma_s: float,
        min_burn_s: float = 0.0,
        model: Literal["full", "ideal"] = "full",
    ) -> SpaceInfrared:
        """From the scenario's infrared sensor type (km, degrees, s)."""
        for key, value in {
            "latency_s": latency_s,
            "launch_position_sigma_km": launch_position_sigma_km,
            "heading_sigma_deg": heading_sigma_deg,
            "launch_time_sigma_s": launch_time_sigma_s,
            "min_burn_s": min_burn_s,
        }.items():
            if not (value >= 0 and math.isfinite(value)):
                raise UserError(f"infrared sensor {name!r}: must be >= 0", field=key)
        return cls(
            name=name,
            partner=partner,
            latency=float(latency_s),
            sigma_position=launch_position_sigma_km * 1e3,
            sigma_heading=math.radians(heading_sigma_deg),
            sigma_time=float(launch_time_sigma_s),
            min_burn=float(min_burn_s),
            model=model,
        )

    def report(
        self,
        t_launch: ArrayLike,
        lat: ArrayLike,
        lon: ArrayLike,
        heading: ArrayLike,
        rng: np.random.Generator,
        burn_time: ArrayLike | None = None,
        truth_id: ArrayLike | None = None,
    ) -> list[LaunchReport]:
        """Launch reports, in the order they are sent, for launches at ``t_launch (n,)`` from
        (``lat``, ``lon``) (rad) with initial ``heading`` (rad from north). Launches whose boost
        (``burn_time``) is shorter than ``min_burn`` are not reported."""
        t_launch, lat, lon, heading = np.broadcast_arrays(
            *(np.atleast_1d(np.asarray(v, float)) for v in (t_launch, lat, lon, heading))
        )
        n = t_launch.shape[0]
        ids = np.arange(n) if truth_id is None else np.asarray(truth_id, int).reshape(n)
        seen = np.ones(n, bool)
        if burn_time is not None:
            seen = np.broadcast_to(np.asarray(burn_time, float), (n,)) >= self.min_burn
        # Draws for every launch in a fixed order, so runs repeat exactly.
        east_north = rng.standard_normal((n, 2)) * self.sigma_position
        dt = rng.standard_normal(n) * self.sigma_time
        dh = rng.standard_normal(n) * self.sigma_heading
        bearing = np.arctan2(east_north[:, 0], east_north[:, 1])
        distance = np.hypot(east_north[:, 0], east_north[:, 1])
        lat_r, lon_r = earth.destination(lat, lon, bearing, distance, self.model)
        t_report = t_launch + self.latency
        reports = [
            LaunchReport(
                sensor=self.name,
                partner=self.partner,
                t_report=float(t_report[k]),
                t_launch=float(t_launch[k] + dt[k]),
                lat=float(lat_r[k]),
                lon=float(lon_r[k]),
                heading=float(np.mod(heading[k] + dh[k], _TWO_PI)),
                sigma_position_m=self.sigma_position,
                sigma_heading_rad=self.sigma_heading,
                sigma_time_s=self.sigma_time,
                truth_id=int(ids[k]),
            )
            for k in range(n)
            if seen[k]
        ]
        reports.sort(key=lambda r: (r.t_report, r.truth_id))
        return reports
