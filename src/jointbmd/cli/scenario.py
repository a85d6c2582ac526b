"""``jointbmd scenario check|schema|list|show``: check, describe and print scenario files.

In: a scenario file path or a built-in scenario's name. Out: a summary (``check``), the JSON
Schema (``schema``), the built-in names (``list``) or a built-in's YAML text (``show``). A bad
scenario is a ``UserError``: one line on stderr, exit status 2.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from jointbmd._lazy import lazy

from ._app import scenario_app
from ._output import print_json, print_table

if TYPE_CHECKING:  # pragma: no cover
    from jointbmd.scenario import Scenario

# Imported on first use: pydantic builds the schema in a few hundred ms.
sc = lazy("jointbmd.scenario")


def summarise(scenario: Scenario) -> dict[str, Any]:
    """Counts and names that tell a reader what a scenario holds."""
    return {
        "name": scenario.name,
        "epoch": scenario.model_dump(mode="json")["epoch"],
        "model": scenario.model,
        "partners": len(scenario.partners),
        "sites": len(scenario.sites),
        "sensors": sum(len(s.sensors) for s in scenario.sites) + len(scenario.space_sensors),
        "radars": sum(len(s.sensors) for s in scenario.sites),
        "space_sensors": len(scenario.space_sensors),
        "fire_units": sum(len(s.fire_units) for s in scenario.sites),
        "interceptors": sum(f.inventory for s in scenario.sites for f in s.fire_units),
        "threat_types": len(scenario.threat_types),
        "raids": len(scenario.raids),
        "threats": scenario.threat_count(),
        "defended_assets": len(scenario.defended_assets),
        "links": len(scenario.links),
        "arrangements": [a.name for a in scenario.arrangements],
    }


@scenario_app.command("check")
def check(
    scenario: Annotated[str, typer.Argument(help="Scenario file, or a built-in scenario's name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Validate a scenario and print a short summary of what it holds.

    Also warns (on stderr, exit status still 0) about what is valid but probably not meant:
    aimpoints no threat can reach, threat types whose range does not fit their class, polygons
    that are not simple, gaps between sectors (jointbmd.scenario.advice)."""
    from jointbmd.scenario.advice import advise

    loaded = sc.load_scenario(scenario)
    summary = summarise(loaded)
    advice = advise(loaded)
    for item in advice:
        sys.stderr.write(f"jointbmd: warning: {scenario}: {item.line()}\n")
    if as_json:
        print_json(
            {
                "ok": True,
                "scenario": scenario,
                **summary,
                "warnings": [{"field": a.field, "reason": a.reason} for a in advice],
            }
        )
        return
    rows = [
        (key.replace("_", " "), ", ".join(value) if isinstance(value, list) else value)
        for key, value in summary.items()
    ]
    print_table(f"{scenario}: OK", ["item", "value"], rows)


@scenario_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of scenario files (for editors)."""
    sys.stdout.write(json.dumps(sc.json_schema(), indent=2) + "\n")


@scenario_app.command("list")
def list_builtins(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List the built-in scenarios."""
    rows = []
    for name in sc.builtin_names():
        scenario = sc.load_scenario(name)
        rows.append({"name": name, "description": scenario.description})
    if as_json:
        print_json({"scenarios": rows})
        return
    print_table(
        "built-in scenarios", ["name", "description"], [(r["name"], r["description"]) for r in rows]
    )


@scenario_app.command("show", short_help="Print a built-in scenario's YAML (to start from).")
def show(
    name: Annotated[str, typer.Argument(help="A built-in scenario's name (see 'scenario list').")],
) -> None:
    """Print the YAML text of a built-in scenario (a starting point for your own)."""
    sys.stdout.write(sc.builtin_text(name))
