"""``jointbmd store list``: the campaigns a results store holds."""

from __future__ import annotations

import typer

from ._app import store_app
from ._output import print_json, print_table

_STORE_HELP = "Results store (a DuckDB file)."


@store_app.command("list", short_help="List the campaigns in a store.")
def list_command(
    store: str = typer.Option("jointbmd-results.duckdb", "--store", help=_STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """List the campaigns in a store: id, scenario, sweep, replications, date."""
    from jointbmd.store import Store

    with Store(store, read_only=True) as results:
        rows = results.campaign_summaries()
    if as_json:
        print_json({"store": str(store), "campaigns": [_jsonable(r) for r in rows]})
        return
    print_table(
        f"{store}: {len(rows)} campaign{'s' if len(rows) != 1 else ''}",
        ["id", "scenario", "sweep", "reps", "stored", "arrangements", "updated (UTC)"],
        [
            [
                r["campaign_id"],
                r["scenario"],
                ", ".join(r["sweep"]) or "-",
                r["replications"],
                r["stored"],
                len(r["arrangements"]),
                r["updated"].strftime("%Y-%m-%d %H:%M"),
            ]
            for r in rows
        ],
    )


def _jsonable(row: dict) -> dict:
    return {**row, "created": row["created"].isoformat(), "updated": row["updated"].isoformat()}
