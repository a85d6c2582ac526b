"""The defaults every command and the Python API share (docs/design.md, Conventions).

Kept free of heavy imports: the command line reads them at start-up.
"""

from __future__ import annotations

# The results store a command reads or writes when --store is not given.
DEFAULT_STORE = "jointbmd-results.duckdb"
# The master seed when neither --seed nor the scenario's campaign.seed gives one.
DEFAULT_SEED = 0
