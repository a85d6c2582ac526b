"""``python -m jointbmd``: the ``jointbmd`` command (how a live run starts its node processes)."""

from jointbmd.cli import main

main()
