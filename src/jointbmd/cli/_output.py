"""Printing helpers shared by the commands: JSON on stdout, tables via rich, messages on stderr."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def to_jsonable(obj: Any) -> Any:
    """Turn numpy scalars/arrays, tuples and non-finite floats into plain JSON values.

    NaN and infinities become ``null`` so that the output is strict JSON.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(obj), allow_nan=False) + "\n")
    sys.stdout.flush()


def print_table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a human-readable table on stdout."""
    table = Table(title=escape(title) if title else None)
    for column in columns:
        table.add_column(escape(column))
    for row in rows:
        table.add_row(*(escape(format_cell(cell)) for cell in row))
    # A pipe or a file gets the whole table, not one squeezed to 80 columns.
    console = stdout if stdout.is_terminal else Console(width=240, soft_wrap=True)
    console.print(table)


def format_cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float | np.floating):
        if not math.isfinite(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


def message(text: str) -> None:
    """A progress or status message for humans, on stderr."""
    stderr.print(text)
