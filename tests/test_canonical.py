"""Canonical bytes against RFC 8785 (JSON Canonicalization Scheme): its Appendix B number
examples, its section 3.2.3 sorting and 3.2.4 whole-object examples, and the reference package
``rfc8785`` on random doubles; and a signed message re-verified the way a partner's own verifier
in another language would (parse, canonicalise with any RFC 8785 library, check Ed25519)."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from jointbmd.canonical import canonical_json
from jointbmd.exchange import FusedPicture, KeyRing, Signer, generate_keys

# RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


def _double(bits: str) -> float:
    return struct.unpack(">d", bytes.fromhex(bits))[0]


@pytest.mark.parametrize(("bits", "text"), APPENDIX_B)
def test_numbers_as_rfc8785_appendix_b(bits, text):
    x = _double(bits)
    assert canonical_json(x) == text.encode()
    assert canonical_json([x, {"k": x}]) == f'[{text},{{"k":{text}}}]'.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_nan_and_infinity_have_no_canonical_form(bits):
    with pytest.raises(ValueError):
        canonical_json([_double(bits)])


def test_the_cases_where_python_json_differs():
    # Python's json writes 1e+16, 2.0, 1e-07, -0.0 and escapes non-ASCII; RFC 8785 does not.
    assert canonical_json([1e16, 2.0, 1e-7, -0.0]) == b"[10000000000000000,2,1e-7,0]"
    assert canonical_json({"name": "Zürich €"}) == '{"name":"Zürich €"}'.encode()


def test_integers_outside_the_exact_range_are_refused():
    assert canonical_json(2**53 - 1) == b"9007199254740991"
    for n in (2**53, -(2**53), 10**20):
        with pytest.raises(ValueError):
            canonical_json({"n": [n]})


def test_rfc8785_section_3_2_3_sorts_by_utf16_code_units():
    data = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    text = canonical_json(data).decode("utf-8")
    order = list(json.loads(text, object_pairs_hook=lambda pairs: [k for k, _ in pairs]))
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_rfc8785_section_3_2_4_example():
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(json.loads(source)) == expected.encode("utf-8")


@settings(max_examples=400, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**53) + 1, 2**53 - 1)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=30,
    )
)
def test_same_bytes_as_the_reference_package(value):
    assert canonical_json(value) == rfc8785.dumps(value)


def test_random_doubles_same_as_the_reference_package():
    rng = np.random.default_rng(8785)
    bits = rng.integers(0, 2**63, size=20_000, dtype=np.uint64) * np.uint64(2)
    values = [x for x in bits.view(np.float64).tolist() if math.isfinite(x)]
    values += (rng.normal(size=2000) * 10.0 ** rng.integers(-30, 30, size=2000)).tolist()
    assert canonical_json(values) == rfc8785.dumps(values)


def test_a_partner_verifies_a_signed_message_with_any_rfc8785_library():
    keys = generate_keys(["Centre"], seed=8785)
    rng = np.random.default_rng(1)
    P = np.stack([np.eye(6) * 1e4] * 2)
    body = FusedPicture(
        t=120.0,
        track_id=[1, 2],
        t_track=[120.0, 120.0],
        x=rng.normal(size=(2, 6)) * 1e6,
        P=P,
        quality=[1e-7, 2.0],
        firm=[True, False],
        sources=[["NATO"], ["NATO", "Russia"]],
    )
    message = Signer("Centre", keys["Centre"]).sign(body, -0.0)
    # What a verifier elsewhere does: parse, canonicalise, compare, check the signature.
    parsed = json.loads(message.payload.decode("utf-8"))
    assert rfc8785.dumps(parsed) == message.payload
    public = KeyRing.from_private(keys).get("Centre")
    public.verify(message.signature, rfc8785.dumps(parsed))  # raises if it does not verify


def test_strings_that_look_like_numbers_are_left_alone():
    value = {"a": "1.0", "b": ["-0", 2.0], "c": "1e-05", "d": ",1234567890123456789", "e": -0.0}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value) == (
        b'{"a":"1.0","b":["-0",2],"c":"1e-05","d":",1234567890123456789","e":0}'
    )
