"""Run jointbmd's benchmarks against their peers and print the ratios.

    python benchmarks/run.py [NAME ...] [--quick] [--json]

Each benchmark is a module ``benchmarks/bench_<name>.py`` with a function ``run(quick: bool) ->
dict``. The dict holds at least ``benchmark`` (its name), ``seconds`` (``"jointbmd"`` and each
peer's name -> median seconds), ``speedup`` (peer -> peer seconds / jointbmd seconds) and
``accuracy`` (what was compared, so that the speed-up is at equal accuracy). With ``--json`` each
benchmark prints one JSON object per line; otherwise a short human summary.

Peers (scipy, Stone Soup, FilterPy) are test/bench dependencies: ``pip install -e '.[bench]'``.
Benchmarks are not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def load(name: str):
    path = HERE / f"bench_{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _plain(value):
    """JSON-safe copy (numpy scalars -> float)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of {names} (default all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        print(
            f"benchmarks/run.py: unknown benchmark {unknown[0]!r}; known: {names}", file=sys.stderr
        )
        return 2
    sys.path.insert(0, str(HERE))
    for name in args.names or names:
        started = time.perf_counter()
        row = _plain(load(name).run(quick=args.quick))
        row.setdefault("benchmark", name)
        row["wall_seconds_total"] = time.perf_counter() - started
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        print(f"== {name}")
        for peer, seconds in row.get("seconds", {}).items():
            print(f"  {peer:<28} {seconds:10.4f} s")
        for peer, ratio in row.get("speedup", {}).items():
            print(f"  speed-up vs {peer:<16} {ratio:10.1f} x")
        for key, value in row.items():
            if key not in ("benchmark", "seconds", "speedup"):
                print(f"  {key}: {json.dumps(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
