"""Warnings about a valid scenario: things that are allowed but probably not meant.

In: a validated ``Scenario``. Out: a list of ``Advice`` (field path, reason), empty when nothing
looks wrong. ``jointbmd scenario check`` prints them as warnings and still exits 0: errors stay
errors (the loader raises them), these never stop a run.

- **Aimpoints no threat can reach.** A defended asset (or a raid's aimpoint) farther from every
  launch area than any threat type can fly, judged by an upper bound on the range: the ideal
  velocity gain of the missile (Tsiolkovsky, stage by stage, payload included) plus the Earth's
  equatorial rotation speed, flown on the optimum free-flight path over a sphere of the WGS84
  equatorial radius, with no loss to gravity or drag. With ``nu = v^2 r / mu`` the greatest
  range angle is ``psi = 2 asin(nu / (2 - nu))`` (Bate, Mueller & White, *Fundamentals of
  Astrodynamics*, 1971, §6.2; ``nu >= 1`` reaches anywhere). Real missiles fly much less far
  (gravity and drag losses take a third or more), so an aimpoint this flags is certainly out of
  reach while one it passes may still be; ``jointbmd footprint`` solves the trajectories.
- **A range that does not fit the threat type's class.** The usual range bands (US NASIC,
  *Ballistic and Cruise Missile Threat*; docs/reference.md): SRBM under 1,000 km, MRBM
  1,000-3,000 km, IRBM 3,000-5,500 km, ICBM over 5,500 km. The type's range is bracketed by the
  loss-free bound above (the most it could fly) and a low estimate: the ideal velocity gain less
  the greatest gravity loss ``g0 * (total burn time)`` (the loss of a vertical climb; a missile
  that pitches over loses less), without the Earth's rotation, on the same optimum path. A type
  whose bound is short of its band's lower edge cannot be of its class; one whose low estimate
  is past its band's upper edge flies farther than its class (drag, ignored in the estimate,
  takes typically a few hundred m/s more -- so a warning here is a strong hint, not a proof).
- **Invalid polygons.** A partner's ``territory`` or ``sector``, or a sectoral arrangement's
  polygon, that is not a simple polygon (self-intersecting, a spike, too few distinct vertices),
  checked by shapely's validity rules (OGC Simple Features): point-in-polygon tests on it give
  answers nobody intended.
- **Gaps between sectors.** Under a sectoral arrangement, a region enclosed by the partners'
  sectors but in none of them (a hole of their union): a threat crossing it is nobody's to
  engage.

Polygons are read as (lat, lon) vertices on a plane of degrees (longitude, latitude), as the
engagement code reads them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# Holes smaller than this are slivers of the drawing (two outlines that nearly meet), not gaps.
MIN_GAP_KM2 = 1000.0


@dataclass(frozen=True)
class Advice:
    """One warning: where (a field path) and why."""

    field: str
    reason: str

    def line(self) -> str:
        return f"{self.field}: {self.reason}"


def advise(scenario: Any) -> list[Advice]:
    """Every warning for ``scenario`` (module docstring), in a stable order."""
    return [*_unreachable(scenario), *_classes(scenario), *_polygons(scenario), *_gaps(scenario)]


# -- reach ---------------------------------------------------------------------------------------


def max_range_angle_rad(delta_v_mps: float) -> float:
    """Upper bound on the free-flight range angle of a missile of ideal velocity gain
    ``delta_v_mps`` (module docstring); pi when it could reach anywhere."""
    from jointbmd.earth import OMEGA, WGS84_A

    return _range_angle_rad(delta_v_mps + OMEGA * WGS84_A)


def _range_angle_rad(v_mps: float) -> float:
    """Range angle of the optimum free flight from burnout speed ``v_mps`` (module docstring)."""
    from jointbmd.earth import MU, WGS84_A

    nu = max(v_mps, 0.0) ** 2 * WGS84_A / MU
    if nu >= 1.0:
        return math.pi
    return 2.0 * math.asin(nu / (2.0 - nu))


def _angle_rad(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    from jointbmd.earth import central_angle

    return float(central_angle(*(math.radians(x) for x in (lat1, lon1, lat2, lon2))))


def _unreachable(scenario: Any) -> list[Advice]:
    from jointbmd.earth import WGS84_B
    from jointbmd.missiles import ThreatMissile

    if not scenario.threat_types or not scenario.launch_areas:
        return []
    reach = {t.name: max_range_angle_rad(ThreatMissile.from_threat_type(t).delta_v_mps)
             for t in scenario.threat_types}  # fmt: skip

    def gap(area: Any, lat: float, lon: float, threat: str) -> float:
        """How far (rad) beyond the type's bound the point lies from the area's nearest edge."""
        inside = area.radius_km * 1000.0 / WGS84_B
        return _angle_rad(area.lat_deg, area.lon_deg, lat, lon) - inside - reach[threat]

    out = []
    for asset in scenario.defended_assets:
        beyond = [gap(a, asset.lat_deg, asset.lon_deg, t) for a in scenario.launch_areas
                  for t in reach]  # fmt: skip
        if min(beyond) > 0.0:
            out.append(
                Advice(
                    f"defended_assets[{asset.name}]",
                    "no threat type of the scenario can reach it from any launch area (even "
                    "without gravity and drag losses)",
                )
            )
    for raid in scenario.raids:
        area = next((a for a in scenario.launch_areas if a.name == raid.launch_area), None)
        target = next((d for d in scenario.defended_assets if d.name == raid.aimpoint), None)
        if area is None or target is None or raid.threat_type not in reach:
            continue
        beyond = gap(area, target.lat_deg, target.lon_deg, raid.threat_type)
        if beyond > 0.0:
            out.append(
                Advice(
                    f"raids[{raid.name}]",
                    f"{raid.threat_type} cannot reach {raid.aimpoint} from {raid.launch_area}: "
                    f"about {beyond * WGS84_B / 1000.0:.0f} km beyond even its loss-free range",
                )
            )
    return out


# Range bands of the ballistic missile classes, km (US NASIC, Ballistic and Cruise Missile Threat,
# 2017 and 2020 editions; docs/reference.md): (lower edge, upper edge).
CLASS_RANGE_KM = {
    "SRBM": (0.0, 1000.0),
    "MRBM": (1000.0, 3000.0),
    "IRBM": (3000.0, 5500.0),
    "ICBM": (5500.0, math.inf),
}


def range_bracket_km(threat_type: Any) -> tuple[float, float]:
    """(low estimate, loss-free bound) of a threat type's ground range over a sphere of the WGS84
    equatorial radius, km (module docstring)."""
    from jointbmd.earth import G0, WGS84_A
    from jointbmd.missiles import ThreatMissile

    delta_v = ThreatMissile.from_threat_type(threat_type).delta_v_mps
    burn_s = sum(stage.burn_time_s for stage in threat_type.stages)
    low = _range_angle_rad(delta_v - G0 * burn_s) * WGS84_A / 1000.0
    return low, max_range_angle_rad(delta_v) * WGS84_A / 1000.0


def _classes(scenario: Any) -> list[Advice]:
    out = []
    for t in scenario.threat_types:
        floor, ceiling = CLASS_RANGE_KM[t.class_]
        low, high = range_bracket_km(t)
        if high < floor:
            reason = (
                f"an {t.class_} flies at least {floor:,.0f} km, but this type reaches at "
                f"most about {high:,.0f} km even without gravity and drag losses"
            )
        elif low > ceiling:
            reason = (
                f"an {t.class_} flies at most {ceiling:,.0f} km, but this type reaches "
                f"about {low:,.0f} km even after the greatest gravity loss"
            )
        else:
            continue
        out.append(Advice(f"threat_types[{t.name}].class", reason))
    return out


# -- polygons ------------------------------------------------------------------------------------


def _shape(vertices: Any):
    from shapely.geometry import Polygon

    return Polygon([(float(lon), float(lat)) for lat, lon in vertices])


def _polygon_fields(scenario: Any) -> list[tuple[str, Any]]:
    fields = []
    for p in scenario.partners:
        for name in ("territory", "sector"):
            vertices = getattr(p, name, None)
            if vertices:
                fields.append((f"partners[{p.name}].{name}", vertices))
    for a in scenario.arrangements:
        sectors = getattr(a, "sectors", None)
        if isinstance(sectors, dict):
            for partner, vertices in sectors.items():
                fields.append((f"arrangements[{a.name}].sectors[{partner}]", vertices))
    return fields


def _polygons(scenario: Any) -> list[Advice]:
    # shapely (and numpy under it) is imported by the first polygon, not by a scenario with none.
    out = []
    for field, vertices in _polygon_fields(scenario):
        shape = _shape(vertices)
        if not shape.is_valid:
            from shapely.validation import explain_validity

            # explain_validity: "Self-intersection[x y]" with x = lon, y = lat.
            why = explain_validity(shape)
            kind, _, where = why.partition("[")
            reason = f"not a simple polygon: {kind.strip().lower()}"
            if where:
                lon, lat = (float(v) for v in where.rstrip("]").split()[:2])
                reason += f" near lat {lat:.2f}, lon {lon:.2f}"
            out.append(Advice(field, reason + " (point-in-polygon tests on it are unreliable)"))
    return out


def _gaps(scenario: Any) -> list[Advice]:
    out = []
    for a in scenario.arrangements:
        if getattr(a, "kind", None) != "sectoral":
            continue
        shapes = []
        for p in scenario.partners:
            vertices = scenario.sector_polygon(a, p.name)
            if vertices:
                shape = _shape(vertices)
                shapes.append(shape if shape.is_valid else shape.buffer(0))
        if len(shapes) < 2:
            continue
        from shapely.geometry import Polygon
        from shapely.ops import unary_union

        union = unary_union(shapes)
        parts = getattr(union, "geoms", [union])
        for part in parts:
            for ring in getattr(part, "interiors", []):
                hole = Polygon(ring)
                area = _area_km2(hole)
                if area < MIN_GAP_KM2:
                    continue
                c = hole.representative_point()
                out.append(
                    Advice(
                        f"arrangements[{a.name}].sectors",
                        f"a gap of about {area:,.0f} km² enclosed by the sectors but in none, "
                        f"around lat {c.y:.1f}, lon {c.x:.1f}: threats crossing it are nobody's "
                        "to engage",
                    )
                )
    return out


def _area_km2(shape: Any) -> float:
    """Area of a (lon, lat) degree polygon on a sphere of the WGS84 equatorial radius, by the
    cylindrical equal-area projection (x = lon, y = sin lat): exact for the projected outline."""
    import numpy as np
    import shapely

    from jointbmd.earth import WGS84_A

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([np.radians(xy[:, 0]), np.sin(np.radians(xy[:, 1]))])

    return float(shapely.transform(shape, project).area) * WGS84_A**2 / 1e6
