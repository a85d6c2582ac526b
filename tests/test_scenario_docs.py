"""The scenario docs and the JSON Schema say the same thing about every key: every property has a
description, and docs/scenario.md's key reference is exactly the one made from them."""

from __future__ import annotations

from pathlib import Path

from jointbmd.scenario import json_schema
from jointbmd.scenario.descriptions import DESCRIPTIONS, key_tables

DOCS = Path(__file__).resolve().parent.parent / "docs" / "scenario.md"


def _properties(node, where="Scenario"):
    """Every (where, key, property) in the schema, nested alternatives included."""
    for key, prop in node.get("properties", {}).items():
        yield where, key, prop
    for name, definition in node.get("$defs", {}).items():
        yield from _properties(definition, name)
    for option in node.get("anyOf", []) + node.get("oneOf", []):
        yield from _properties(option, where)


def test_every_schema_property_has_a_description():
    missing = [f"{w}.{k}" for w, k, p in _properties(json_schema()) if not p.get("description")]
    assert missing == []


def test_descriptions_name_only_keys_that_exist():
    schema = json_schema()
    defs = {"Scenario": schema, **schema["$defs"]}
    unknown = [
        f"{section}.{key}"
        for section, keys in DESCRIPTIONS.items()
        if section in defs
        for key in keys
        if key not in defs[section].get("properties", {})
    ]
    assert unknown == []


def test_the_docs_key_reference_is_the_generated_one():
    assert key_tables() in DOCS.read_text(encoding="utf-8")
