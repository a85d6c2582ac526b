"""Project errors.

A `UserError` is a mistake the user can fix (a scenario field, a command-line flag). It carries
where the mistake is -- the file, the field path, the YAML line when known -- and why. The CLI
prints it as one line and exits with status 2; anything else is a bug and exits with status 1.
"""

from __future__ import annotations


class JointBMDError(Exception):
    """Base class of every error jointbmd raises on purpose."""


class UserError(JointBMDError):
    """A mistake in user input, reported as ``FILE: FIELD: REASON (line N)``.

    Parameters
    ----------
    reason:
        Why the input is wrong, in words a user understands.
    file:
        The file the input came from, if any (a path or a built-in scenario name).
    field:
        Dotted field path inside the file (``sites[2].lat_deg``) or the flag (``--launch``).
    line:
        1-based line number in the file, when known.
    """

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.field = field
        self.line = line
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.file, self.field) if p]
        where = ": ".join(parts)
        text = f"{where}: {self.reason}" if where else self.reason
        if self.line is not None:
            text += f" (line {self.line})"
        # One line, whatever the reason text contains.
        return " ".join(text.split())
