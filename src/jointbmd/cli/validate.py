"""``jointbmd validate``: print the validation table and fail when any check fails.

Prints every check (group, check, expected, obtained, tolerance, source, pass) from
:mod:`jointbmd.analysis.validate`; ``--group NAME`` (repeatable) limits it to those groups;
``--json`` prints ``{"checks": [...], "passed": bool, "disagreements": int}``. A failing check
that carries its cause (a published claim jointbmd does not reproduce, ``Check.disagreement``)
is printed as DISAGREES with the cause and does not fail the run; ``passed`` is false, and the
exit status 1, when any other check fails.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from jointbmd.errors import UserError

from ._app import app
from ._output import format_cell, print_json, print_table


@app.command("validate", short_help="Check against published numbers and textbook formulas.")
def validate_command(
    group: Annotated[
        list[str] | None,
        typer.Option("--group", help="Run only this group of checks (repeatable)."),
    ] = None,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Check jointbmd against published numbers and textbook formulas."""
    from jointbmd.analysis import validate

    try:
        checks = validate.run_checks(group or None)
    except UserError as error:
        raise UserError(error.reason, field="--group") from None
    passed = all(check.accounted for check in checks)
    disagreements = sum(not check.passed and check.accounted for check in checks)
    if as_json:
        print_json(
            {
                "checks": [check.to_dict() for check in checks],
                "passed": passed,
                "disagreements": disagreements,
            }
        )
    else:
        rows = [
            (
                check.group,
                check.name,
                _number(check.expected),
                _number(check.obtained),
                f"{format_cell(check.tolerance)} {_KIND[check.tolerance_kind]}",
                check.source,
                _verdict(check),
            )
            for check in checks
        ]
        failed = sum(not check.passed for check in checks)
        title = f"Validation: {len(checks) - failed} of {len(checks)} checks pass"
        if disagreements:
            title += f" ({disagreements} published claims not reproduced, cause stated)"
        print_table(
            title,
            ["group", "check", "expected", "obtained", "tolerance", "source", "pass"],
            rows,
        )
    if not passed:
        # sys.exit, not typer.Exit: the entry point runs typer without standalone mode.
        sys.exit(1)


_KIND = {"relative": "rel", "absolute": "abs"}


def _verdict(check) -> str:
    if check.passed:
        return "pass"
    return f"DISAGREES: {check.disagreement}" if check.disagreement else "FAIL"


def _number(value: float) -> str:
    return f"{value:.10g}"
