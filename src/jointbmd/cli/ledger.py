"""``jointbmd ledger verify|compare|export``: check owner-signed, hash-chained ledgers and compare
the fused pictures they hold.

``verify FILE [--keys DIR] [--head INDEX:HASH] [--allow-unsealed] [--allow-unsigned] [--json]``
exits 0 on an intact ledger, 1 when verification fails (one line on stderr naming the first bad
entry and why), 2 on a user error (missing, unreadable or non-ledger file, bad flag). By default
a ledger must carry its owner's signature on every line and end with the owner's seal (see
`jointbmd.exchange.ledger` for what that proves and what it cannot).
``compare A B`` exits 0 when both ledgers hold the identical fused picture, 1 otherwise;
``export FILE`` prints the picture summary. Both verify their ledgers first, with the same
``--keys``, ``--allow-unsealed`` and ``--allow-unsigned``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer

from jointbmd._lazy import lazy
from jointbmd.errors import UserError

from ._app import ledger_app
from ._output import print_json, print_table

if TYPE_CHECKING:  # pragma: no cover
    from jointbmd.exchange import KeyRing

exchange = lazy("jointbmd.exchange")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
KeysOption = Annotated[
    Path | None,
    typer.Option(
        "--keys",
        help="Directory of NAME.pub.pem files to trust instead of the keys in the ledger header.",
    ),
]

AllowUnsealed = Annotated[
    bool,
    typer.Option(
        "--allow-unsealed",
        help="Accept a ledger without its owner's final seal (a run that stopped early); "
        "entries cut off its end then go unnoticed.",
    ),
]
AllowUnsigned = Annotated[
    bool,
    typer.Option(
        "--allow-unsigned",
        help="Accept a ledger whose lines carry no owner signature; its chain then only shows "
        "accidental damage, since anyone can recompute it.",
    ),
]


def _trusted_keys(keys: Path | None) -> KeyRing | None:
    if keys is None:
        return None
    if not keys.is_dir():
        raise UserError("not a directory", field="--keys", file=str(keys))
    try:
        ring = exchange.KeyRing.load(keys)
    except (ValueError, OSError) as error:
        raise UserError(f"cannot load keys: {error}", field="--keys") from None
    if len(ring) == 0:
        raise UserError("no NAME.pub.pem files in the directory", field="--keys", file=str(keys))
    return ring


def _fail(line: str) -> None:
    sys.stderr.write("jointbmd: " + " ".join(line.split()) + "\n")
    raise click.exceptions.Exit(1)


@ledger_app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="Ledger file (JSON lines).")],
    keys: KeysOption = None,
    head: Annotated[
        str | None,
        typer.Option("--head", help="Anchor INDEX:HASH recorded earlier; fail if it was lost."),
    ] = None,
    allow_unsealed: AllowUnsealed = False,
    allow_unsigned: AllowUnsigned = False,
    json_output: JsonFlag = False,
) -> None:
    """Check the hash chain, the owner's signatures and seal, and every message signature."""
    report = exchange.verify_ledger(
        file,
        _trusted_keys(keys),
        expected_head=head,
        require_seal=not allow_unsealed,
        allow_unsigned=allow_unsigned,
    )
    if json_output:
        print_json(report.to_json())
    else:
        state = "intact" if report.ok else f"BAD at entry {report.first_bad}: {report.reason}"
        signed = "signed" if report.signed else "unsigned"
        sealed = "sealed" if report.sealed else "not sealed"
        typer.echo(
            f"ledger {file}: {state}; {report.entries} entries; owner {report.owner}; {signed}; "
            f"{sealed}; keys from {report.keys_from}\n"
            f"head {report.head}  (INDEX:HASH of the last good entry)"
        )
        if report.meta:
            typer.echo("run " + ", ".join(f"{k}={v}" for k, v in sorted(report.meta.items())))
    if not report.ok:
        _fail(f"{file}: verification failed at entry {report.first_bad}: {report.reason}")


def _picture(file: Path, keys: KeyRing | None, allow_unsealed: bool, allow_unsigned: bool) -> dict:
    try:
        return exchange.export_picture(
            file, keys, require_seal=not allow_unsealed, allow_unsigned=allow_unsigned
        )
    except exchange.LedgerInvalid as error:
        _fail(f"{error}")
        raise  # unreachable: _fail exits


@ledger_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="Ledger file.")],
    keys: KeysOption = None,
    allow_unsealed: AllowUnsealed = False,
    allow_unsigned: AllowUnsigned = False,
) -> None:
    """Print the canonical summary of the fused pictures recorded in a verified ledger (JSON)."""
    print_json(_picture(file, _trusted_keys(keys), allow_unsealed, allow_unsigned))


@ledger_app.command("compare")
def compare(
    a: Annotated[Path, typer.Argument(help="First partner's ledger.")],
    b: Annotated[Path, typer.Argument(help="Second partner's ledger.")],
    keys: KeysOption = None,
    allow_unsealed: AllowUnsealed = False,
    allow_unsigned: AllowUnsigned = False,
    json_output: JsonFlag = False,
) -> None:
    """Prove two partners received the same fused picture (exit 1 if not)."""
    ring = _trusted_keys(keys)
    picture_a = _picture(a, ring, allow_unsealed, allow_unsigned)
    picture_b = _picture(b, ring, allow_unsealed, allow_unsigned)
    runs = (picture_a.get("run"), picture_b.get("run"))
    if None not in runs and runs[0] != runs[1]:
        _fail(f"{a} and {b} record different runs ({runs[0]} and {runs[1]}): nothing to compare")
    result = exchange.compare_pictures(picture_a, picture_b)
    if json_output:
        print_json(
            {
                "a": {"path": str(a), "count": picture_a["count"], "digest": picture_a["digest"]},
                "b": {"path": str(b), "count": picture_b["count"], "digest": picture_b["digest"]},
                **result.to_json(),
            }
        )
    else:
        print_table(
            "fused pictures",
            ["identical", "consistent", "common", "only in A", "only in B", "conflicts"],
            [[result.identical, result.consistent, result.common, len(result.only_a),
              len(result.only_b), len(result.conflicts)]],
        )  # fmt: skip
    if not result.identical:
        _fail(
            f"pictures differ: {len(result.only_a)} only in {a}, {len(result.only_b)} only in "
            f"{b}, {len(result.conflicts)} conflicting"
        )
