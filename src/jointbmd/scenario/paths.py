"""Field paths: how a place inside a scenario is written, in error messages and in sweeps.

A path is a chain of keys and items, like a Python expression on the YAML data::

    epoch
    sites[2].lat_deg
    sites[Deveselu].fire_units[0].inventory
    interceptor_types[SM-3 Block IA].burnout_speed_mps
    links[0].latency_s                  links[NATO-DFC].latency_s
    arrangements[joint-consensus].vote_latency_s[Russia]

``.key`` selects a key of a mapping (letters, digits and ``_``); ``[...]`` selects a list item by
its index or by its ``name``, or a mapping key that is not a plain word (a partner's name).

In: a path string and plain data (dicts and lists). Out: the parsed tokens, the container and
key the path points at, or the path's *canonical* spelling (``canonical_path``: list items by
name where they have a unique one, else by index; no spaces), so that two spellings of one field
(``links[0].latency_s``, `` links[NATO-DFC].latency_s``) compare equal. Mistakes raise
``UserError`` with ``field`` set to the path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from jointbmd.errors import UserError

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ITEM = re.compile(r"\[([^\[\]]+)\]")


class Key(str):
    """A ``.key`` token."""


class Item(str):
    """A ``[...]`` token: an index, a ``name`` in a list, or a mapping key."""


def parse_path(path: str) -> list[Key | Item]:
    """Split a path into its tokens; a malformed path raises ``UserError``."""
    if not isinstance(path, str) or not path.strip():
        raise UserError("empty field path", field=str(path))
    tokens: list[Key | Item] = []
    pos = 0
    text = path.strip()
    while pos < len(text):
        if text[pos] == "[":
            match = _ITEM.match(text, pos)
            if match is None:
                raise UserError(f"malformed field path at character {pos + 1}", field=path)
            tokens.append(Item(match.group(1).strip()))
        else:
            start = pos + 1 if text[pos] == "." and tokens else pos
            match = _WORD.match(text, start)
            if match is None or (start == pos and tokens):
                raise UserError(
                    f"malformed field path at character {pos + 1} "
                    "(expected .key or [index] or [name])",
                    field=path,
                )
            tokens.append(Key(match.group(0)))
        pos = match.end()
    return tokens


def format_path(loc: Sequence[Any]) -> str:
    """Write a location (``('sites', 2, 'lat_deg')``) as a path (``sites[2].lat_deg``)."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _WORD.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part}]"
    return out


def _step(container: Any, token: Key | Item, path: str, done: str) -> Any:
    """Return the key (str or int) that ``token`` selects in ``container``."""
    here = done or "the top level"
    if isinstance(container, dict):
        if token in container:
            return str(token)
        known = ", ".join(sorted(map(str, container)))
        raise UserError(f"no field {token!r} in {here} (fields there: {known})", field=path)
    if isinstance(container, list):
        if isinstance(token, Item) and token.isdigit():
            index = int(token)
            if index >= len(container):
                raise UserError(
                    f"index {index} is out of range: {here} has {len(container)} entries",
                    field=path,
                )
            return index
        if isinstance(token, Item):
            for index, item in enumerate(container):
                if isinstance(item, dict) and item.get("name") == token:
                    return index
            names = [str(i.get("name")) for i in container if isinstance(i, dict) and "name" in i]
            raise UserError(
                f"no entry named {str(token)!r} in {here} (names: {', '.join(names) or 'none'})",
                field=path,
            )
        raise UserError(f"{here} is a list: select an entry with [index] or [name]", field=path)
    raise UserError(f"{here} is a single value, not a mapping or a list", field=path)


def resolve_path(data: Any, path: str) -> tuple[Any, str | int]:
    """The container (dict or list) and the key or index that ``path`` points at in ``data``."""
    loc = loc_of(data, path)
    container = data
    for key in loc[:-1]:
        container = container[key]
    return container, loc[-1]


def get_path(data: Any, path: str) -> Any:
    """The value at ``path`` in ``data``."""
    container, key = resolve_path(data, path)
    return container[key]


def loc_of(data: Any, path: str) -> list[str | int]:
    """The location tuple (keys and indices) of ``path`` in ``data``: names become indices."""
    tokens = parse_path(path)
    loc: list[str | int] = []
    container = data
    for token in tokens:
        key = _step(container, token, path, format_path(loc))
        loc.append(key)
        container = container[key]
    return loc


def canonical_path(data: Any, path: str) -> str:
    """The one spelling of the field ``path`` resolves to in ``data``: a list item by its
    ``name`` when that is unique in the list and not all digits, else by its index."""
    loc = loc_of(data, path)
    out: list[Any] = []
    container = data
    for key in loc:
        if isinstance(container, list):
            item = container[key]
            name = item.get("name") if isinstance(item, dict) else None
            names = [i.get("name") for i in container if isinstance(i, dict)]
            if isinstance(name, str) and not name.isdigit() and names.count(name) == 1:
                out.append(Item(name))
            else:
                out.append(key)
        else:
            out.append(key)
        container = container[key]
    return _format_canonical(out)


def _format_canonical(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, Item) or (isinstance(part, str) and not _WORD.fullmatch(part)):
            text += f"[{part}]"
        elif isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text
