"""``jointbmd view``: one replication as a time-dynamic 3-D scene (CZML) on an offline globe.

Runs one replication of one arrangement (or re-runs one of a stored campaign, with its seed and
sweep point: the same seed gives the same numbers), writes ``DIR/scene.czml`` and, unless
``--czml-only``, the page ``DIR/index.html`` with CesiumJS beside it; ``--serve`` then serves
the folder on 127.0.0.1. The work is in :mod:`jointbmd.report.scene`, :mod:`jointbmd.report.czml`
and :mod:`jointbmd.report.viewer`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from jointbmd.errors import UserError

from ._app import app
from ._output import message, print_json

DEFAULT_PORT = 8765


@app.command("view", short_help="One replication as a 3-D scene on an offline globe.")
def view_command(
    scenario: str = typer.Argument(..., help="Scenario file or built-in scenario name."),
    out: Path = typer.Option(..., "--out", help="Folder to write scene.czml and the page into."),
    arrangement: str | None = typer.Option(
        None, "--arrangement", help="Arrangement to show (default: the first joint one)."
    ),
    replication: int = typer.Option(0, "--replication", min=0, help="Replication index."),
    seed: int | None = typer.Option(
        None, "--seed", min=0, help="Master seed (default: the scenario's campaign.seed)."
    ),
    store: Path | None = typer.Option(
        None, "--store", help="Re-run a replication of a campaign stored here (with --campaign)."
    ),
    campaign: int | None = typer.Option(None, "--campaign", help="Stored campaign id."),
    point: int = typer.Option(0, "--point", min=0, help="Sweep point of the stored campaign."),
    serve: bool = typer.Option(False, "--serve", help="Serve the folder on 127.0.0.1."),
    port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535, help="Port for --serve."),
    czml_only: bool = typer.Option(False, "--czml-only", help="Write scene.czml only."),
    json: bool = typer.Option(False, "--json", help="One JSON object on stdout."),
) -> None:
    """Write one replication as CZML and an offline Cesium page; optionally serve it."""
    from jointbmd.api import ViewResults
    from jointbmd.report.scene import replay
    from jointbmd.report.viewer import HOST, server, write_viewer

    if serve and czml_only:
        raise UserError("--serve needs the page: drop --czml-only", field="--serve")
    loaded, seed = _scenario_and_seed(scenario, seed, store, campaign, point, replication)
    name = arrangement or _default_arrangement(loaded)
    scene = replay(loaded, name, replication, seed)
    written = write_viewer(scene, out, czml_only=czml_only)
    summary = ViewResults(scene, out, [Path(p) for p in written]).to_dict()
    if json:
        print_json(summary)
    else:
        counts = ", ".join(f"{n} {kind}" for kind, n in summary["entities"].items())
        message(f"wrote {out / 'scene.czml'} ({counts})")
    if not serve:
        return
    with server(out, port) as httpd:
        message(f"serving {out} on http://{HOST}:{httpd.server_address[1]}/ (Ctrl-C stops)")
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            message("stopped")


def _default_arrangement(scenario) -> str:
    joint = [a.name for a in scenario.arrangements if a.kind == "joint"]
    return joint[0] if joint else scenario.arrangements[0].name


def _scenario_and_seed(scenario, seed, store, campaign, point, replication):
    from jointbmd.campaign import scenario_seed
    from jointbmd.scenario import load_scenario, set_field, validate_data

    if store is None and campaign is None:
        loaded = load_scenario(scenario)
        return loaded, scenario_seed(loaded) if seed is None else seed
    if store is None or campaign is None:
        raise UserError("give both --store and --campaign", field="--campaign")
    if seed is not None:
        raise UserError("a stored campaign has its own seed; drop --seed", field="--seed")
    if not store.is_file():
        raise UserError("no such results store", file=str(store), field="--store")
    from jointbmd.store import Store

    with Store(store, read_only=True) as results:
        record = results.campaign(campaign)
    if record.scenario_name != load_scenario(scenario).name:
        raise UserError(
            f"campaign {campaign} is of scenario {record.scenario_name!r}, not {scenario!r}",
            field="--campaign",
        )
    if point >= len(record.points):
        raise UserError(f"the campaign has {len(record.points)} sweep points", field="--point")
    if replication >= record.replications:
        raise UserError(
            f"the campaign has {record.replications} replications", field="--replication"
        )
    loaded = validate_data(record.scenario, file=str(store))
    for path, value in record.points[point].items():
        loaded = set_field(loaded, path, value)
    return loaded, record.seed
