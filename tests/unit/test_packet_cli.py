"""`bitmesh packet decode|encode` against the vectors, and its error lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "tests/vectors/packets.json").read_text())
BITMESH = [sys.executable, "-m", "bitmesh.cli"]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BITMESH, *args], capture_output=True, text=True, input=stdin,
                          timeout=60)


def test_decode_prints_exactly_the_vector_fields() -> None:
    from click.testing import CliRunner

    from bitmesh.cli import cli

    runner = CliRunner()
    for v in VECTORS:
        res = runner.invoke(cli, ["packet", "decode", v["hex"]])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output) == v["fields"], v["name"]


def test_encode_round_trips_every_vector() -> None:
    from click.testing import CliRunner

    from bitmesh.cli import cli

    runner = CliRunner()
    for v in VECTORS:
        res = runner.invoke(cli, ["packet", "encode", json.dumps(v["fields"])])
        assert res.exit_code == 0, res.output
        assert res.output.strip() == v["hex"], v["name"]
        res = runner.invoke(cli, ["packet", "encode", "--key", "vector", json.dumps(v["fields"])])
        assert res.output.strip() == v["hex"], v["name"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["packet", "decode", "nothex"], "not valid hex"),
        (["packet", "decode", "0102"], "malformed frame (short)"),
        (["packet", "decode", "02" + "00" * 30], "malformed frame (version)"),
        (["packet", "encode", "{"], "not valid JSON"),
        (["packet", "encode", '{"type": "nope"}'], "unknown name"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_decode_with_key_reports_auth() -> None:
    r = run("packet", "decode", "--key", "vector", VECTORS[1]["hex"])
    assert json.loads(r.stdout)["auth"] == "ok"
