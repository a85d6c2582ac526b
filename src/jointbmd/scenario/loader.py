"""Read, validate and write scenario files.

In: a file path or the name of a built-in scenario (``lisbon2010``). Out: a validated
``Scenario``. Every way the input can be wrong -- no such file, a directory, an empty, binary or
non-UTF-8 file, a YAML syntax error, a top level that is not a mapping, an unsupported version, a
wrong type, an out-of-range or non-finite number, a missing or unknown key, a duplicate key, a
dangling reference -- raises ``jointbmd.errors.UserError`` carrying the file, the field path
(``sites[2].lat_deg``) and the YAML line, so the CLI prints ``FILE: FIELD: REASON (line N)``.

The YAML is parsed once into a node tree (``yaml.compose``) that keeps every node's line, then
constructed into plain data; an error's field path is walked down that tree to find its line.

Also here: ``set_field`` (a validated copy with one field changed, for campaign sweeps) and the
way back to YAML (``scenario_to_dict``, ``scenario_to_yaml``).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError

from jointbmd.errors import UserError

from .paths import Item, format_path, loc_of, parse_path, resolve_path
from .schema import Scenario

BUILTIN_DIR = Path(__file__).parent / "builtin"
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_NODES = 1_000_000  # after expanding YAML aliases ("billion laughs" guard)


# ---------------------------------------------------------------------------------------------
# Built-in scenarios
# ---------------------------------------------------------------------------------------------


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def builtin_text(name: str) -> str:
    """The YAML text of a built-in scenario."""
    if name not in builtin_names():
        raise UserError(
            f"no built-in scenario named {name!r} (built-ins: {', '.join(builtin_names())})",
            field="NAME",
        )
    return (BUILTIN_DIR / f"{name}.yaml").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def load_scenario(source: str | os.PathLike[str]) -> Scenario:
    """Load and validate a scenario from a file path or a built-in scenario's name."""
    label = os.fspath(source)
    path = Path(label)
    try:
        exists = path.exists()
    except (OSError, ValueError):  # a name too long for the OS, an embedded NUL ...
        exists = False
    if not exists:
        if label in builtin_names():
            return loads_scenario(builtin_text(label), file=label)
        hint = (
            ""
            if os.sep in label
            else f" or built-in scenario (built-ins: {', '.join(builtin_names())})"
        )
        raise UserError(f"no such file{hint}", file=label)
    if path.is_dir():
        raise UserError("is a directory, not a scenario file", file=label)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise UserError(f"cannot read: {error.strerror or error}", file=label) from None
    if len(raw) > MAX_FILE_BYTES:
        raise UserError(f"file larger than {MAX_FILE_BYTES // 2**20} MiB", file=label)
    return loads_scenario(decode_text(raw, label), file=label)


def decode_text(raw: bytes, file: str) -> str:
    """UTF-8 text of a scenario file (a BOM is allowed); binary files are refused."""
    if b"\x00" in raw:
        raise UserError("binary file, not YAML text (contains NUL bytes)", file=file)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise UserError(
            f"not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start})",
            file=file,
            line=line,
        ) from None


def loads_scenario(text: str, file: str = "<string>") -> Scenario:
    """Validate a scenario given as YAML text; ``file`` names it in error messages."""
    data, node = parse_yaml(text, file)
    if not isinstance(data, dict):
        kind = _type_name(data)
        raise UserError(
            f"the top level must be a mapping of scenario keys (jointbmd: 1, ...), got {kind}",
            file=file,
            line=_node_line(node),
        )
    version = data.get("jointbmd", None)
    if "jointbmd" not in data:
        raise UserError(
            "missing version key: a scenario starts with 'jointbmd: 1'",
            file=file,
            field="jointbmd",
            line=1,
        )
    if type(version) is not int or version != 1:
        raise UserError(
            f"unsupported scenario version {version!r}: this jointbmd reads version 1",
            file=file,
            field="jointbmd",
            line=line_of(node, ["jointbmd"]),
        )
    return validate_data(data, file=file, node=node)


