"""The viewer pairs every shot with its intercept even when shots go at false targets.

An intercept event's detail is "UNIT: RESULT (why)" and the why of a shot at a decoy holds a
colon of its own; the scene must still draw one flyout per interceptor the run spent.
"""

from __future__ import annotations

import yaml

from jointbmd.report.czml import expected_counts
from jointbmd.report.scene import replay
from jointbmd.scenario import load_scenario, loads_scenario


def test_shots_at_decoys_each_get_their_flyout():
    data = load_scenario("lisbon2010").model_dump(mode="json", by_alias=True, exclude_none=True)
    for threat in data["threat_types"]:
        if threat["name"] == "Shahab-3":
            threat["decoys"] = {"count": 2, "rcs_m2": 0.1, "source": "test"}
    blind = {"p_warhead_as_warhead": 1.0, "p_decoy_as_warhead": 1.0, "source": "test"}
    for sensor in data["sensor_types"]:
        if sensor["name"] in ("AN/TPY-2", "AN/SPY-1"):
            sensor["discrimination"] = blind  # every decoy it holds is called a warhead
    scene = replay(loads_scenario(yaml.safe_dump(data)), "joint-consensus", 0, seed=2010)
    details = [e.detail for e in scene.result.events if e.kind == "intercept"]
    assert any("false target" in d for d in details)
    spent = sum(t.shots for t in scene.result.threats)
    assert len(details) == spent
    assert len(scene.flyouts) == expected_counts(scene)["flyout"] == spent
    # Every killed threat shows a killing flyout (a salvo may show two); no shot at a decoy does.
    killing = {f.threat_id for f in scene.flyouts if f.killed}
    assert killing == {t.threat_id for t in scene.result.threats if t.killed}
