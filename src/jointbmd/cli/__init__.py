"""The ``jointbmd`` command line.

``main`` runs the typer application so that a user's mistake -- a bad flag, a bad scenario, a
place that cannot be written -- prints one line on stderr and exits 2 without a traceback; any
other failure exits 1. Python warnings (numpy's floating-point warnings among them) are held
back while a command runs: after a one-line error stderr holds that line only; after success
each warning is printed as one line.
"""

from __future__ import annotations

import importlib
import sys
import warnings

from jointbmd.errors import UserError

from . import _commands  # noqa: F401  (registers every sub-command)
from ._app import app


def _click_exception_modules() -> list:
    # typer >= 0.20 carries its own copy of click (typer._click); older typer uses click. Catch
    # the exceptions of whichever is present.
    modules = []
    for name in ("typer.exceptions", "typer._click.exceptions", "click.exceptions"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            pass
    return modules


_MODULES = _click_exception_modules()


def _classes(name: str) -> tuple[type[BaseException], ...]:
    return tuple({getattr(m, name) for m in _MODULES if hasattr(m, name)})


_USAGE = _classes("UsageError")
_NO_ARGS = _classes("NoArgsIsHelpError")
_EXIT = _classes("Exit")
_ABORT = _classes("Abort")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``jointbmd`` console script."""
    with warnings.catch_warnings(record=True) as held:
        warnings.simplefilter("default")
        try:
            _main(argv)
        except SystemExit as done:
            if done.code in (None, 0):
                for warning in held:
                    sys.stderr.write(
                        f"jointbmd: warning: {' '.join(str(warning.message).split())} "
                        f"({warning.category.__name__})\n"
                    )
            raise


def _main(argv: list[str] | None) -> None:
    import typer.main

    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else argv
    try:
        returned = command.main(args=args, prog_name="jointbmd", standalone_mode=False)
    except UserError as error:
        _fail(error.one_line())
    except _NO_ARGS as error:
        ctx = getattr(error, "ctx", None)
        sys.stderr.write((ctx.get_help() if ctx else "") + "\n")
        sys.exit(2)
    except _USAGE as error:
        where = ""
        param = getattr(error, "param", None)
        if param is not None and getattr(param, "opts", None):
            where = f"{param.opts[0]}: "
        elif param is not None and getattr(param, "name", None):
            where = f"{param.name.upper()}: "
        _fail(f"{where}{error.format_message()}")
    except _EXIT as error:
        sys.exit(error.exit_code)
    except _ABORT:
        _fail("aborted")
    except BrokenPipeError:
        sys.exit(1)
    except KeyboardInterrupt:
        _fail("interrupted")
    except OSError as error:
        # The environment refused (disk full, permission, a vanished directory): the user's to fix.
        where = f"{error.filename}: " if error.filename else ""
        _fail(f"{where}{error.strerror or error}")
    # Without standalone mode, typer.Exit(code) comes back as the return value.
    sys.exit(returned if isinstance(returned, int) else 0)


def _fail(line: str) -> None:
    sys.stderr.write("jointbmd: " + " ".join(line.split()) + "\n")
    sys.exit(2)