def validate_data(data: Any, file: str | None = None, node: yaml.Node | None = None) -> Scenario:
    """Validate plain data as a scenario; errors become ``UserError`` with path and line."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise _from_validation_error(error, data, file, node) from None
    except UserError as error:  # a cross-reference check: it knows the field, not the line
        line = None
        if node is not None and error.field:
            try:
                line = line_of(node, parse_path(error.field))
            except UserError:
                line = None
        raise UserError(error.reason, file=file, field=error.field, line=line) from None


# ---------------------------------------------------------------------------------------------
# YAML with lines
# ---------------------------------------------------------------------------------------------


# libyaml's parser is about ten times faster than PyYAML's own and keeps lines just as well.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """Safe loader that refuses duplicate keys (PyYAML silently keeps the last one)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> Any:
    # PyYAML's own constructor raises a bare ValueError (no line) for 2012-13-45.
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as error:
        raise yaml.constructor.ConstructorError(
            None, None, f"invalid date or time {node.value!r} ({error})", node.start_mark
        ) from None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def parse_yaml(text: str, file: str) -> tuple[Any, yaml.Node]:
    """Plain data and the node tree of one YAML document; any YAML problem is a ``UserError``."""
    if not text.strip() or all(
        not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()
    ):
        raise UserError("empty file: a scenario starts with 'jointbmd: 1'", file=file)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise UserError("empty file: a scenario starts with 'jointbmd: 1'", file=file)
        _check_size(node)
        data = loader.construct_document(node)
    except UserError as error:
        raise UserError(error.reason, file=file, line=error.line) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        reason = " ".join(str(p) for p in (error.context, error.problem) if p)
        what = (
            "YAML error"
            if isinstance(error, yaml.constructor.ConstructorError)
            else "YAML syntax error"
        )
        raise UserError(
            f"{what}: {reason or 'cannot parse'}",
            file=file,
            line=mark.line + 1 if mark is not None else None,
        ) from None
    except RecursionError:
        raise UserError("YAML nested too deeply", file=file) from None
    # PyYAML can fail in other ways on arbitrary text (a timestamp like 2012-13-45 raises
    # ValueError in the date constructor, a bad !!binary raises ...). The text came from the
    # user, so whatever the parser trips on is the user's to fix.
    except Exception as error:  # noqa: BLE001
        raise UserError(f"cannot read YAML: {error}", file=file) from None
    finally:
        loader.dispose()
    return data, node


def _check_size(root: yaml.Node) -> None:
    """Refuse alias bombs and self-referencing aliases before anything expands them."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise UserError("a YAML alias refers to itself", line=node.start_mark.line + 1)
        visiting.add(key)
        if isinstance(node, yaml.MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total = 1 + sum(size(v) for v in node.value)
        else:
            total = 1
        visiting.discard(key)
        if total > MAX_NODES:
            raise UserError(
                f"document too large after expanding aliases (over {MAX_NODES} values)",
                line=node.start_mark.line + 1,
            )
        sizes[key] = total
        return total

    size(root)


def _node_line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def line_of(node: yaml.Node | None, loc: list[Any]) -> int | None:
    """The YAML line of location ``loc`` (keys, indices or ``Item`` names); the nearest enclosing
    node's line when the location does not exist (a missing key)."""
    if node is None:
        return None
    line = _node_line(node)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    line = _node_line(key_node)
                    node = value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode):
            index = _sequence_index(node, part)
            if index is None:
                return line
            node = node.value[index]
            line = _node_line(node)
        else:
            return line
    return line


def _sequence_index(node: yaml.SequenceNode, part: Any) -> int | None:
    if isinstance(part, int) or (isinstance(part, Item) and part.isdigit()):
        index = int(part)
        return index if 0 <= index < len(node.value) else None
    for index, item in enumerate(node.value):
        if isinstance(item, yaml.MappingNode):
            for key_node, value_node in item.value:
                if (
                    isinstance(key_node, yaml.ScalarNode)
                    and key_node.value == "name"
                    and isinstance(value_node, yaml.ScalarNode)
                    and value_node.value.strip() == str(part)
                ):
                    return index
    return None


