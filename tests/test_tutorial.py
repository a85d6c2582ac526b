"""docs/tutorial.md runs top to bottom: every ``python`` block, in order, in one namespace.

What the blocks compute is checked against what the tutorial says of it, not against stored
numbers: probabilities within their intervals, a sweep column typed as floats, a plot written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"


def blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


@pytest.mark.slow
def test_tutorial_runs_top_to_bottom(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    code = blocks(TUTORIAL.read_text(encoding="utf-8"))
    assert len(code) >= 8
    namespace: dict = {}
    for i, block in enumerate(code):
        exec(compile(block, f"{TUTORIAL.name} block {i + 1}", "exec"), namespace)  # noqa: S102
    df = namespace["df"]
    sweep = "interceptor_types[SM-3 Block IA].sspk"
    assert df[sweep].dtype == "float64"
    assert sorted(set(df[sweep])) == [0.5, 0.9]
    assert set(df["arrangement"]) == {"independent", "joint-consensus"}
    assert (
        (df["p_no_leak_low"] <= df["p_no_leak"]) & (df["p_no_leak"] <= df["p_no_leak_high"])
    ).all()
    assert (df["replications"] == 2).all()
    # Eight threats per replication: the records hold them all.
    assert len(namespace["threats"]) == 8 * 2 * 2
    assert (tmp_path / "expected_leakers.png").stat().st_size > 0
