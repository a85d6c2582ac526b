"""``jointbmd report``: the self-contained HTML report of a stored study or campaign.

The work is in :mod:`jointbmd.report.html`.
"""

from __future__ import annotations

import typer

from jointbmd.conventions import DEFAULT_STORE

from ._app import app
from ._output import message, print_json


@app.command("report", short_help="Write one self-contained HTML report.")
def report_command(
    out: str = typer.Option(..., "--out", help="The HTML file to write."),
    store: str = typer.Option(DEFAULT_STORE, "--store", help="Results store (a DuckDB file)."),
    campaign: int | None = typer.Option(
        None, "--campaign", help="Campaign id (default: the latest study, else the latest run)."
    ),
    validation: bool = typer.Option(
        True, "--validation/--no-validation", help="Include the validation table."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Write one self-contained HTML report (plots inline, readable offline)."""
    from jointbmd.report.html import write_report

    path = write_report(store, out, campaign, validation=validation)
    if as_json:
        print_json({"store": store, "campaign_id": campaign, "out": str(path)})
        return
    message(f"wrote {path}")