# ---------------------------------------------------------------------------------------------
# pydantic errors -> one line
# ---------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, int | float):
        return f"a number ({value!r:.40})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text ({shown!r})"
    return type(value).__name__


def _clean_loc(loc: tuple[Any, ...], data: Any) -> list[Any]:
    """Drop pydantic's union-member tags (``radar``, ``function-after[...]``) from a location by
    walking the data: a part is kept only where the data has it (or it is the last part)."""
    out: list[Any] = []
    here = data
    for n, part in enumerate(loc):
        last = n == len(loc) - 1
        if isinstance(here, dict):
            if part in here:
                out.append(part)
                here = here[part]
            elif last:
                out.append(part)
            continue
        if isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here):
            out.append(part)
            here = here[part]
            continue
        if isinstance(here, list | dict):
            continue
        break  # a scalar: whatever follows is pydantic's description of the union tried
    return out


def _ends_in_member_tag(loc: list[Any], data: Any) -> bool:
    """Whether the last part of a cleaned location is a union-member tag (``literal[...]``,
    ``dict[...]``) under a mapping that has no such key."""
    if not loc or not isinstance(loc[-1], str) or "[" not in loc[-1]:
        return False
    here = data
    for part in loc[:-1]:
        try:
            here = here[part]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(here, dict) and loc[-1] not in here


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _allowed_keys(loc: list[Any], data: Any) -> list[str]:
    """Keys the model at ``loc`` accepts (for 'did you mean ...')."""
    candidates: list[type[BaseModel]] = [Scenario]
    here = data
    for part in loc:
        if isinstance(part, str):
            found: list[type[BaseModel]] = []
            for model in candidates:
                for name, field in model.model_fields.items():
                    if part in (name, field.alias):
                        found.extend(_models_in(field.annotation))
            candidates = found or candidates
        here = here[part] if isinstance(here, dict | list) else None
        if isinstance(here, dict) and "kind" in here:
            tagged = [
                m
                for m in candidates
                if "kind" in m.model_fields
                and here["kind"] in get_args(m.model_fields["kind"].annotation)
            ]
            candidates = tagged or candidates
    keys: list[str] = []
    for model in candidates:
        for name, field in model.model_fields.items():
            key = field.alias or name
            if key not in keys:
                keys.append(key)
    return keys


def _reason(error: dict[str, Any], loc: list[Any], data: Any) -> str:
    kind = error["type"]
    value = error.get("input")
    message = str(error.get("msg", "invalid value"))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "missing required key"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], data)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (allowed: {', '.join(allowed)})"
        return f"unknown key{hint}"
    if kind == "union_tag_not_found":
        return f"missing key 'kind' (one of {ctx.get('expected_tags', '?')})"
    if kind == "union_tag_invalid":
        return f"kind {ctx.get('tag')!r} is not one of {ctx.get('expected_tags', '?')}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping (key: value), got {_type_name(value)}"
    if kind == "list_type":
        return f"expected a list, got {_type_name(value)}"
    if kind == "invalid_key":
        return f"keys must be text, got {_type_name(value)}"
    if kind == "finite_number":
        return f"must be a finite number, got {value!r}"
    if kind in ("value_error", "assertion_error"):
        return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind in ("float_type", "int_type", "string_type", "bool_type"):
        wanted = {
            "float_type": "a number",
            "int_type": "a whole number",
            "string_type": "text",
            "bool_type": "true or false",
        }[kind]
        hint = ""
        if kind in ("float_type", "int_type") and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                pass
            else:
                # YAML 1.1 reads 1e12 (no dot, no sign) as text.
                hint = f"; write {number!r} (YAML needs a dot and a signed exponent, as in 1.0e+12)"
        return f"expected {wanted}, got {_type_name(value)}{hint}"
    if kind == "literal_error":
        return f"{message.replace('Input should be', 'must be')}, got {_type_name(value)}"
    message = message.replace("Input should be", "must be")
    if isinstance(value, str | int | float | bool) or value is None:
        return f"{message}, got {_type_name(value)}"
    return message


