"""Start, stop and list virtual boards (docs/FIRMWARE.md, "Virtual boards").

A virtual board is a directory (its filesystem, mounted as "/" in the VM) plus
a background supervisor process (supervisor.py) that runs the MicroPython unix
port with a board-sized heap on a pty. ``start`` returns once the board has
answered on its serial line; the state lives in ``DIR/.vboard.json`` and a
registry entry under the user's runtime directory lets ``list_boards`` find
every running board.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bitmesh.errors import BitmeshError, UsageError
from bitmesh.vboard.supervisor import STATE

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_HEAP = "110wK"


def registry_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    d = Path(base) / f"bitmesh-vboards-{os.getuid()}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _reg_path(board_dir: Path) -> Path:
    h = hashlib.sha1(str(board_dir.resolve()).encode()).hexdigest()[:16]
    return registry_dir() / f"{h}.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(board_dir: Path) -> dict[str, Any] | None:
    """The running board's state, or None when it is not running."""
    try:
        st: dict[str, Any] = json.loads((board_dir / STATE).read_text())
    except (OSError, ValueError):
        return None
    return st if _alive(int(st.get("pid", 0))) else None


def deploy(board_dir: Path, build_dir: Path | None = None) -> int:
    """Put the compiled firmware (``bitmesh build``) onto a board directory in
    the board layout: /boot.py, /main.py, /lib/*.mpy, /lib/bitmesh_core/.
    Builds into ``ROOT/build/firmware`` when no build is given. Returns the
    number of files that changed."""
    from bitmesh import build

    if build_dir is None:
        build_dir = ROOT / "build" / "vboard-firmware"
        build.build(build_dir, build.host_arch() or None)
    board_dir.mkdir(parents=True, exist_ok=True)
    return build.install(build_dir, board_dir)


def make_config(name: str, network_key: str, secret: str | None = None,
                role: str = "relay", node: dict[str, Any] | None = None,
                channel: int = 1) -> dict[str, Any]:
    """A valid /config.json for a virtual board (docs/FIRMWARE.md schema)."""
    return {"name": name, "role": role,
            "network": {"name": "vmesh", "key": network_key, "channel": channel},
            "node_secret": secret or secrets.token_hex(32),
            "radios": {"espnow": True, "ble": False}, "led_pin": None,
            "node": dict(node or {})}


def write_config(board_dir: Path, cfg: dict[str, Any]) -> None:
    tmp = board_dir / "config.json.tmp"
    tmp.write_text(json.dumps(cfg))
    tmp.replace(board_dir / "config.json")


def start(board_dir: Path, medium: str | None = None, label: str | None = None,
          heap: str = DEFAULT_HEAP, timeout: float = 20.0) -> dict[str, Any]:
    """Start a board whose filesystem is ``board_dir``; returns its state
    (``port`` is the serial path). Raises when it does not answer in time."""
    board_dir = board_dir.resolve()
    if board_dir.exists() and not board_dir.is_dir():
        raise UsageError(f"{board_dir} is not a directory")
    board_dir.mkdir(parents=True, exist_ok=True)
    if read_state(board_dir) is not None:
        raise UsageError(f"a virtual board already runs in {board_dir} (bitmesh vboard stop)")
    cmd = [sys.executable, "-m", "bitmesh.vboard.supervisor", str(board_dir), "--heap", heap]
    if medium:
        cmd += ["--medium", medium]
    if label:
        cmd += ["--label", label]
    log = open(board_dir / ".vboard.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, close_fds=True)
    log.close()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = read_state(board_dir)
        if st is not None and st.get("ready") and st.get("pid") == proc.pid:
            _reg_path(board_dir).write_text(json.dumps({"dir": str(board_dir)}))
            return st
        if proc.poll() is not None:
            raise BitmeshError(f"virtual board in {board_dir} exited at start "
                               f"(see {board_dir / '.vboard.log'})")
        time.sleep(0.05)
    proc.terminate()
    raise BitmeshError(f"virtual board in {board_dir} did not answer within {timeout:g}s")


def stop(board_dir: Path, timeout: float = 5.0) -> bool:
    """Stop the board in ``board_dir``; False when none was running."""
    board_dir = board_dir.resolve()
    _reg_path(board_dir).unlink(missing_ok=True)
    st = read_state(board_dir)
    if st is None:
        (board_dir / STATE).unlink(missing_ok=True)
        return False
    pid = int(st["pid"])
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end and _alive(pid):
        try:
            os.waitpid(pid, os.WNOHANG)  # reap when it is our child
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        vm = st.get("vm_pid")
        if vm and _alive(int(vm)):
            os.kill(int(vm), signal.SIGKILL)
    (board_dir / STATE).unlink(missing_ok=True)
    return True


def list_boards() -> list[dict[str, Any]]:
    """Every running virtual board's state; stale registry entries are removed."""
    out = []
    for entry in sorted(registry_dir().glob("*.json")):
        try:
            d = Path(json.loads(entry.read_text())["dir"])
        except (OSError, ValueError, KeyError):
            entry.unlink(missing_ok=True)
            continue
        st = read_state(d)
        if st is None:
            entry.unlink(missing_ok=True)
            continue
        out.append(st)
    return out
