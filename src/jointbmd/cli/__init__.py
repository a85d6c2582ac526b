"""The ``jointbmd`` command line.

``main`` runs the typer application so that a user's mistake -- a bad flag, a bad scenario --
prints one line on stderr and exits 2 without a traceback; any other failure exits 1.
"""

from __future__ import annotations

import sys

import click

from jointbmd.errors import UserError

from . import _commands  # noqa: F401  (registers every sub-command)
from ._app import app


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``jointbmd`` console script."""
    import typer.main

    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else argv
    try:
        command.main(args=args, prog_name="jointbmd", standalone_mode=False)
    except UserError as error:
        _fail(error.one_line())
    except click.exceptions.NoArgsIsHelpError as error:
        click.echo(error.ctx.get_help() if error.ctx else "", err=True)
        sys.exit(2)
    except click.UsageError as error:
        where = ""
        param = getattr(error, "param", None)
        if param is not None and getattr(param, "opts", None):
            where = f"{param.opts[0]}: "
        elif param is not None and getattr(param, "name", None):
            where = f"{param.name.upper()}: "
        _fail(f"{where}{error.format_message()}")
    except click.exceptions.Exit as error:
        sys.exit(error.exit_code)
    except click.Abort:
        _fail("aborted")
    except BrokenPipeError:
        sys.exit(1)
    # standalone_mode=False returns the command's return value; commands signal failure by
    # raising typer.Exit(code), handled above.
    sys.exit(0)


def _fail(line: str) -> None:
    sys.stderr.write("jointbmd: " + " ".join(line.split()) + "\n")
    sys.exit(2)
