"""Boards for the toolkit tests: a real MicroPython unix VM behind a pty.

:class:`PtyBoard` runs ``.venv/bin/micropython`` with its stdin and stdout on
the master side of a fresh pty, its filesystem root mounted on ``DIR``
(``os.VfsPosix``), and keeps the symlink ``DIR/../<name>.port`` pointing at the
pty's slave, so a test (and ``bitmesh logs``) can use one stable ``--port``
across restarts even though the pty path changes. The real ``mpremote``
drives it like a board on a USB port.

``script`` runs after the mount; with ``interactive=True`` the REPL follows,
otherwise the board only runs the script (a firmware stand-in that prints
log lines).
"""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import subprocess
import sys
import time
import tty
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MICROPYTHON = ROOT / ".venv" / "bin" / "micropython"
BITMESH = ROOT / ".venv" / "bin" / "bitmesh"


class PtyBoard:
    """One virtual board: a MicroPython VM on a pty, filesystem in ``fs``."""

    def __init__(self, fs: Path, link: Path | None = None) -> None:
        self.fs = fs
        self.link = link if link is not None else fs.parent / f"{fs.name}.port"
        self.proc: subprocess.Popen[bytes] | None = None
        self.slave = -1
        self.pty_path = ""
        fs.mkdir(parents=True, exist_ok=True)

    @property
    def port(self) -> str:
        return str(self.link)

    def start(self, script: str = "", interactive: bool = True) -> str:
        master, slave = pty.openpty()
        tty.setraw(slave)  # no echo of the VM's own output back into its stdin
        code = f"import os\nos.mount(os.VfsPosix({str(self.fs)!r}), '/')\nos.chdir('/')\n"
        args = [str(MICROPYTHON), "-X", "heapsize=110wK"]
        args += (["-i"] if interactive else []) + ["-c", code + script]
        self.proc = subprocess.Popen(args, stdin=master, stdout=master, stderr=master,
                                     close_fds=True, cwd=self.fs)
        os.close(master)
        # The test keeps the slave open so the VM never reads EOF/EIO while no
        # client is attached.
        self.slave = slave
        self.pty_path = os.ttyname(slave)
        tmp = self.link.with_name(self.link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(self.pty_path, tmp)
        os.replace(tmp, self.link)
        if interactive:
            self.wait_repl()
        return self.pty_path

    def wait_repl(self, timeout: float = 10.0) -> None:
        """Block until the REPL prompt shows (read on the slave we hold)."""
        end = time.monotonic() + timeout
        seen = b""
        os.set_blocking(self.slave, False)
        try:
            while time.monotonic() < end and b">>> " not in seen:
                with contextlib.suppress(BlockingIOError):
                    seen += os.read(self.slave, 4096)
                time.sleep(0.02)
        finally:
            os.set_blocking(self.slave, True)
        if b">>> " not in seen:
            raise RuntimeError(f"no REPL prompt from the VM: {seen[-200:]!r}")

    def kill(self) -> None:
        """Pull the plug: the VM dies, the pty and the symlink go away."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            self.proc = None
        if self.slave >= 0:
            os.close(self.slave)
            self.slave = -1
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()

    stop = kill

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


# A firmware stand-in: JSON log lines as the firmware prints them
# (docs/PROTOCOL.md), with a boot number and a line counter so tests can tell
# lost and duplicated lines apart. Peers and heap make the summary testable.
LOGGER = """
import time, json
def _run(boot, peers, every_ms):
    n = 0
    while True:
        print(json.dumps({"t": time.ticks_ms(), "lvl": "info", "msg": "tick", "boot": boot, "n": n}))
        if n % 10 == 0:
            for p in peers:
                print(json.dumps({"t": time.ticks_ms(), "lvl": "info", "msg": "peer_up", "peer": p, "rssi": -60}))
            print(json.dumps({"t": time.ticks_ms(), "lvl": "info", "msg": "status", "heap_free": 60000 - n, "heap_min": 50000 - n, "peers": len(peers), "rx": n, "tx": n, "delivered": 0, "drops": {"auth": n // 10}}))
        n += 1
        time.sleep_ms(every_ms)
"""


def logger_script(boot: int, peers: list[str], every_ms: int = 20) -> str:
    return LOGGER + f"_run({boot}, {peers!r}, {every_ms})\n"


def run_cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the real ``bitmesh`` console script."""
    return subprocess.run([str(BITMESH), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _ctrl_c_stops() -> None:
    # A job started in the background by a non-interactive shell (`make test &`)
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt:
    # the Ctrl-C these tests send would be lost.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_logs(*args: str) -> subprocess.Popen[str]:
    """Start ``bitmesh logs ARGS`` as a user would in a terminal, where Ctrl-C
    (SIGINT) stops it, whatever the test run itself inherited."""
    return subprocess.Popen([str(BITMESH), "logs", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_stops)


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    """Assert a failed command printed exactly one line and no traceback."""
    assert proc.returncode != 0, proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


__all__ = ["PtyBoard", "logger_script", "run_cli", "one_line_error", "sys"]
