"""Start-up time of the ``jointbmd`` command: ``--help``, ``--version`` and
``scenario check lisbon2010``, each in a fresh interpreter, against a bare ``python -c pass``.

    python benchmarks/run.py startup [--quick] [--json]

Method: each command runs ``REPEATS`` times as ``python -c "from jointbmd.cli import main; main()"``
(what the console script does, without the pyenv shim in front) with ``PYTHONPATH`` set to this
checkout's ``src``; the row holds the median wall time and the median CPU time (user + system of the
child, from ``os.wait4``). ``python -c pass`` is the floor no command can go under; ``speedup``
is that floor over each command (1.0 would be "costs nothing beyond the interpreter").
``modules`` counts the modules each command leaves imported (``sys.modules`` at exit), a measure
of how lazy the imports are that does not depend on the machine's load.

Recorded on the shared 2-core machine (load about 4.7), this file run against the tree before
the imports were made lazy and after, interleaved, CPU seconds (user + system) per command:
``--help`` 0.98-1.01 before, 0.19 after (581 modules -> 207); ``scenario check lisbon2010``
0.87-1.00 before, 0.78-0.86 after although it now also runs the warnings (numpy and shapely,
about 0.2 s; pydantic building the scenario schema is the largest remaining part, about 0.3 s).
Wall times under that load: ``--help`` 2.5 s -> 0.46 s, ``scenario check`` 2.3-2.6 s -> 1.6-1.8 s.

Where ``scenario check lisbon2010`` spends its CPU, measured in one process phase by phase
(``time.process_time``, three runs, load 5-12): the command line (typer, click) 0.07 s; loading
the scenario 0.18-0.22 s, nearly all of it importing pydantic (0.09-0.12 s) and building the
schema's 31 models (0.11-0.19 s; about 0.04 s of that is Python 3.11's slow ``isinstance``
against annotated-types' runtime protocol, once per field constraint); numpy 0.08-0.09 s and
shapely 0.04 s, which the sector-gap check needs (lisbon2010 has a sectoral arrangement; a
scenario without polygons imports neither shapely nor its checks); the warnings themselves
0.004 s; the rich table 0.025 s. Neither ``defer_build`` on the models (the first validation
builds them all anyway) nor disabling pydantic's plugin scan (about 0.025 s) changed the total
beyond the noise. Going further needs the gap check without shapely or a schema without pydantic.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

COMMANDS = {
    "help": ["--help"],
    "version": ["--version"],
    "scenario_check": ["scenario", "check", "lisbon2010"],
}

_RUN = (
    "import sys, atexit\n"
    "atexit.register(lambda: sys.stderr.write('modules=%d\\n' % len(sys.modules)))\n"
    "from jointbmd.cli import main\n"
    "sys.argv = ['jointbmd'] + sys.argv[1:]\n"
    "main()\n"
)


def _time(argv: list[str], env: dict) -> tuple[float, float, str]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, err


def run(quick: bool) -> dict:
    repeats = 3 if quick else 7
    env = dict(os.environ, PYTHONPATH=str(SRC))
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}
    modules: dict[str, int] = {}
    walls, cpus = [], []
    for _ in range(repeats):
        wall, used, _ = _time([sys.executable, "-c", "pass"], env)
        walls.append(wall)
        cpus.append(used)
    floor = statistics.median(walls)
    seconds["python -c pass"] = floor
    cpu["python -c pass"] = statistics.median(cpus)
    for name, args in COMMANDS.items():
        walls, cpus = [], []
        err = ""
        for _ in range(repeats):
            wall, used, err = _time([sys.executable, "-c", _RUN, *args], env)
            walls.append(wall)
            cpus.append(used)
        seconds[name] = statistics.median(walls)
        cpu[name] = statistics.median(cpus)
        counts = [line for line in err.splitlines() if line.startswith("modules=")]
        modules[name] = int(counts[-1].split("=")[1]) if counts else -1
    return {
        "benchmark": "startup",
        "seconds": {"jointbmd": seconds["help"], **seconds},
        "speedup": {name: floor / seconds[name] for name in COMMANDS},
        "cpu_seconds": cpu,
        "modules": modules,
        "repeats": repeats,
        "accuracy": "same commands, same output; times are medians of fresh processes",
    }
