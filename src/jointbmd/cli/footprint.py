"""``jointbmd footprint``: which part of a region each fire unit defends against a threat.

In: a scenario, optionally one threat type (``--threat``) and launch area (``--launch``), the fire
units to map (``--units``, repeatable or comma separated; all by default), an arrangement, the
cell size, the region (a partner or a box) and the cue (seconds after launch, or ``sensors``).
Out: per (threat type, launch area) pair the reachable area, the defended area and fraction per
unit and for all, and the table of the scenario's defended assets; ``--json`` one object per
pair (a list when there are several), ``--geojson FILE`` the contours, ``--plot DIR`` one PNG
map per pair. The computation is :mod:`jointbmd.analysis.footprint`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated

import typer

from jointbmd.errors import UserError

from ._app import app
from ._output import message, print_json, print_table


def parse_cue(text: str) -> float | str:
    """``sensors`` or a number of seconds >= 0."""
    if text == "sensors":
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0.0):
        raise UserError(f"must be 'sensors' or seconds >= 0, got {text!r}", field="--cue")
    return value


def _unit_names(units: list[str] | None) -> list[str] | None:
    if not units:
        return None
    return [name.strip() for text in units for name in text.split(",") if name.strip()]


def _plot_dir(plot: Path) -> Path:
    try:
        plot.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"cannot create the directory: {error.strerror}", file=str(plot), field="--plot"
        ) from None
    return plot


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


@app.command("footprint", short_help="Map each fire unit's defended area over a region.")
def footprint_command(
    scenario: str = typer.Argument(..., help="Scenario file or built-in scenario name."),
    threat: Annotated[
        str | None, typer.Option("--threat", help="Threat type (default: each of the raids').")
    ] = None,
    launch: Annotated[
        str | None, typer.Option("--launch", help="Launch area (default: each of the raids').")
    ] = None,
    units: Annotated[
        list[str] | None,
        typer.Option("--units", help="Fire units to map (repeatable or comma list; default all)."),
    ] = None,
    arrangement: Annotated[
        str | None,
        typer.Option("--arrangement", help="Arrangement (default: the scenario's first)."),
    ] = None,
    grid_km: Annotated[float, typer.Option("--grid-km", help="Cell size (km).")] = 50.0,
    region: Annotated[
        str | None,
        typer.Option(
            "--region", help="PARTNER (its territory) or LAT0,LON0,LAT1,LON1 (default: first)."
        ),
    ] = None,
    cue: Annotated[
        str, typer.Option("--cue", help="Seconds after threat launch, or 'sensors'.")
    ] = "sensors",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    geojson: Annotated[
        Path | None, typer.Option("--geojson", help="Write the contours as GeoJSON here.")
    ] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write PNG maps here.")] = None,
) -> None:
    """Map the defended area of each fire unit over a region (all aimpoints in one batch)."""
    from jointbmd.analysis import footprint as fpm
    from jointbmd.scenario import load_scenario

    cue_value = parse_cue(cue)
    if not (math.isfinite(grid_km) and 1.0 <= grid_km <= 2000.0):
        raise UserError(f"must be a cell size in km within [1, 2000], got {grid_km:g}",
                        field="--grid-km")  # fmt: skip
    if geojson is not None and geojson.is_dir():
        raise UserError("is a directory; give a file name", file=str(geojson), field="--geojson")
    plot_dir = _plot_dir(plot) if plot is not None else None
    loaded = load_scenario(scenario)
    reg = fpm.region_of(loaded, region)
    pairs = fpm.footprint_pairs(loaded, threat, launch)
    # Names are checked once, before the long computation.
    fpm.setup(loaded, *pairs[0], units=_unit_names(units), arrangement=arrangement, cue=cue_value)
    results = []
    for t, a in pairs:
        if not as_json:
            message(f"footprint: {t} from {a} ...")
        results.append(
            fpm.footprint(
                loaded,
                t,
                a,
                units=_unit_names(units),
                arrangement=arrangement,
                cell_km=grid_km,
                region=reg,
                cue=cue_value,
            )  # fmt: skip
        )
    if geojson is not None:
        fpm.write_geojson(results, geojson)
    if plot_dir is not None:
        for fp in results:
            name = f"footprint-{_slug(fp.setup.threat)}-{_slug(fp.setup.launch)}.png"
            fpm.plot_footprint(fp, plot_dir / name)
    dicts = [fp.to_dict() for fp in results]
    if as_json:
        print_json(dicts[0] if len(dicts) == 1 else dicts)
        return
    for d in dicts:
        _print(d)


def _print(d: dict) -> None:
    title = (
        f"{d['threat']} from {d['launch']} over {d['region']} ({d['arrangement']}, cue "
        f"{d['cue']}, launch {d['decision_delay_s']:g} s after the cue, {d['cell_km']:g} km "
        f"cells): reachable {d['reachable_area_km2']:.4g} km2 of {d['region_area_km2']:.4g}"
    )
    rows = [
        (
            unit,
            d["defended_area_km2"][unit],
            d["defended_fraction"][unit],
            (d["units"].get(unit) or {}).get("mean_shots_where_defended"),
            (d["units"].get(unit) or {}).get("mean_p_kill_where_defended")
            if unit != "all"
            else d["mean_p_kill_where_defended"]["all"],
            (d["units"].get(unit) or {}).get("median_margin_s_where_defended"),
        )
        for unit in d["defended_area_km2"]
    ]
    print_table(
        title,
        ["unit", "defended km2", "fraction", "shots", "P(kill)", "median margin s"],
        rows,
    )
    assets = [
        (
            a["name"],
            a["partner"],
            "yes" if a["reachable"] else "no",
            "yes" if a["defended"] else "no",
            ", ".join(f"{u} ({a['margin_s'][u]:.0f} s)" for u in a["units"]) or "-",
            a["p_kill"],
        )
        for a in d["assets"]
    ]
    print_table(
        "defended assets",
        ["asset", "partner", "reachable", "defended", "units (margin)", "P(kill)"],
        assets,
    )
