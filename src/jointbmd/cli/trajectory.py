"""``jointbmd trajectory``: solve one trajectory from a launch point to a target.

In: ``--launch LAT,LON`` and ``--target LAT,LON`` (degrees), optionally a threat type of a
scenario (``--missile NAME``, looked up in ``--scenario``, the built-in ``lisbon2010`` by
default), the Earth model and a loft (``--apogee-km`` or ``--flight-time-s``). Out: range,
burnout conditions, apogee, flight time and the miss of the solved trajectory, as a table or
one JSON object. Without ``--missile`` the burnout is impulsive at the launch point and the
point mass feels no drag; with it the missile's boost and its re-entry vehicle's drag apply.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from jointbmd._lazy import lazy
from jointbmd.errors import UserError

from ._app import app
from ._output import print_json, print_table

np = lazy("numpy")
earth = lazy("jointbmd.earth")


def parse_lat_lon(text: str, flag: str) -> tuple[float, float]:
    """``"LAT,LON"`` in degrees -> (lat, lon) degrees, checked."""
    parts = [p.strip() for p in text.split(",")]
    try:
        if len(parts) != 2:
            raise ValueError
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise UserError(f"expected LAT,LON in degrees, got {text!r}", field=flag) from None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        raise UserError(f"expected finite LAT,LON, got {text!r}", field=flag)
    if not -90.0 <= lat <= 90.0:
        raise UserError(f"latitude must be within [-90, 90] degrees, got {lat:g}", field=flag)
    if not -180.0 <= lon <= 360.0:
        raise UserError(f"longitude must be within [-180, 360] degrees, got {lon:g}", field=flag)
    return lat, lon


def _positive(value: float | None, flag: str) -> None:
    if value is not None and not (math.isfinite(value) and value > 0.0):
        raise UserError(f"must be a positive number, got {value:g}", field=flag)


def load_missile(name: str, scenario: str):
    """The threat type ``name`` of a scenario (file or built-in), as a ``ThreatMissile``."""
    from jointbmd.missiles import ThreatMissile
    from jointbmd.scenario import load_scenario

    loaded = load_scenario(scenario)
    for threat_type in loaded.threat_types:
        if threat_type.name == name:
            return ThreatMissile.from_threat_type(threat_type)
    known = ", ".join(t.name for t in loaded.threat_types) or "none"
    raise UserError(f"unknown missile {name!r} (threat types in {scenario}: {known})",
                    field="--missile")  # fmt: skip


def solve(
    launch: tuple[float, float],
    target: tuple[float, float],
    *,
    missile: Any = None,
    model: str = "full",
    apogee_km: float | None = None,
    flight_time_s: float | None = None,
) -> dict[str, Any]:
    """Solve the trajectory and return the report (SI inside, degrees/km named so)."""
    from jointbmd.trajectory import aim

    lat0, lon0 = (math.radians(x) for x in launch)
    lat1, lon1 = (math.radians(x) for x in target)
    range_m = float(earth.surface_distance(lat0, lon0, lat1, lon1, model))
    if range_m < 1000.0:
        raise UserError("launch point and target are less than 1 km apart", field="--target")
    if earth.central_angle(lat0, lon0, lat1, lon1) > math.radians(175.0):
        raise UserError("target is (nearly) antipodal: the azimuth is undefined", field="--target")
    sol = aim(
        lat0,
        lon0,
        lat1,
        lon1,
        model=model,
        missile=missile,
        apogee_m=None if apogee_km is None else apogee_km * 1000.0,
        flight_time_s=flight_time_s,
    )
    traj = sol.trajectories
    if not bool(sol.converged[0]):
        what = f"missile {missile.name}" if missile is not None else "a ballistic flight"
        miss_km = sol.miss_m[0] / 1000.0
        raise UserError(
            f"target out of reach for {what} (best attempt misses by {miss_km:.0f} km)",
            field="--target",
        )
    lat_i, lon_i = traj.impact_lat_lon
    burnout_alt = earth.altitude(traj.burnout_state_eci[:, :3], model)
    mode = (
        "apogee" if apogee_km is not None else "flight-time" if flight_time_s else "minimum-energy"
    )
    return {
        "model": model,
        "missile": None if missile is None else missile.name,
        "trajectory": mode,
        "launch_lat_deg": launch[0],
        "launch_lon_deg": launch[1],
        "target_lat_deg": target[0],
        "target_lon_deg": target[1],
        "range_km": range_m / 1000.0,
        "azimuth_deg": math.degrees(sol.azimuth[0]),
        "burnout_time_s": float(traj.burnout_time[0] - traj.launch_time[0]),
        "burnout_altitude_km": float(burnout_alt[0]) / 1000.0,
        "burnout_speed_mps": float(sol.burnout_speed[0]),
        "burnout_speed_inertial_mps": float(sol.burnout_speed_inertial[0]),
        "burnout_flight_path_angle_deg": math.degrees(sol.burnout_flight_path_angle[0]),
        "cutoff_time_s": float(sol.cutoff_time[0]),
        "pitch_final_deg": math.degrees(sol.pitch_final[0]),
        "apogee_km": float(sol.apogee_altitude[0]) / 1000.0,
        "apogee_time_s": float(traj.apogee_time[0] - traj.launch_time[0]),
        "flight_time_s": float(sol.flight_time[0]),
        "impact_lat_deg": math.degrees(lat_i[0]),
        "impact_lon_deg": math.degrees(np.mod(lon_i[0] + np.pi, 2 * np.pi) - np.pi),
        "impact_speed_mps": float(
            np.linalg.norm(
                earth.state_eci_to_ecef(traj.impact_state_eci, traj.impact_time, model)[0, 3:]
            )
        ),
        "impact_miss_m": float(sol.miss_m[0]),
    }


@app.command("trajectory", short_help="Solve a trajectory from a launch point to a target.")
def trajectory(
    launch: Annotated[str, typer.Option("--launch", help="Launch point LAT,LON (degrees).")],
    target: Annotated[str, typer.Option("--target", help="Aimpoint LAT,LON (degrees).")],
    missile: Annotated[
        str | None,
        typer.Option("--missile", help="Threat type of the scenario; default impulsive burnout."),
    ] = None,
    scenario: Annotated[
        str, typer.Option("--scenario", help="Scenario file or built-in name (for --missile).")
    ] = "lisbon2010",
    model: Annotated[str, typer.Option("--model", help="Earth model: full or ideal.")] = "full",
    apogee_km: Annotated[
        float | None, typer.Option("--apogee-km", help="Lofted/depressed: apogee height (km).")
    ] = None,
    flight_time_s: Annotated[
        float | None, typer.Option("--flight-time-s", help="Lofted/depressed: flight time (s).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Solve the trajectory from a launch point to a target (minimum energy by default)."""
    launch_deg = parse_lat_lon(launch, "--launch")
    target_deg = parse_lat_lon(target, "--target")
    if model not in earth.MODELS:
        raise UserError(f"must be 'full' or 'ideal', got {model!r}", field="--model")
    if apogee_km is not None and flight_time_s is not None:
        raise UserError("give --apogee-km or --flight-time-s, not both", field="--apogee-km")
    _positive(apogee_km, "--apogee-km")
    _positive(flight_time_s, "--flight-time-s")
    threat = load_missile(missile, scenario) if missile is not None else None
    report = solve(
        launch_deg,
        target_deg,
        missile=threat,
        model=model,
        apogee_km=apogee_km,
        flight_time_s=flight_time_s,
    )
    if as_json:
        print_json(report)
        return
    units = {"_km": "km", "_mps": "m/s", "_deg": "deg", "_s": "s", "_m": "m"}
    rows = []
    for key, value in report.items():
        unit = next((u for suffix, u in units.items() if key.endswith(suffix)), "")
        rows.append((key, value, unit))
    print_table("trajectory", ["quantity", "value", "unit"], rows)
