"""The typer application and the sub-command groups every cli module registers on.

Each sub-command lives in its own module of this package (``cli/trajectory.py`` ...) and
registers itself on ``app`` (or on a group below) at import time; ``cli/__init__.py`` imports
them all. Commands do their work by calling the library; they only parse flags and print.
Every command and group takes ``-h`` as well as ``--help``; ``jointbmd --version`` prints the
version.
"""

from __future__ import annotations

import typer

# -h and --help on every command (click passes context settings down to sub-commands).
CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="jointbmd",
    help="Simulate and analyse a jointly operated European ballistic-missile defence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)


def _version(value: bool) -> None:
    if value:
        from jointbmd import __version__

        typer.echo(f"jointbmd {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Simulate and analyse a jointly operated European ballistic-missile defence."""


scenario_app = typer.Typer(
    help="Check, list, show and describe scenario files.",
    no_args_is_help=True,
    context_settings=CONTEXT,
)
ledger_app = typer.Typer(
    help="Work with hash-chained message ledgers.", no_args_is_help=True, context_settings=CONTEXT
)
store_app = typer.Typer(
    help="Look into a results store.", no_args_is_help=True, context_settings=CONTEXT
)

app.add_typer(scenario_app, name="scenario")
app.add_typer(ledger_app, name="ledger")
app.add_typer(store_app, name="store")
