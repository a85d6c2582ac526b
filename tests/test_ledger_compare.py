"""``jointbmd ledger compare`` across partners' ledgers: a fusion centre that sends one partner a
different picture for a cycle is caught from the partners' own ledgers, and the first such cycle
is named. The centre and partners are the exchange runtime's real nodes (`runtime.Node`), each
with only its own private key; the lie is a second picture the centre's node really signed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from jointbmd.cli import main
from jointbmd.exchange import FusedPicture, KeyRing, compare_ledgers, export_picture, generate_keys
from jointbmd.simulation.runtime import Node

NODES = ("NATO", "Russia", "DFC")
CYCLES = (5.0, 10.0, 15.0, 20.0)


def fused(t: float, offset_m: float = 0.0) -> FusedPicture:
    rng = np.random.default_rng(int(t))
    return FusedPicture(
        t=t,
        track_id=[1, 2],
        t_track=[t, t],
        x=rng.normal(size=(2, 6)) * 1e6 + offset_m,
        P=np.broadcast_to(np.eye(6), (2, 6, 6)) * 100.0,
        quality=[10.0, 12.0],
        firm=[True, False],
        sources=[["NATO", "Russia"], ["NATO"]],
    )


def exchange(directory, lie_at: float | None = None, lose_at: float | None = None):
    """The centre's node signs one picture per cycle and sends the same bytes to both partners;
    at ``lie_at`` it signs a second picture, its tracks moved 5 km, and sends that to Russia
    instead; at ``lose_at`` Russia's copy is lost on the link. Every node writes its ledger."""
    keys = generate_keys(NODES, seed=12)
    public = KeyRing.from_private(keys)  # what every node knows of the others: public keys
    nodes = {name: Node(name, keys[name], public) for name in NODES}
    for t in CYCLES:
        honest = nodes["DFC"].sign(fused(t), t)
        assert nodes["NATO"].receive(honest.wire, t + 0.4) is not None
        if t == lose_at:
            continue
        wire = honest.wire
        if t == lie_at:
            wire = nodes["DFC"].sign(fused(t, offset_m=5e3), t).wire
        assert nodes["Russia"].receive(wire, t + 0.6) is not None  # validly signed: accepted
    for name, node in nodes.items():
        node.write_ledger(directory / f"{name}.ledger", {"run": "r1"})
    return directory


def run_main(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return exit_info.value.code or 0, out, err


def test_an_honest_centre_gives_identical_pictures(tmp_path, capsys):
    directory = exchange(tmp_path)
    code, out, _ = run_main(capsys, "ledger", "compare", directory, "--json")
    report = json.loads(out)
    assert code == 0 and report["identical"] and report["common"] == len(CYCLES)
    assert {row["owner"] for row in report["ledgers"]} == set(NODES)


def test_a_centre_that_sends_one_partner_a_different_picture_is_named(tmp_path, capsys):
    directory = exchange(tmp_path, lie_at=10.0)
    # From the two partners' ledgers alone.
    code, _, err = run_main(
        capsys, "ledger", "compare", directory / "NATO.ledger", directory / "Russia.ledger"
    )
    assert code == 1
    assert err.count("\n") == 1 and "DFC's picture for t=10 s differs" in err
    # With the centre's ledger too: it holds both pictures it signed for that cycle.
    code, out, _ = run_main(capsys, "ledger", "compare", directory, "--json")
    report = json.loads(out)
    first = report["first_difference"]
    assert code == 1 and not report["consistent"] and report["differing"] == 1
    assert first["t"] == 10.0 and first["kind"] == "differs"
    assert len(first["held"]["DFC"]) == 2  # two signed pictures for one cycle
    assert first["held"]["NATO"][0][1] != first["held"]["Russia"][0][1]
    assert report["common"] == len(CYCLES) - 1


def test_a_lost_picture_is_missing_not_a_lie(tmp_path, capsys):
    directory = exchange(tmp_path, lose_at=15.0)
    code, _, err = run_main(capsys, "ledger", "compare", directory)
    assert code == 1 and "no cycle's pictures differ" in err and "t=15 s missing" in err
    exports = {n: export_picture(directory / f"{n}.ledger") for n in NODES}
    result = compare_ledgers(exports)
    assert result.consistent and not result.identical
    assert [(d.t, d.kind) for d in result.differences] == [(15.0, "missing")]
    assert result.first.held["Russia"] == ()


def test_compare_needs_two_ledgers(tmp_path, capsys):
    directory = exchange(tmp_path)
    code, _, err = run_main(capsys, "ledger", "compare", directory / "NATO.ledger")
    assert code == 2 and err.startswith("jointbmd: ") and err.count("\n") == 1
