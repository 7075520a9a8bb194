"""One virtual board: the process that owns its serial port and its MicroPython VM.

    python -m bitmesh.vboard.supervisor DIR [--medium HOST:PORT] [--label L] [--heap 110wK]

Two pty pairs. The *client* pty's slave path is the board's serial port (what
mpremote, ``HostLink`` and ``bitmesh logs`` open). The *board* pty's slave is
the VM's stdin/stdout and its controlling terminal, configured like a USB
serial console: no echo, no line editing, no output translation, but with
ISIG so Ctrl-C (0x03) interrupts ``main.py`` exactly as on a board. The
supervisor relays bytes between the two masters:

* board to client: written non-blocking; when no one reads, bytes are dropped
  like a UART with nothing attached (clients flush their input on open);
* client to board: written through.

The unix port exits where a board would soft-reset. The supervisor starts the
VM again at once: after a raw-REPL soft reset (mpremote's Ctrl-D) it boots to
the raw REPL without running main.py and prints ``soft reboot``, as a board
does; after any other exit (Ctrl-D at the friendly REPL, a crash) and when the
firmware logs its ``reset`` line (``machine.reset()`` only raises SystemExit on
the unix port) it boots normally (boot.py, main.py).

``DIR/.vboard.json`` holds {"pid", "port", "dir", "ready", "vm_pid", "boots"}
and is removed on SIGTERM. ``ready`` turns true once the board has printed
something after its first boot (the REPL prompt or the firmware's first line).
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path
from typing import Any

STATE = ".vboard.json"
LAUNCHER = Path(__file__).with_name("mpy_launch.upy")  # MicroPython code, not CPython
RAW_BANNER = b"raw REPL; CTRL-B to exit"
RESET_MARK = b'"msg":"reset"'  # firmware/shell.py logs this line right before resetting


def micropython_exe() -> str:
    cand = Path(sys.executable).with_name("micropython")
    return str(cand) if cand.exists() else "micropython"


def console_mode(fd: int) -> None:
    """A USB-serial-console-like line: raw, but 0x03 raises SIGINT."""
    a = termios.tcgetattr(fd)
    a[0] &= ~(termios.ICRNL | termios.INLCR | termios.IGNCR | termios.IXON | termios.IXOFF
              | termios.ISTRIP | termios.BRKINT)
    a[1] &= ~termios.OPOST
    a[3] &= ~(termios.ICANON | termios.ECHO | termios.ECHONL | termios.IEXTEN)
    a[3] |= termios.ISIG
    a[6][termios.VMIN] = 1
    a[6][termios.VTIME] = 0
    a[6][termios.VINTR] = 3
    termios.tcsetattr(fd, termios.TCSANOW, a)


class Supervisor:
    def __init__(self, board_dir: Path, medium: str | None, label: str | None,
                 heap: str) -> None:
        self.dir = board_dir.resolve()
        self.medium = medium
        self.label = label
        self.heap = heap
        self.cm, self.cs = pty.openpty()  # client side
        tty.setraw(self.cs)
        self.port = os.ttyname(self.cs)
        self.bm, self.bs = pty.openpty()  # board side
        console_mode(self.bs)
        os.set_blocking(self.cm, False)
        self.vm: subprocess.Popen[bytes] | None = None
        self.raw_mode = False
        self.ready = False
        self.boots = 0
        self.running = True
        self.tail = b""

    def write_state(self) -> None:
        st = {"pid": os.getpid(), "port": self.port, "dir": str(self.dir), "ready": self.ready,
              "vm_pid": self.vm.pid if self.vm else None, "boots": self.boots,
              "medium": self.medium, "label": self.label}
        tmp = self.dir / (STATE + ".tmp")
        tmp.write_text(json.dumps(st))
        tmp.replace(self.dir / STATE)

    def spawn(self, mode: str) -> None:
        console_mode(self.bs)
        env = dict(os.environ)
        env.update({"BITMESH_BOARD_ROOT": str(self.dir), "BITMESH_BOOT_MODE": mode})
        if self.medium:
            env["BITMESH_MEDIUM"] = self.medium
        if self.label:
            env["BITMESH_VBOARD_LABEL"] = self.label
        bs = self.bs

        def ctty() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 1)

        self.vm = subprocess.Popen(
            [micropython_exe(), "-X", "heapsize=" + self.heap, "-i", str(LAUNCHER)],
            stdin=bs, stdout=bs, stderr=bs, cwd=str(self.dir), env=env,
            start_new_session=True, preexec_fn=ctty)
        self.boots += 1
        self.raw_mode = False
        if mode == "repl":
            os.write(self.bm, b"\x01")  # a board stays in the raw REPL after soft reset
        self.write_state()

    def to_client(self, data: bytes) -> None:
        try:
            os.write(self.cm, data)
        except BlockingIOError:
            pass  # nobody reading: a UART drops bytes too
        except OSError as e:
            if e.errno not in (errno.EIO, errno.EAGAIN):
                raise

    def on_board_output(self, data: bytes) -> None:
        if not self.ready:
            self.ready = True
            self.write_state()
        scan = self.tail + data
        if RESET_MARK in scan and self.vm is not None:
            # the firmware asked for a reset (machine.reset() only raises
            # SystemExit on the unix port): boot again, like a board
            self.raw_mode = False
            self.tail = b""
            self.to_client(data)
            self.vm.terminate()
            return
        if RAW_BANNER in scan:
            self.raw_mode = True
        elif b">>> " in scan:
            self.raw_mode = False
        self.tail = scan[-32:]
        self.to_client(data)

    def on_client_input(self, data: bytes) -> None:
        if self.raw_mode and b"\x02" in data:
            self.raw_mode = False
        os.write(self.bm, data)

    def vm_exited(self) -> None:
        soft = self.raw_mode
        self.drain_board()
        if soft:
            self.to_client(b"soft reboot\r\n")
        self.spawn("repl" if soft else "boot")

    def drain_board(self) -> None:
        while True:
            r, _, _ = select.select([self.bm], [], [], 0.05)
            if not r:
                return
            try:
                data = os.read(self.bm, 4096)
            except OSError:
                return
            if not data:
                return
            self.on_board_output(data)

    def stop(self, *_: Any) -> None:
        self.running = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        self.spawn("boot")
        try:
            while self.running:
                try:
                    r, _, _ = select.select([self.bm, self.cm], [], [], 0.2)
                except InterruptedError:
                    continue
                if self.bm in r:
                    try:
                        data = os.read(self.bm, 4096)
                    except OSError:
                        data = b""
                    if data:
                        self.on_board_output(data)
                if self.cm in r:
                    try:
                        data = os.read(self.cm, 4096)
                    except (BlockingIOError, OSError):
                        data = b""
                    if data:
                        self.on_client_input(data)
                if self.vm is not None and self.vm.poll() is not None:
                    self.vm_exited()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        if self.vm is not None and self.vm.poll() is None:
            self.vm.terminate()
            try:
                self.vm.wait(3)
            except subprocess.TimeoutExpired:
                self.vm.kill()
        try:
            (self.dir / STATE).unlink()
        except FileNotFoundError:
            pass


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="bitmesh-vboard")
    ap.add_argument("dir")
    ap.add_argument("--medium")
    ap.add_argument("--label")
    ap.add_argument("--heap", default="110wK")
    a = ap.parse_args(argv)
    d = Path(a.dir)
    d.mkdir(parents=True, exist_ok=True)
    time.sleep(0)
    Supervisor(d, a.medium, a.label, a.heap).run()


if __name__ == "__main__":
    main()
