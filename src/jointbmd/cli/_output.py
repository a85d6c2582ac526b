"""Printing helpers shared by the commands: JSON on stdout, tables via rich, messages on stderr."""

from __future__ import annotations

import io
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

# rich is imported by the first table or message, not at start-up.


def _numpy():
    """numpy if something imported it (else no value can be a numpy one): not imported here, so
    that a command which never touches numpy does not pay for it at start-up."""
    return sys.modules.get("numpy")


def to_jsonable(obj: Any) -> Any:
    """Turn numpy scalars/arrays, tuples and non-finite floats into plain JSON values.

    NaN and infinities become ``null`` so that the output is strict JSON.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    np = _numpy()
    if np is not None:
        if isinstance(obj, np.ndarray):
            return to_jsonable(obj.tolist())
        if isinstance(obj, np.bool_):
            return bool(obj)
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            obj = float(obj)
    if isinstance(obj, float):
        value = float(obj)
        return value if math.isfinite(value) else None
    return obj


def print_json(obj: Any) -> None:
    """Print one JSON object on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(obj), allow_nan=False) + "\n")
    sys.stdout.flush()


def table_width() -> int:
    """The width tables are laid out for: ``COLUMNS`` when set, else the terminal's; a pipe or a
    file gets 240 columns (the whole table, not one squeezed to 80)."""
    text = os.environ.get("COLUMNS", "")
    if text.isdigit() and int(text) > 0:
        return int(text)
    if not sys.stdout.isatty():
        return 240
    import shutil

    return shutil.get_terminal_size().columns


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    notes: Sequence[str] = (),
) -> None:
    """Print a human-readable table on stdout, readable at any width (``table_width``).

    Nothing is ever cut. A table wider than the width wraps its headers and cells at spaces
    (never inside a word or a number); when even that does not fit, each row is printed as a
    block of ``column: value`` lines under the row's first cell. ``notes`` (a key to
    abbreviations, say) follow the table."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    cells = [[format_cell(cell) for cell in row] for row in rows]
    width = table_width()
    console = Console(width=width, file=sys.stdout, soft_wrap=False, highlight=False)
    # Each column needs its longest word (or unbreakable cell); wider columns may wrap at spaces.
    need = [
        max([_longest_word(column), *(_longest_word(row[i]) for row in cells)])
        for i, column in enumerate(columns)
    ]
    natural = [
        max([len(column), *(len(row[i]) for row in cells)]) for i, column in enumerate(columns)
    ]
    for style in _styles():
        probe = Table(**style)
        for column in columns:
            probe.add_column(column)
        # The frame's own width (borders, padding), measured on one row of the natural widths.
        probe.add_row(*("x" * n for n in natural))
        frame = Console(width=10**4, file=io.StringIO()).measure(probe).maximum - sum(natural)
        if frame + sum(need) > width:
            continue
        # Narrow the columns with the most room to spare, one character at a time, down to
        # their longest word: headers and cells then wrap at spaces, nothing is cut.
        widths = list(natural)
        for _ in range(max(0, frame + sum(natural) - width)):
            j = max(range(len(widths)), key=lambda i: widths[i] - need[i])
            widths[j] -= 1
        table = Table(title=escape(title) if title else None, **style)
        for column, w in zip(columns, widths, strict=True):
            table.add_column(escape(column), width=w, overflow="fold")
        for row in cells:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)
        break
    else:
        _print_vertical(console, title, columns, cells)
    for note in notes:
        console.print(note, markup=False)


def _styles() -> tuple[dict[str, Any], ...]:
    """Boxed first; then without vertical rules (narrower); then (caller) one block per row."""
    from rich import box

    return (
        {},
        {"box": box.SIMPLE_HEAD, "padding": (0, 1, 0, 0), "pad_edge": False, "show_edge": False},
    )


def _print_vertical(console: Console, title: str | None, columns, cells) -> None:
    """One block per row: the first cell as its heading, then ``column: value`` lines."""
    if title:
        console.print(title, markup=False)
    label = max((len(c) for c in columns[1:]), default=0)
    for row in cells:
        console.print(f"- {columns[0]}: {row[0]}", markup=False)
        for column, cell in zip(columns[1:], row[1:], strict=True):
            console.print(f"    {column:<{label}}  {cell}", markup=False)


def format_cell(value: Any) -> str:
    if value is None:
        return "-"
    np = _numpy()
    if isinstance(value, float) or (np is not None and isinstance(value, np.floating)):
        if not math.isfinite(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


def message(text: str) -> None:
    """A progress or status message for humans, on stderr (rich markup allowed)."""
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(text)
