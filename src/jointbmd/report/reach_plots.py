"""Plots of ``jointbmd reach``: routes and intercept points on the offline coastlines, and
feasibility against commit time and interceptor speed.

In: a ``jointbmd.analysis.reach.ReachResult`` and a directory. Out: PNG files
(``reach_map.png``, ``reach_commit.png``, ``reach_speed.png``), their paths returned.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jointbmd import earth  # noqa: E402
from jointbmd.report.plots import read_polylines  # noqa: E402

_MARKERS = "osD^v<>ph*"


def reach_plots(result, out_dir: str | Path) -> list[Path]:
    """Write the three reach plots into ``out_dir`` (created if missing)."""
    from jointbmd.errors import UserError

    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create the plot directory: {error.strerror}",
                        field="--plot") from None  # fmt: skip
    return [_map(result, folder / "reach_map.png"), _commit(result, folder / "reach_commit.png"),
            _speed(result, folder / "reach_speed.png")]  # fmt: skip


def _lat_lon_deg(r_ecef: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    lat, lon, _ = earth.ecef_to_geodetic(r_ecef, model)
    return np.degrees(lat), np.degrees(np.mod(lon + np.pi, 2 * np.pi) - np.pi)


def _map(result, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(11, 6.5))
    for _, line in read_polylines("gshhs", (-180.0, 180.0, -10.0, 90.0)):
        ax.plot(line[:, 0], line[:, 1], color="0.7", lw=0.5)
    model = "full"
    flights = result.flights
    for i, route in enumerate(result.routes):
        r = flights.r_ecef[i]
        ok = np.all(np.isfinite(r), axis=1)
        lat, lon = _lat_lon_deg(r[ok], model)
        ax.plot(lon, lat, lw=1.0, label=route.label)
    for u in result.units:
        ax.plot(u.lon_deg, u.lat_deg, "k^", ms=7)
    for k, rule in enumerate(result.rules):
        pts = result.intercept_ecef[:, :, k].reshape(-1, 3)
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        if pts.size:
            lat, lon = _lat_lon_deg(pts, model)
            ax.scatter(lon, lat, s=18, marker=_MARKERS[k % len(_MARKERS)],
                       label=f"intercepts, commit {rule.text}")  # fmt: skip
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_title(f"{result.scenario}: threat ground tracks, fire-unit sites (triangles), "
                 "earliest intercept points")  # fmt: skip
    ax.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _labels(result) -> list[str]:
    return [f"{u.site} / {u.interceptor.name}" for u in result.units]


def _commit(result, path: Path) -> Path:
    """Latest commit after the threat's burnout per (unit, route): feasible for every commit
    earlier than the bar's end."""
    after = result.latest_commit_s - result.flights.burnout_s[:, None]  # (n, m)
    fig, ax = plt.subplots(figsize=(10, 0.35 * after.size + 2))
    labels, values = [], []
    for j, unit_label in enumerate(_labels(result)):
        for i, route in enumerate(result.routes):
            labels.append(f"{unit_label}: {route.label}")
            values.append(after[i, j] if np.isfinite(after[i, j]) else np.nan)
    y = np.arange(len(values))
    ax.barh(y, np.nan_to_num(values, nan=0.0), color=["C0" if np.isfinite(v) else "0.8"
                                                      for v in values])  # fmt: skip
    ax.set_yticks(y, labels, fontsize=6)
    ax.axvline(0.0, color="k", lw=0.8)
    ax.set_xlabel("latest interceptor launch after the threat's burnout (s); "
                  "feasible for any commit up to it (grey: never)")  # fmt: skip
    ax.set_title(f"{result.scenario}: feasibility against commit time")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _speed(result, path: Path) -> Path:
    """Minimum burnout speed per (unit, route) and commit rule, against the type's own."""
    n, m, k = result.min_speed_mps.shape
    fig, ax = plt.subplots(figsize=(10, 0.35 * n * m + 2))
    y = np.arange(n * m)
    labels = [f"{u}: {r.label}" for u in _labels(result) for r in result.routes]
    for q, rule in enumerate(result.rules):
        v = result.min_speed_mps[:, :, q].T.ravel() / 1e3
        ax.scatter(v, y, marker=_MARKERS[q % len(_MARKERS)], label=f"needed, commit {rule.text}")
    own = np.repeat([u.interceptor.burnout_speed_mps / 1e3 for u in result.units], n)
    ax.scatter(own, y, marker="|", color="k", s=80, label="the type's burnout speed")
    ax.set_yticks(y, labels, fontsize=6)
    ax.set_xlabel("minimum burnout speed for a feasible intercept (km/s); none plotted: no "
                  "speed suffices")  # fmt: skip
    ax.set_title(f"{result.scenario}: feasibility against interceptor speed")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
