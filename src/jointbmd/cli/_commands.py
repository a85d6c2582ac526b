"""Imports every sub-command module so that each registers itself on the app."""

from __future__ import annotations

# Each module registers its commands on ``jointbmd.cli._app.app`` when imported.
from . import (  # noqa: F401
    campaign,
    effectiveness,
    footprint,
    ledger,
    live,
    reach,
    report,
    run,
    scenario,
    store,
    study,
    track,
    trajectory,
    validate,
    view,
)
