"""``jointbmd track`` end to end through a real subprocess: the JSON the issue asks for, the
ledger it writes (verified by ``jointbmd ledger verify``), and one-line errors. Three track runs
are shared by the tests that read them; commands whose proof needs no process boundary run the
console script's ``main`` in this process."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import jointbmd_in_process


def jointbmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["jointbmd", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tracked(tmp_path_factory) -> dict:
    """Three ``jointbmd track`` runs through the real console script, read by several tests:
    ``a`` (seed 3, with ``--json``) and ``b`` sign with the keys kept in ``keys`` (the first run
    creates them, the second reuses them), ``c`` with those in ``other-keys``."""
    root = tmp_path_factory.mktemp("track")
    keys, other = root / "keys", root / "other-keys"
    out = {"root": root, "keys": keys, "other": other}
    for directory, ledger, extra in ((keys, "a", ("--seed", "3", "--json")), (keys, "b", ()),
                                     (other, "c", ())):  # fmt: skip
        done = jointbmd(
            "track", "lisbon2010", "--keys", str(directory), "--ledger", str(root / ledger), *extra
        )
        assert done.returncode == 0, done.stderr
        out[ledger] = done.stdout
    return out


@pytest.mark.slow
def test_track_json_has_every_source_per_threat_and_a_verifiable_ledger(tracked):
    ledger = tracked["root"] / "a"
    result = json.loads(tracked["a"])
    assert result["ledger"] == str(ledger)
    assert isinstance(result["rejected_messages"], dict)
    assert len(result["threats"]) == 8
    for threat in result["threats"]:
        assert set(threat["by_source"]) == {"NATO", "Russia", "fused"}
        for view in threat["by_source"].values():
            for key in ("first_detection_s", "first_firm_track_s", "rmse_position_m"):
                assert key in view
                assert view[key] is None or view[key] >= 0
        fused = threat["by_source"]["fused"]
        # The fused picture exists only from what partners saw: never before the first detection.
        if fused["first_firm_track_s"] is not None:
            assert fused["first_firm_track_s"] >= fused["first_detection_s"]
    # Sharing pays on lisbon2010: NATO's own radars never hold a firm track on the IRBM aimed at
    # Moscow, but the fused picture it receives does.
    moscow = next(t for t in result["threats"] if t["aimpoint"] == "Moscow")
    assert moscow["by_source"]["NATO"]["first_firm_track_s"] is None
    assert moscow["by_source"]["NATO"]["fused_received_firm_s"] is not None
    # --ledger is a directory, laid out as run's: the picture stage's ledger of every node.
    assert sorted(p.name for p in (ledger / "picture").iterdir()) == [
        "DFC.ledger", "NATO.ledger", "Russia.ledger",
    ]  # fmt: skip
    for path in sorted((ledger / "picture").iterdir()):
        code, out, err = jointbmd_in_process("ledger", "verify", str(path))
        assert code == 0, out + err


@pytest.mark.slow
def test_track_independent_shares_nothing():
    done = jointbmd("track", "lisbon2010", "--arrangement", "independent", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["messages_sent"] == 0
    assert all("fused" not in t["by_source"] for t in result["threats"])


@pytest.mark.parametrize(
    "args, where",
    [
        (["track", "no-such-scenario"], "no-such-scenario"),
        (["track", "lisbon2010", "--arrangement", "nope"], "--arrangement"),
        (["track", "lisbon2010", "--seed", "-1"], "--seed"),
    ],
)
def test_track_bad_input_is_one_line_and_exit_2(args, where):
    code, _, err = jointbmd_in_process(*args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and where in lines[0]
    assert "Traceback" not in err


@pytest.mark.slow
def test_keys_kept_in_a_directory_sign_the_ledgers_a_verifier_trusts(tracked, tmp_path):
    root, keys = tracked["root"], tracked["keys"]
    assert (keys / "NATO.key.pem").exists() and (keys / "DFC.pub.pem").exists()

    # The second run reused the kept keys: both ledgers verify against them...
    def centre(run: str) -> str:
        return str(root / run / "picture" / "DFC.ledger")

    for ledger in ("a", "b"):
        code, out, err = jointbmd_in_process(
            "ledger", "verify", centre(ledger), "--keys", str(keys)
        )
        assert code == 0, out + err
    # ...and a ledger signed with other keys does not (through the console script: the exit
    # status a shell sees).
    assert jointbmd("ledger", "verify", centre("c"), "--keys", str(keys)).returncode == 1
    # A kept directory missing a key is refused (a copy: the module's runs share ``keys``).
    shutil.copytree(keys, tmp_path / "keys")
    (tmp_path / "keys" / "Russia.key.pem").unlink()
    code, _, err = jointbmd_in_process("track", "lisbon2010", "--keys", str(tmp_path / "keys"))
    assert code == 2 and "Russia.key.pem" in err


def test_keys_directory_is_never_overwritten_and_bad_keys_are_one_line(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    published = tmp_path / "published"
    published.mkdir()
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for name in ("NATO", "Russia", "DFC"):
        (published / f"{name}.pub.pem").write_bytes(pub)
    done = jointbmd("track", "lisbon2010", "--keys", str(published))
    assert done.returncode == 2 and "NATO.key.pem" in done.stderr
    assert all((published / f"{n}.pub.pem").read_bytes() == pub for n in ("NATO", "Russia", "DFC"))
    # An encrypted private key is refused in one line, not with a traceback.
    locked = tmp_path / "locked"
    locked.mkdir()
    for name in ("NATO", "Russia", "DFC"):
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
        (locked / f"{name}.key.pem").write_bytes(pem)
    done = jointbmd("track", "lisbon2010", "--keys", str(locked))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    # --keys only makes sense with ledgers to sign.
    done = jointbmd("run", "lisbon2010", "--keys", str(locked))
    assert done.returncode == 2 and "--ledger" in done.stderr


@pytest.mark.slow
def test_ledger_compare_refuses_ledgers_of_different_runs(tracked):
    root = tracked["root"]
    code, same, err = jointbmd_in_process(
        "ledger", "compare", str(root / "a" / "picture" / "NATO.ledger"),
        str(root / "a" / "picture" / "Russia.ledger"), "--json",
    )  # fmt: skip
    assert json.loads(same)["consistent"] is True, err
    code, _, err = jointbmd_in_process(
        "ledger", "compare", str(root / "a" / "picture" / "NATO.ledger"),
        str(root / "b" / "picture" / "Russia.ledger"),
    )  # fmt: skip
    assert code == 1 and "different runs" in err
