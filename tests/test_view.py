"""``jointbmd view`` without a browser: the scene against the run's records, the CZML through
czml3's models, the error ellipsoids and radar coverage against their formulas, the command's
errors, the Cesium tarball's integrity check and the loopback server."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections import Counter

import czml3
import numpy as np
import pytest

from jointbmd.errors import UserError
from jointbmd.report.czml import (
    ERROR_MAGNIFICATION,
    ERROR_SIGMAS,
    error_axes,
    expected_counts,
    scene_document,
    write_czml,
)
from jointbmd.report.scene import radar_coverage, replay
from jointbmd.report.viewer import serve_in_background, server
from jointbmd.report.viewer.cesium import _check_integrity
from jointbmd.scenario import load_scenario, set_field

SEED = 2010


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("lisbon2010")


@pytest.fixture(scope="module")
def scene(scenario):
    return replay(scenario, "joint-consensus", replication=0, seed=SEED)


@pytest.fixture(scope="module")
def czml_path(scene, tmp_path_factory):
    path = tmp_path_factory.mktemp("czml") / "scene.czml"
    write_czml(scene, path)
    return path


def packets_by_kind(packets) -> Counter:
    return Counter(p["id"].split("/", 1)[0] for p in packets[1:] if p["id"] != "jointbmd")


def test_czml_round_trips_through_czml3(czml_path):
    text = czml_path.read_text()
    loaded = czml3.Document.load(czml_path)  # validates every packet against czml3's models
    assert loaded.to_dict() == json.loads(text)
    again = czml3.Document.model_validate(loaded.to_dict())
    assert again.to_dict() == loaded.to_dict()
    ids = [p["id"] for p in json.loads(text)]
    assert ids[0] == "document" and len(ids) == len(set(ids))


def test_packet_counts_match_the_runs_records(scene, czml_path):
    packets = json.loads(czml_path.read_text())
    counts = packets_by_kind(packets)
    result = scene.result
    assert counts["threat"] == len(result.threats) == scene.truth.n
    assert counts["flyout"] == counts["intercept"] == sum(t.shots for t in result.threats)
    assert counts.get("leak", 0) == result.leakers
    assert counts["site"] == len(scene.scenario.sites)
    assert counts["coverage"] == len(scene.scenario.radars())
    assert counts["message"] == len(scene.messages)
    for kind, n in expected_counts(scene).items():
        assert counts.get(kind, 0) == n, kind
    run = json.loads(next(p for p in packets if p["id"] == "jointbmd")["properties"]["run"])
    assert len(run["timeline"]) == len(result.events)
    assert {k: v for k, v in run["counts"].items()} == dict(counts)


def test_messages_carry_the_links_delays_and_fates(scene):
    links = {(spec.a, spec.b): spec for spec in scene.scenario.links}
    links.update({(spec.b, spec.a): spec for spec in scene.scenario.links})
    fates = Counter(m.fate for m in scene.messages)
    assert fates["delivered"] > 0
    for m in scene.messages:
        spec = links[(m.source, m.destination)]
        delay = m.t_arrival_s - m.t_sent_s
        assert spec.latency_s - 1e-9 <= delay <= spec.latency_s + spec.jitter_s + 1e-9
    kinds = Counter(m.kind for m in scene.messages)
    # Joint decisions: every request, vote and order the timeline lists went over a link.
    events = Counter(e.kind for e in scene.result.events)
    sent = Counter(
        m.kind for m in scene.messages if m.kind in ("engagement_request", "vote", "order")
    )
    assert sent["vote"] == events["vote"]
    assert kinds["fused_picture"] > 0 and kinds["track_batch"] > 0
    assert sum(f == "rejected" for f in fates.elements()) == sum(
        scene.result.rejected_messages.values()
    )


@pytest.mark.slow
def test_rejected_messages_are_the_receivers_rejections(scenario):
    # A 70 s link delay exceeds the receivers' 60 s acceptance window: the centre refuses NATO's
    # reports as stale. The scene finds them from the ledgers; the receivers counted them.
    slow = set_field(scenario, "links[NATO-DFC].latency_s", 70.0)
    scene = replay(slow, "data-exchange", replication=0, seed=SEED)
    rejected = [m for m in scene.messages if m.fate == "rejected"]
    assert rejected
    assert len(rejected) == sum(scene.result.rejected_messages.values())
    assert {m.source for m in rejected if m.kind == "track_batch"} == {"NATO"}


def test_threat_record_names_aimpoint_detections_and_shooters(scene, czml_path):
    packets = {p["id"]: p for p in json.loads(czml_path.read_text())}
    for outcome in scene.result.threats:
        record = json.loads(packets[f"threat/{outcome.threat_id}"]["properties"]["record"])
        assert record["threat_id"] == outcome.threat_id
        assert record["aimpoint"] == outcome.aimpoint
        assert len(record["fired"]) == outcome.shots
        assert record["outcome"] == ("killed" if outcome.killed else "leaked")
        seen = [v["first_detection_s"] for v in record["detected"].values()]
        finite = [s for s in seen if s is not None]
        if outcome.first_detection_s is not None:
            assert min(finite) == pytest.approx(outcome.first_detection_s, abs=0.06)


def test_error_ellipsoid_reproduces_the_covariance():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(20, 3, 3)) * np.array([3e3, 8e2, 2e2])
    P = A @ np.swapaxes(A, 1, 2) + np.eye(3)
    radii, q = error_axes(P)
    x, y, z, w = q.T
    # Rotation matrix of a unit quaternion [x, y, z, w] (body to ECEF axes).
    R = np.stack(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    ).transpose(2, 0, 1)
    scale = (ERROR_SIGMAS * ERROR_MAGNIFICATION) ** 2
    rebuilt = R @ (np.eye(3) * (radii**2 / scale)[:, None, :]) @ np.swapaxes(R, 1, 2)
    np.testing.assert_allclose(rebuilt, P, rtol=1e-9, atol=1e-6 * np.abs(P).max())
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0)
    assert np.all(np.sum(q[1:] * q[:-1], axis=1) >= 0)  # no sign flips between samples


def test_radar_coverage_uses_the_threats_cross_section(scene):
    coverage = {c["name"]: c for c in radar_coverage(scene)}
    smallest = float(np.min(scene.truth.rcs_m2))
    for site, sensor, sensor_type in scene.scenario.radars():
        c = coverage[sensor.name]
        assert c["rcs_m2"] == smallest and smallest < 1.0
        # Radar equation, R^4 law: R = R_ref (σ/σ_ref)^(1/4) 10^((SNR_ref - SNR_det)/40).
        snr_det = sensor_type.detection_snr_db
        if snr_det is None:
            snr_det = sensor_type.reference_snr_db
        expected_km = (
            sensor_type.reference_range_km
            * (smallest / sensor_type.reference_rcs_m2) ** 0.25
            * 10 ** ((sensor_type.reference_snr_db - snr_det) / 40)
        )
        limit = getattr(sensor, "max_range_km", None) or getattr(sensor_type, "max_range_km", None)
        if limit is not None:
            expected_km = min(expected_km, limit)
        assert c["range_km"] == pytest.approx(expected_km, rel=1e-9)
        assert c["partner"] == site.partner


def test_document_clock_spans_the_raid_from_the_epoch(scene):
    import datetime as dt

    from jointbmd.report.czml import CLOCK_MARGIN_S

    clock = scene_document(scene).packets[0].to_dict()["clock"]
    start, stop = (
        dt.datetime.fromisoformat(s.replace("Z", "+00:00")) for s in clock["interval"].split("/")
    )
    epoch = scene.scenario.epoch
    first = float(np.min(scene.truth.launch_time)) - CLOCK_MARGIN_S
    last = float(np.max(scene.truth.impact_time)) + CLOCK_MARGIN_S
    assert (start - epoch).total_seconds() == pytest.approx(first, abs=1e-3)
    assert (stop - epoch).total_seconds() == pytest.approx(last, abs=1e-3)
    assert clock["currentTime"] == clock["interval"].split("/")[0]


def test_tampered_cesium_tarball_is_refused(tmp_path):
    fake = tmp_path / "cesium-1.145.0.tgz"
    fake.write_bytes(b"not the registry's tarball")
    with pytest.raises(UserError, match="integrity"):
        _check_integrity(fake)


def test_server_binds_loopback_only(tmp_path):
    (tmp_path / "scene.czml").write_text("[]")
    with server(tmp_path) as httpd:
        assert httpd.server_address[0] == "127.0.0.1"
    httpd = serve_in_background(tmp_path)
    try:
        port = httpd.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/scene.czml", timeout=10) as r:
            assert r.headers["Content-Type"] == "application/json"
            assert r.read() == b"[]"
    finally:
        httpd.shutdown()
        httpd.server_close()


def jointbmd(*args):
    return subprocess.run(["jointbmd", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_view_command_writes_czml_only(tmp_path):
    done = jointbmd("view", "lisbon2010", "--out", str(tmp_path), "--czml-only", "--json",
                    "--arrangement", "independent", "--seed", "3")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["arrangement"] == "independent" and summary["seed"] == 3
    # Independent: nothing is exchanged, so no message and no fused track is drawn.
    assert summary["entities"]["message"] == summary["entities"]["fused"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.czml"]
    counts = packets_by_kind(json.loads((tmp_path / "scene.czml").read_text()))
    assert {k: counts.get(k, 0) for k in summary["entities"]} == summary["entities"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--czml-only", "--serve"], "--serve"),
        (["--store", "nowhere.duckdb"], "--campaign"),
        (["--arrangement", "nobody"], "--arrangement"),
        (["--campaign", "1", "--store", "missing.duckdb"], "--store"),
    ],
)
def test_view_command_errors_are_one_line(tmp_path, args, field):
    done = jointbmd("view", "lisbon2010", "--out", str(tmp_path / "out"), *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in done.stderr


@pytest.mark.slow
def test_view_command_serves_the_page_on_loopback(tmp_path):
    import re
    import time

    out = tmp_path / "view"
    process = subprocess.Popen(
        ["jointbmd", "view", "lisbon2010", "--out", str(out), "--serve", "--port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            assert line or process.poll() is None, "view exited before serving"
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            url = found.group(0) if found else None
        assert url is not None
        with urllib.request.urlopen(url + "index.html", timeout=30) as response:
            assert b"viewer.js" in response.read()
        with urllib.request.urlopen(url + "cesium/LICENSE.md", timeout=30) as response:
            assert b"Apache" in response.read()
        assert (out / "cesium" / "Cesium.js").is_file()
    finally:
        process.terminate()
        process.wait(timeout=30)
