"""The typer application and the sub-command groups every cli module registers on.

Each sub-command lives in its own module of this package (``cli/trajectory.py`` ...) and
registers itself on ``app`` (or on a group below) at import time; ``cli/__init__.py`` imports
them all. Commands do their work by calling the library; they only parse flags and print.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="jointbmd",
    help="Simulate and analyse a jointly operated European ballistic-missile defence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

scenario_app = typer.Typer(
    help="Check, list, show and describe scenario files.", no_args_is_help=True
)
ledger_app = typer.Typer(help="Work with hash-chained message ledgers.", no_args_is_help=True)

app.add_typer(scenario_app, name="scenario")
app.add_typer(ledger_app, name="ledger")
