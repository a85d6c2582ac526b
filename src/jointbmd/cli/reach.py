"""``jointbmd reach``: interceptor reach against a scenario's threat routes.

In: a scenario (file or built-in name), optionally ``--interceptor NAME`` / ``--site NAME``
(repeatable; default every interceptor type at every fire-unit site), ``--commit RULE``
(repeatable: ``launch``, ``burnout``, ``burnout+N``, or N seconds after the threat's launch),
``--no-min-speed`` to skip the speed search, ``--json``, ``--plot DIR``. Out: the reach table
(feasible per commit rule, what limits it, intercept time/altitude/ground range, latest commit
after burnout, minimum burnout speed) and the checkable criteria per interceptor type and site
(``jointbmd.analysis.reach``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app
from ._output import print_json, print_table


@app.command("reach", short_help="Which fire units reach which threat routes, and when.")
def reach_command(
    scenario: Annotated[str, typer.Argument(help="Scenario file or built-in name.")],
    interceptor: Annotated[
        list[str] | None, typer.Option("--interceptor", help="Interceptor type (repeatable).")
    ] = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="Site (repeatable).")] = None,
    commit: Annotated[
        list[str] | None,
        typer.Option("--commit", help="launch | burnout | burnout+N | N s after launch."),
    ] = None,
    min_speed: Annotated[
        bool, typer.Option("--min-speed/--no-min-speed", help="Search the minimum speed.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write maps and feasibility plots here.")
    ] = None,
) -> None:
    """Which fire units can reach which threat routes, under which commit rules."""
    from jointbmd.analysis.reach import DEFAULT_RULES, parse_commit_rule, reach_analysis
    from jointbmd.scenario import load_scenario

    rules = [parse_commit_rule(r) for r in (commit or DEFAULT_RULES)]
    loaded = load_scenario(scenario)
    result = reach_analysis(
        loaded, interceptors=interceptor, sites=site, rules=rules, min_speed=min_speed
    )
    written = []
    if plot is not None:
        from jointbmd.report.reach_plots import reach_plots

        written = reach_plots(result, plot)
    if as_json:
        print_json({**result.to_dict(), "plots": [str(p) for p in written]})
        return
    _print(result)


def _print(result) -> None:
    names = [r.text for r in result.rules]
    rows = []
    for row in result.rows:
        cells = []
        for name in names:
            if row["feasible"][name]:
                x = row["intercept"][name]
                cells.append(f"yes {x['time_s']:.0f}s {x['altitude_km']:.0f}km "
                             f"{x['ground_range_km']:.0f}km")  # fmt: skip
            else:
                cells.append(f"no ({row['limit'][name]})")
        speeds = row["min_burnout_speed_mps"]
        rows.append([row["site"], row["interceptor"], f"{row['threat']} {row['launch']}->"
                     f"{row['aimpoint']}", *cells, row["latest_commit_after_burnout_s"],
                     " ".join("-" if speeds[n] is None else f"{speeds[n] / 1e3:.1f}"
                              for n in names)])  # fmt: skip
    print_table(
        f"reach: {result.scenario} (yes: intercept time after threat launch, altitude, ground "
        "range from the site; no: what limits it)",
        ["site", "interceptor", "route", *names, "latest commit after burnout (s)",
         "min burnout speed (km/s) per rule"],
        rows,
    )  # fmt: skip
    crit = [
        [c["interceptor"], c["site"], c["burnout_speed_mps"], c["burn_time_s"],
         f"{c['range_km']:.0f} ({c['range_limit']})",
         f"{c['ceiling_km']:.0f} ({c['ceiling_limit']})",
         c["floor_km"], c["inventory"],
         "; ".join(f"{k} {v:.0f}" for k, v in c["closest_approach_km"].items())]
        for c in result.criteria
    ]  # fmt: skip
    print_table(
        "checkable criteria (range and ceiling: the binding limit, kinematic or cap; closest "
        "approach of each route's ground track, km)",
        ["interceptor", "site", "burnout m/s", "burn s", "range km", "ceiling km", "floor km",
         "inventory", "closest approach km"],
        crit,
    )  # fmt: skip
    print_table("assumptions", ["assumption"], [[a] for a in result.assumptions])
