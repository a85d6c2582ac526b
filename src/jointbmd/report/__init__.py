"""Reports: what a stored campaign shows a reader.

In: a results store (``jointbmd.store.Store``) and a campaign id. Out: PNG plots
(``jointbmd.report.plots``): probability of no leak against the swept parameter by arrangement,
interceptors spent, time-to-first-launch distributions, and a map of the scenario.

In: one replication (scenario, arrangement, replication, seed). Out: its ``scene`` (every record
the viewer draws), its CZML (``czml``) and the offline Cesium page (``viewer``, ``jointbmd view``).
"""

from __future__ import annotations

__all__ = ["plots"]
