"""Imports every sub-command module so that each registers itself on the app."""

from __future__ import annotations

import importlib

# Each module registers its commands on ``jointbmd.cli._app.app`` when imported.
COMMAND_MODULES = [
    "scenario",
    "trajectory",
    "effectiveness",
    "track",
    "ledger",
    "run",
    "validate",
    "campaign",
]

for _name in COMMAND_MODULES:
    try:
        importlib.import_module(f"jointbmd.cli.{_name}")
    except ModuleNotFoundError as _error:  # a command module not written yet
        if _error.name != f"jointbmd.cli.{_name}":
            raise
