"""Canonical JSON bytes (RFC 8785, the JSON Canonicalization Scheme): the one encoding of a JSON
value that is signed, hashed and stored.

In: a JSON value (dicts with string keys, lists or tuples, strings, bools, None, ints within
±(2**53 - 1) and finite floats). Out: its canonical UTF-8 bytes, ``canonical_json(value)``.

RFC 8785 (Rundgren, Jordan & Erdtman 2020): objects with their members sorted by key (by UTF-16
code units), no whitespace, strings with only ``"``, ``\\`` and the control characters escaped
(``\\b \\f \\n \\r \\t`` or ``\\u00xx``, other text as UTF-8), and numbers written as ECMAScript's
``Number.prototype.toString`` writes an IEEE 754 double (ECMA-262 §7.1.12.1): the shortest
decimal digits that read back to the same double, in plain notation for 1e-6 <= |x| < 1e21 and
in exponent form (``1e+21``, ``1.5e-7``) outside it, integral values without a fraction
(``2.0`` -> ``2``), and ``-0.0`` as ``0``. So a verifier in any language with an RFC 8785
library reproduces the bytes exactly.

Two paths, the same bytes: for ASCII text (every message of the exchange) the standard library's
C encoder writes the value and only the numbers whose Python form differs from ECMAScript's
(integral floats, exponent forms, negative zero) are rewritten, outside strings; text with
non-ASCII characters goes to the ``rfc8785`` package (the reference, slower).
The tests compare both with the RFC's own examples and with ``rfc8785`` on random values.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import rfc8785

#: Largest integer that every JSON reader holds exactly (an IEEE 754 double's 53-bit mantissa).
MAX_SAFE_INT = 2**53 - 1

# JSON strings, split off so that only the text between them (numbers, literals, punctuation) is
# rewritten; and the number forms whose Python spelling differs from RFC 8785's.
_STRING = re.compile(r'("[^"\\]*+(?:\\.[^"\\]*+)*+")')
# Each pattern starts with a literal, which the regular-expression engine finds with a fast scan
# (a number's other digits are never tried as a match start).
_EXPONENT = re.compile(r"e[+-]\d++")  # the tail of 1e-05, 1.5e+16
_INTEGRAL = re.compile(r"\.0(?![\d])")  # 125.0 -> 125 (integral floats below 1e16)
_MINUS_ZERO = re.compile(r"-0(?=[,\]}]|$)")  # what -0.0 became: -0 -> 0
_LONG_INT = re.compile(r"[,\[:]-?(\d{16,}+)(?![.e])")
_DIGITS = str.maketrans("0123456789", "dddddddddd")
_DELIMITERS = ",[:"
_LONG_INT_SHAPES = tuple(f"{d}{sign}{'d' * 16}" for d in _DELIMITERS for sign in ("", "-"))
# Text inside a string that one of the patterns above could mistake for a number.
_LOOKS_NUMERIC = re.compile(r"e[+-]\d|\.0|-0|[,\[:]-?\d{16}")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical bytes of a JSON value (see the module docstring).

    Raises ``ValueError`` for what has no canonical form: NaN or infinity, an integer beyond
    ±(2**53 - 1), a key that is not a string."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except TypeError as error:
        raise ValueError(f"not a JSON value: {error}") from None
    if not text.isascii():
        # Non-ASCII text: keys sort by UTF-16 code units, which differs from code points above
        # U+FFFF; the reference implementation is exact (and slower).
        return rfc8785.dumps(value)
    if not _LOOKS_NUMERIC.search("\x00".join(_STRING.findall(text))):
        # No string holds anything the number patterns could match: rewrite the text at once.
        return _ecmascript_numbers(text).encode("ascii")
    parts = _STRING.split(text)  # [between, string, between, string, ..., between]
    for i in range(0, len(parts), 2):
        parts[i] = _ecmascript_numbers(parts[i])
    return "".join(parts).encode("ascii")


def _ecmascript_numbers(text: str) -> str:
    """Rewrite the numbers of JSON text without strings from Python's ``repr`` spelling to
    ECMAScript's (they agree on the digits; they differ on integral floats, the exponent form's
    range and spelling, and negative zero). In compact JSON a number starts right after one of
    ``,[:`` (a "," is put in front, so a top-level number does too)."""
    text = "," + text
    shape = text.translate(_DIGITS)  # a quick look for integers of 16 digits or more
    if any(needle in shape for needle in _LONG_INT_SHAPES):
        for match in _LONG_INT.finditer(text):
            if int(match.group(1)) > MAX_SAFE_INT:
                raise ValueError(f"integer {match.group(1)} is outside ±(2**53 - 1)")
    if "e+" in text or "e-" in text:
        pieces, done = [], 0
        for match in _EXPONENT.finditer(text):
            start = max(text.rfind(d, 0, match.start()) for d in _DELIMITERS) + 1
            pieces += [text[done:start], es_number(float(text[start : match.end()]))]
            done = match.end()
        text = "".join(pieces) + text[done:]
    if ".0" in text:
        text = _INTEGRAL.sub("", text)
    if "-0" in text:
        text = _MINUS_ZERO.sub("0", text)
    return text[1:]


def sha256_hex(value: Any) -> str:
    """SHA-256 (hex) of a JSON value's canonical bytes."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def es_number(x: float) -> str:
    """ECMAScript's ``Number.prototype.toString`` of a finite double (ECMA-262 §7.1.12.1):
    with the shortest digits ``s`` (k of them) and the decimal exponent ``n`` such that
    x = 0.s × 10^n, plain notation when -6 < n <= 21, else ``d.ddd e±(n-1)``."""
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    text = repr(abs(x))  # the shortest round-trip digits (the same digits ECMAScript picks)
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    stripped = digits.lstrip("0")
    n = len(whole) - (len(digits) - len(stripped)) + int(exponent or 0)
    s = stripped.rstrip("0")
    k = len(s)
    if k <= n <= 21:
        body = s + "0" * (n - k)
    elif 0 < n <= 21:
        body = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + s
    else:
        e = n - 1
        body = (s if k == 1 else s[0] + "." + s[1:]) + ("e+" if e >= 0 else "e-") + str(abs(e))
    return sign + body
