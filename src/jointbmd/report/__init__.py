"""Reports: what a stored campaign shows a reader.

In: a results store (``jointbmd.store.Store``) and a campaign id. Out: PNG plots
(``jointbmd.report.plots``): probability of no leak against the swept parameter by arrangement,
interceptors spent, time-to-first-launch distributions, and a map of the scenario.
"""

from __future__ import annotations

__all__ = ["plots"]
