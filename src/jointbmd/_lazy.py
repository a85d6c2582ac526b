"""Modules imported on first use, so that the command line starts fast.

``np = lazy("numpy")`` binds a stand-in; the module is imported the first time an attribute is
read (``np.isfinite``), then every read goes to it. The command-line modules use this for their
heavy dependencies (numpy, pydantic through the scenario schema, DuckDB, the simulation): every
command registers itself at start-up, but only the one that runs pays for what it uses
(benchmarks/bench_startup.py measures it).
"""

from __future__ import annotations

import importlib
from types import ModuleType


class _Lazy:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name}>"


def lazy(name: str) -> ModuleType:
    """A stand-in for module ``name`` that imports it when first used."""
    return _Lazy(name)  # type: ignore[return-value]
