"""Plots of the front door's DataFrames (``jointbmd.api``), for notebooks.

In: a ``Results.to_dataframe()`` frame (one row per sweep point and arrangement, a metric and its
``<metric>_low``/``<metric>_high`` interval columns) and the swept paths.
Out: a matplotlib Axes; a PNG when asked. Unlike :mod:`jointbmd.report.plots` this module does
not choose matplotlib's backend: a notebook keeps its inline one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LABELS = {
    "p_no_leak": "P(no warhead leaks)",
    "expected_leakers": "expected leakers per replication",
    "interceptors_spent": "interceptors spent per replication",
}


def dataframe_plot(
    frame: Any, metric: str, sweep: list[str], *, ax: Any = None, path: str | Path | None = None
):
    """``metric`` by arrangement with its 95 % interval: bars without a sweep, else one line per
    arrangement against the first swept input (other swept inputs pooled into separate lines)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from jointbmd.errors import UserError

    if metric not in LABELS:
        raise UserError(f"unknown metric {metric!r} (one of {', '.join(LABELS)})", field="metric")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    low = (frame[metric] - frame[f"{metric}_low"]).clip(lower=0).fillna(0).to_numpy()
    high = (frame[f"{metric}_high"] - frame[metric]).clip(lower=0).fillna(0).to_numpy()
    names = list(dict.fromkeys(frame["arrangement"]))
    if not sweep:
        xs = np.arange(len(frame))
        colours = [plt.get_cmap("tab10")(names.index(a) % 10) for a in frame["arrangement"]]
        ax.bar(xs, frame[metric], yerr=[low, high], capsize=5, alpha=0.8, color=colours)
        ax.set_xticks(xs, list(frame["arrangement"]), rotation=20, ha="right")
        ax.set_xlabel("arrangement")
    else:
        x = sweep[0]
        keys = ["arrangement", *sweep[1:]]
        for key, group in frame.groupby(keys, sort=False):
            key = key if isinstance(key, tuple) else (key,)
            label = ", ".join(str(k) for k in key)
            rows = group.index
            ax.errorbar(group[x], group[metric], yerr=[low[rows], high[rows]], marker="o",
                        capsize=4, label=label)  # fmt: skip
        ax.set_xlabel(x)
        ax.legend(fontsize=8)
    ax.set_ylabel(LABELS[metric])
    if metric == "p_no_leak":
        ax.set_ylim(-0.02, 1.05)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    if path is not None:
        ax.figure.savefig(path)
    return ax