def _from_validation_error(
    error: ValidationError, data: Any, file: str | None, node: yaml.Node | None
) -> UserError:
    found = []
    for order, item in enumerate(error.errors()):
        loc = _clean_loc(tuple(item.get("loc", ())), data)
        # A union member that does not match the input's kind at all (a mapping given where one
        # member wants a word) ends in pydantic's member tag: report the member that does match.
        wrong_member = _ends_in_member_tag(loc, data)
        if wrong_member:
            loc = loc[:-1]
        line = line_of(node, loc)
        # A renamed key shows up as "unknown key" plus "missing key": report the unknown one.
        missing = item.get("type") == "missing"
        found.append((wrong_member, missing, line if line is not None else 10**9, order, loc, item))
    found.sort(key=lambda f: f[:4])
    _, _, line, _, loc, item = found[0]
    # A union reports once per member; count distinct places for "and N more".
    others = len({tuple(f[4]) for f in found}) - 1
    reason = _reason(item, loc, data)
    if others > 0:
        reason += f" [and {others} more problem{'s' if others > 1 else ''}]"
    return UserError(
        reason,
        file=file,
        field=format_path(loc) or None,
        line=None if line == 10**9 else line,
    )


# ---------------------------------------------------------------------------------------------
# Back to data and YAML; changing one field
# ---------------------------------------------------------------------------------------------


def to_data(scenario: Scenario) -> dict[str, Any]:
    """Plain Python data (datetimes kept) that validates back to ``scenario``.

    Optional fields left out of the file are kept as None, so that a field path
    (``threat_types[IRBM-X].decoys``, ``sensor_types[AN/TPY-2].discrimination``) can set a
    field the file did not write: a sweep or a study can vary it."""
    return scenario.model_dump(mode="python", by_alias=True)


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """JSON-compatible data (the epoch as an ISO 8601 string) of a scenario."""
    return scenario.model_dump(mode="json", by_alias=True, exclude_none=True)


def scenario_hash(scenario: Scenario) -> str:
    """The scenario's one hash (ledger headers, the store, reports): SHA-256 of the RFC 8785
    canonical JSON (``jointbmd.canonical``) of the validated scenario without its campaign
    section.

    Canonical (sorted keys, validated values), so comments, key order and spelling of the YAML do
    not change it, while any change to a value does; the campaign section says how to run the
    scenario, not what it is.
    """
    from ..canonical import sha256_hex

    data = scenario_to_dict(scenario)
    data.pop("campaign", None)
    return sha256_hex(data)


def scenario_to_yaml(scenario: Scenario) -> str:
    """YAML text of a scenario; ``loads_scenario`` of it gives back an equal scenario."""
    return yaml.safe_dump(
        scenario_to_dict(scenario), sort_keys=False, allow_unicode=True, width=100
    )


def set_field(scenario: Scenario, path: str, value: Any) -> Scenario:
    """A validated copy of ``scenario`` with the field at ``path`` set to ``value``.

    ``path`` uses the syntax of ``jointbmd.scenario.paths`` (``links[0].latency_s``,
    ``interceptor_types[SM-3 Block IA].burnout_speed_mps``). An unknown path, or a value the
    field does not accept, raises ``UserError``.
    """
    data = to_data(scenario)
    container, key = resolve_path(data, path)
    here = format_path(loc_of(data, path))
    container[key] = value
    try:
        return validate_data(data)
    except UserError as error:
        reason = error.reason
        if error.field and error.field not in (path, here):
            reason = f"{error.field}: {reason}"
        raise UserError(reason, field=path) from None


__all__ = [
    "BUILTIN_DIR",
    "builtin_names",
    "builtin_text",
    "line_of",
    "load_scenario",
    "loads_scenario",
    "parse_yaml",
    "scenario_to_dict",
    "scenario_to_yaml",
    "set_field",
    "to_data",
    "validate_data",
]
