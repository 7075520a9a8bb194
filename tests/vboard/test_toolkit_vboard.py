"""deploy, provision, status and logs against a real virtual board (issue 5's
supervisor running the real firmware), all through the real mpremote / host link."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_toolkit_logs import read_jsonl, wait_for  # noqa: E402
from toolkit_boards import run_cli, start_logs  # noqa: E402

from bitmesh.deployer import Artifact, build_artifacts, deploy  # noqa: E402
from bitmesh.inventory import Inventory  # noqa: E402

manager = pytest.importorskip("bitmesh.vboard.manager")
pytestmark = pytest.mark.vboard


def relink(link: Path, target: str) -> None:
    """The stable port: a symlink in the test dir, re-pointed at each new pty."""
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


@pytest.fixture
def vboard(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    board = tmp_path / "b1"
    link = tmp_path / "b1.port"
    relink(link, manager.start(board)["port"])
    yield board, link
    manager.stop(board)


def test_deploy_provision_status_logs(vboard: tuple[Path, Path], tmp_path: Path) -> None:
    board, link = vboard
    port = str(link)
    inv = Inventory(tmp_path / "inv.json")
    inv.create_network("home", channel=3)
    inv.save()

    first = run_cli("deploy", "--port", port, "--json")
    assert first.returncode == 0, first.stderr
    done = json.loads(first.stdout)
    assert done["changed"] and done["arch"] == "x64"
    assert (board / "main.py").exists() and (board / "lib" / "bitmesh_core").is_dir()
    # One build for the next deploys: other people may edit firmware/ meanwhile.
    built: dict[str | None, list[Artifact]] = {}

    def same_build(arch: str | None) -> list[Artifact]:
        return built.setdefault(arch, build_artifacts(arch))

    deploy(port, reset=False, artifacts_for=same_build)
    again = deploy(port, reset=False, artifacts_for=same_build)
    assert again["changed"] == [] and again["unchanged"] == again["files"]
    (board / "lib" / "shell.py").write_text("raise ImportError\n")  # would shadow shell.mpy
    (board / "lib" / "hostlink.mpy").write_bytes(b"stale")
    fixed = deploy(port, artifacts_for=same_build)
    assert fixed["changed"] == ["/lib/hostlink.mpy"] and fixed["removed"] == ["/lib/shell.py"]

    prov = run_cli("provision", "--port", port, "--name", "n1", "--network", "home",
                   "--inventory", str(inv.path), "--json")
    assert prov.returncode == 0, prov.stderr
    node_id = json.loads(prov.stdout)["node_id"]

    def status_ok() -> bool:
        p = run_cli("status", "--port", port, "--json")
        return p.returncode == 0 and json.loads(p.stdout).get("state") == "running"

    wait_for(status_ok, "the provisioned node to run")
    status = json.loads(run_cli("status", "--port", port, "--json").stdout)
    assert status["node_id"] == node_id and status["name"] == "n1"
    assert status["network"] == "home" and status["channel"] == 3
    for key in ("radios", "peers", "routes", "counters", "heap", "port"):
        assert key in status
    table = run_cli("status", "--port", port)
    assert table.returncode == 0 and "n1" in table.stdout and node_id in table.stdout

    out = tmp_path / "logs"
    proc = start_logs("--port", port, "--out", str(out))
    try:
        wait_for(lambda: any("connect" in r for r in read_jsonl(out / "n1.jsonl")),
                 "the collector to learn the node's name")
        manager.stop(board)  # unplug: the supervisor and its pty go away
        time.sleep(0.5)
        relink(link, manager.start(board)["port"])  # replug, at whatever pty comes up
        wait_for(lambda: any("gap" in r for r in read_jsonl(out / "n1.jsonl")), "a gap marker")
        run_cli("status", "--port", port)  # the busy port must not break the collector
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err, err
    recs = read_jsonl(out / "n1.jsonl")
    assert sum("connect" in r for r in recs) >= 2  # once per connection
    assert all(r["node"] == "n1" and r["port"] == port for r in recs)
    assert read_jsonl(out / "merged.jsonl") == recs


def test_status_errors(tmp_path: Path) -> None:
    master, slave = os.openpty()
    try:
        p = run_cli("status", "--port", os.ttyname(slave), "--timeout", "0.5")
        assert p.returncode == 1 and "does not answer" in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
    finally:
        os.close(master)
        os.close(slave)
    p = run_cli("status", "--port", str(tmp_path / "none"))
    assert p.returncode == 2 and "no such port" in p.stderr
