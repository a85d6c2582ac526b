"""``jointbmd ledger verify|compare|export``: check owner-signed, hash-chained ledgers and compare
the fused pictures they hold.

``verify FILE [--keys DIR] [--head INDEX:HASH] [--allow-unsealed] [--allow-unsigned] [--json]``
exits 0 on an intact ledger, 1 when verification fails (one line on stderr naming the first bad
entry and why), 2 on a user error (missing, unreadable or non-ledger file, bad flag). By default
a ledger must carry its owner's signature on every line and end with the owner's seal (see
`jointbmd.exchange.ledger` for what that proves and what it cannot).
``compare PATH...`` (ledger files, or directories of ``NODE.ledger`` files: the partners' and,
best, the centre's) compares the fused pictures cycle by cycle: exit 0 when every ledger holds
the same pictures, 1 otherwise, naming the first cycle whose pictures differ (or that some
ledgers lack); ``export FILE`` prints the picture summary. Both verify their ledgers first, with
the same ``--keys``, ``--allow-unsealed`` and ``--allow-unsigned``.
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


@ledger_app.command("verify", short_help="Check a ledger's hash chain, signatures and seal.")
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


@ledger_app.command("export", short_help="Print the fused pictures of a verified ledger (JSON).")
def export(
    file: Annotated[Path, typer.Argument(help="Ledger file.")],
    keys: KeysOption = None,
    allow_unsealed: AllowUnsealed = False,
    allow_unsigned: AllowUnsigned = False,
) -> None:
    """Print the canonical summary of the fused pictures recorded in a verified ledger (JSON)."""
    print_json(_picture(file, _trusted_keys(keys), allow_unsealed, allow_unsigned))


def _ledger_files(paths: list[Path]) -> list[Path]:
    """Each path a ledger file, or a directory whose ``*.ledger`` files are taken (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.ledger"))
            if not found:
                raise UserError("no *.ledger files in the directory", file=str(path))
            files.extend(found)
        else:
            files.append(path)
    if len(files) < 2:
        raise UserError("give at least two ledgers (files, or directories of them)", field="PATH")
    return files


@ledger_app.command("compare", short_help="Prove the partners received the same fused pictures.")
def compare(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Partners' ledger files, or directories of NODE.ledger files."),
    ],
    keys: KeysOption = None,
    allow_unsealed: AllowUnsealed = False,
    allow_unsigned: AllowUnsigned = False,
    json_output: JsonFlag = False,
) -> None:
    """Prove the partners received the same fused pictures: every picture of one fusion cycle
    must have the same SHA-256 in every ledger that holds it (exit 1 naming the first
    difference, or a picture some ledgers lack)."""
    ring = _trusted_keys(keys)
    files = _ledger_files(paths)
    exports: dict[str, dict] = {}
    rows = []
    runs: dict[str, Path] = {}
    for file in files:
        report = exchange.verify_ledger(
            file, ring, require_seal=not allow_unsealed, allow_unsigned=allow_unsigned
        )
        if not report.ok:
            _fail(f"{file}: entry {report.first_bad}: {report.reason}")
        label = str(report.owner)
        if label in exports:
            label = f"{report.owner} ({file})"
        exports[label] = exchange.export_picture(report.messages)
        run = report.meta.get("run")
        if run is not None:
            runs.setdefault(run, file)
        rows.append((str(file), label, exports[label]["count"], exports[label]["digest"]))
    if len(runs) > 1:
        (one, a), (two, b) = list(runs.items())[:2]
        _fail(f"{a} and {b} record different runs ({one} and {two}): nothing to compare")
    result = exchange.compare_ledgers(exports)
    if json_output:
        ledgers = [{"path": p, "owner": o, "count": c, "digest": d} for p, o, c, d in rows]
        print_json({"ledgers": ledgers, **result.to_json()})
    else:
        print_table(
            "fused pictures by ledger",
            ["ledger", "owner", "pictures", "digest"],
            [[p, o, c, d[:16]] for p, o, c, d in rows],
        )
        summary = result.to_json()
        print_table(
            "compared cycle by cycle",
            ["identical", "consistent", "common", "differing", "missing"],
            [[result.identical, result.consistent, result.common, summary["differing"],
              summary["missing"]]],
        )  # fmt: skip
    if not result.identical:
        summary = result.to_json()
        if result.consistent:
            _fail(
                f"no cycle's pictures differ, but {summary['missing']} cycles are held by some "
                f"ledgers only (lost on a link, or not sent); first: {result.first.describe()}"
            )
        _fail(
            f"pictures differ: {summary['differing']} cycles with different pictures, "
            f"{summary['missing']} held by some ledgers only; first: {result.first.describe()}"
        )
