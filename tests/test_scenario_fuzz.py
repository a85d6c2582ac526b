"""Property tests: mutate the valid built-in scenario at random -- delete keys, change types,
insert NaN / huge / negative values, rename references, truncate the text, flip bytes -- and the
loader only ever raises ``UserError`` (one line), never anything else; the CLI answers such a
file with exit 2 and one line on stderr."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jointbmd.cli import main
from jointbmd.errors import UserError
from jointbmd.scenario import Scenario, builtin_text, loads_scenario
from jointbmd.scenario.loader import decode_text

TEXT = builtin_text("lisbon2010")
DATA = yaml.safe_load(TEXT)
FILE = "fuzz.yaml"


def to_yaml_text(data: Any) -> str:
    """Indented JSON, which YAML reads, with floats written so that YAML 1.1 reads them back as
    floats (``.nan``, ``.inf``, ``1.5e+308``). Much faster than ``yaml.dump``."""
    floats: list[str] = []

    def mark(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k) if not isinstance(k, str) else k: mark(v) for k, v in value.items()}
        if isinstance(value, list):
            return [mark(v) for v in value]
        if isinstance(value, float):
            if math.isnan(value):
                text = ".nan"
            elif math.isinf(value):
                text = ".inf" if value > 0 else "-.inf"
            else:
                text = f"{value:.17e}"
            floats.append(text)
            return f"\x00float{len(floats) - 1}\x00"
        if isinstance(value, dt.date):
            return value.isoformat()
        return value

    text = json.dumps(mark(data), indent=1, ensure_ascii=False)
    for index, value in enumerate(floats):
        text = text.replace(json.dumps(f"\x00float{index}\x00"), value, 1)
    return text


NASTY_VALUES = st.one_of(
    st.sampled_from(
        [
            None,
            True,
            "",
            "NATO",
            "DFC",
            "SM-3 Block IA",
            "minimum-energy",
            "2012-01-01",
            float("nan"),
            float("inf"),
            float("-inf"),
            1e308,
            -1e308,
            10**40,
            -(10**40),
            -1,
            0,
            [],
            {},
            [[1, 2], [3, 4]],
            {"apogee_km": 100},
            {"kind": "radar"},
            "\x00",
            "x" * 300,
        ]
    ),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)


def _places(data: Any, loc: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [loc] if loc else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _places(value, (*loc, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _places(value, (*loc, index))
    return out


def _parent(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc[:-1]:
        data = data[part]
    return data


@st.composite
def mutated_data(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(DATA)
    for _ in range(draw(st.integers(1, 4))):
        places = _places(data)
        if not places:
            break
        loc = draw(st.sampled_from(places))
        parent = _parent(data, loc)
        op = draw(st.sampled_from(["delete", "replace", "insert", "rename-reference"]))
        if op == "delete":
            del parent[loc[-1]]
        elif op == "replace":
            parent[loc[-1]] = draw(NASTY_VALUES)
        elif op == "insert":
            if isinstance(parent, dict):
                key = draw(st.sampled_from(["colour", "name", "kind", "source", "type", "partner"]))
                parent[key] = draw(NASTY_VALUES)
            else:
                parent.insert(draw(st.integers(0, len(parent))), draw(NASTY_VALUES))
        else:
            value = parent[loc[-1]]
            if isinstance(value, str):
                parent[loc[-1]] = value + draw(st.sampled_from(["x", " ", "]", "[0]", ".", "\n"]))
    return data


def _assert_only_user_error(text: str) -> None:
    try:
        scenario = loads_scenario(text, file=FILE)
    except UserError as error:
        line = error.one_line()
        assert "\n" not in line
        assert line.startswith(FILE + ":"), line
        assert error.reason
    else:
        assert isinstance(scenario, Scenario)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_data())
def test_structural_mutations_only_raise_user_error(data):
    _assert_only_user_error(to_yaml_text(data))


def test_fast_writer_round_trips_the_builtin():
    assert loads_scenario(to_yaml_text(DATA), file=FILE) == loads_scenario(TEXT, file=FILE)


TOKENS = [
    "[",
    "]",
    "{",
    "}",
    ":",
    "- ",
    "\n",
    "\t",
    "&a ",
    "*a ",
    "!!binary ",
    "!!python/name:os.system ",
    "'",
    '"',
    "? ",
    ".nan",
    ".inf",
    "1e999",
    "---\n",
    "|",
    "%YAML 1.1\n",
    "<<: *a\n",
    "~",
    "#",
]


@st.composite
def mutated_text(draw: st.DrawFn) -> bytes:
    raw = TEXT.encode("utf-8")
    op = draw(st.sampled_from(["truncate", "insert", "cut", "flip", "random"]))
    if op == "truncate":
        return raw[: draw(st.integers(0, len(raw)))]
    if op == "insert":
        at = draw(st.integers(0, len(raw)))
        token = draw(st.sampled_from(TOKENS)).encode()
        return raw[:at] + token + raw[at:]
    if op == "cut":
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + raw[at + draw(st.integers(1, 200)) :]
    if op == "flip":
        out = bytearray(raw)
        for _ in range(draw(st.integers(1, 8))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    return draw(st.binary(max_size=300))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_text())
def test_text_mutations_only_raise_user_error(raw):
    try:
        text = decode_text(raw, FILE)
    except UserError as error:
        assert "\n" not in error.one_line()
        return
    _assert_only_user_error(text)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=mutated_text())
def test_cli_answers_mutations_with_one_line_and_exit_2(raw, fuzz_dir):
    path = fuzz_dir / "mutated.yaml"
    path.write_bytes(raw)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        with pytest.raises(SystemExit) as info:
            main(["scenario", "check", str(path), "--json"])
    if info.value.code == 0:
        # A valid file may still draw warnings (scenario check's advice: a sector gap, an
        # unreachable aimpoint), one line each; never anything else.
        for line in stderr.getvalue().splitlines():
            assert line.startswith("jointbmd: warning: "), line
        assert '"ok": true' in stdout.getvalue()
    else:
        assert info.value.code == 2
        err = stderr.getvalue()
        assert err.count("\n") == 1 and "Traceback" not in err
        assert err.startswith(f"jointbmd: {path}:")
