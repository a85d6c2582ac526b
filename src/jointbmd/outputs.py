"""Where jointbmd may write: safe file-name components and a command's list of outputs.

In: names from a scenario that become parts of file names; the files a command is about to
write and the files it reads. Out: nothing, or a ``UserError`` naming the flag, the file and the
reason -- raised before anything is written. Two rules, stated here once so that every field and
command inherits them:

1. **Safe components.** A scenario name that becomes a file or directory name (a partner's, the
   fusion centre's, an arrangement's: their ledgers and key files are named after them) must be
   one path component on every common file system: ``component_problem`` says why a name is
   not. The schema refuses such names at load (``jointbmd.scenario.schema.NodeName``), so a
   name like ``../x``, ``/abs/x``, ``.hidden``, ``a:b`` or ``CON`` never reaches a path.
2. **Planned outputs.** A command lists every file it will write (``Output``) and its inputs,
   and ``check_outputs`` refuses, before anything is written, when

   - two outputs are the same file (compared case-folded, as on macOS and Windows);
   - an output is one of the inputs (``track S.yaml --ledger S.yaml``), or lies outside the
     directory it was asked for;
   - an output exists and is a directory, or a file that is neither empty nor of the kind the
     command writes (its first bytes, ``MAGIC``): jointbmd replaces only its own files;
   - the place cannot be written (a parent that is a file, a directory without write access).

The results store has a stricter rule of its own (``jointbmd.store``: only a new path, an empty
file or a jointbmd store is opened for writing).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jointbmd.errors import UserError

# Characters no common file system accepts in a name (Windows' set includes POSIX's '/').
_FORBIDDEN = frozenset('/\\:*?"<>|')
# Names Windows reserves for devices, with or without an extension.
_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)
# A component is at most 255 bytes on ext4, APFS and NTFS; the longest suffix jointbmd adds to a
# name is ".key.pem" (8 bytes), so names keep well below.
MAX_COMPONENT_BYTES = 200

# What jointbmd's own files start with: an existing file of that kind may be replaced.
MAGIC = {
    "ledger": (b'{"format":"jointbmd-ledger/',),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "parquet": (b"PAR1",),
    "records": (b'{"table":',),
}


def invisible_problem(text: str) -> str | None:
    """Why ``text`` cannot be a name shown to people: control characters (tab, DEL), invisible or
    direction-changing format characters (U+200B, U+202E), unassigned or private-use code points,
    and spaces other than the plain one. None when it can."""
    for char in text:
        category = unicodedata.category(char)
        if category[0] == "C" or (category[0] == "Z" and char != " "):
            return (
                f"contains the invisible or control character U+{ord(char):04X} "
                f"({unicodedata.name(char, category)})"
            )
    return None


def component_problem(name: str) -> str | None:
    """Why ``name`` cannot be one file-name component on POSIX, macOS and Windows; None if it
    can. Names here are also shown to people, so ``invisible_problem`` applies first."""
    problem = invisible_problem(name)
    if problem:
        return problem
    if not name or name != name.strip():
        return "a name that names files may not be empty or start or end with a space"
    bad = sorted({c for c in name if c in _FORBIDDEN})
    if bad:
        return f"names files, so it may not contain {' '.join(repr(c) for c in bad)}"
    if name.startswith(".") or name.endswith("."):
        return "names files, so it may not start or end with '.'"
    if name.split(".")[0].upper() in _DEVICES:
        return f"names files, and {name.split('.')[0]!r} is a device name on Windows"
    if len(name.encode("utf-8")) > MAX_COMPONENT_BYTES:
        return f"names files, so it may be at most {MAX_COMPONENT_BYTES} bytes of UTF-8"
    return None


def safe_component(name: str, what: str = "name") -> str:
    """``name`` when it is a safe component, else a ``UserError``."""
    problem = component_problem(name)
    if problem:
        raise UserError(f"{what} {name!r} {problem}")
    return name


@dataclass(frozen=True)
class Output:
    """One file a command will write: its path, the flag that asked for it, the directory it
    must stay inside (the flag's value, when that is a directory) and its kind (``MAGIC``)."""

    path: Path
    field: str
    kind: str
    root: Path | None = None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path)).casefold()


def _existing_ancestor(path: Path) -> Path:
    here = Path(os.path.abspath(path)).parent
    while not here.exists() and here != here.parent:
        here = here.parent
    return here


def check_outputs(outputs: Sequence[Output], inputs: Iterable[str | Path] = ()) -> None:
    """Refuse (``UserError``) before anything is written; see the module notes for the rules."""
    inputs = [Path(p) for p in inputs if p is not None]
    seen: dict[str, Output] = {}
    for out in outputs:
        where = str(out.path)
        key = _key(out.path)
        if key in seen:
            raise UserError(
                f"two outputs would be the same file ({seen[key].path} and {out.path})",
                field=out.field,
                file=where,
            )
        seen[key] = out
        if out.root is not None:
            root = os.path.realpath(out.root)
            if os.path.commonpath([root, os.path.realpath(out.path)]) != root:
                raise UserError(f"would be written outside {out.root}", field=out.field, file=where)
        for source in inputs:
            if _same_file(out.path, source):
                raise UserError(
                    f"is an input of this command ({source}); it would be overwritten",
                    field=out.field,
                    file=where,
                )
        _check_replaceable(out)
        _check_writable(out)


def _check_replaceable(out: Output) -> None:
    where = str(out.path)
    if out.path.is_dir():
        raise UserError("is a directory; a file is needed here", field=out.field, file=where)
    if not out.path.exists():
        return
    try:
        with out.path.open("rb") as handle:
            head = handle.read(64)
    except OSError as error:
        raise UserError(f"cannot read: {error.strerror}", field=out.field, file=where) from None
    if head and not head.startswith(MAGIC[out.kind]):
        raise UserError(
            f"exists and is not a jointbmd {out.kind} file: it is left as it is (move it away "
            "or choose another place)",
            field=out.field,
            file=where,
        )


def _check_writable(out: Output) -> None:
    where = str(out.path)
    ancestor = _existing_ancestor(out.path)
    if not ancestor.is_dir():
        raise UserError(f"{ancestor} is not a directory", field=out.field, file=where)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(
            f"cannot write in {ancestor} (permission denied)", field=out.field, file=where
        )
    if out.path.exists() and not os.access(out.path, os.W_OK):
        raise UserError("cannot write the file (permission denied)", field=out.field, file=where)


def make_parents(outputs: Sequence[Output]) -> None:
    """Create the directories the outputs go in; an ``OSError`` becomes a ``UserError``."""
    for out in outputs:
        try:
            out.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UserError(
                f"cannot create the directory: {error.strerror or error}",
                field=out.field,
                file=str(out.path.parent),
            ) from None


def check_directory_flag(path: Path, field: str) -> None:
    """A flag naming a directory to write into: it may be new or a directory, not a file."""
    if path.exists() and not path.is_dir():
        raise UserError("exists and is not a directory", field=field, file=str(path))


__all__ = [
    "MAGIC",
    "MAX_COMPONENT_BYTES",
    "Output",
    "check_directory_flag",
    "check_outputs",
    "component_problem",
    "invisible_problem",
    "make_parents",
    "safe_component",
]
