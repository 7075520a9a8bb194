"""A board's REPL through the real mpremote, with one-line errors.

:class:`BoardRepl` wraps ``mpremote.transport_serial.SerialTransport`` for the
commands that change a board's files (provision, deploy). Contracts:

* It enters the raw REPL *without* a soft reset (mpremote's ``resume`` mode):
  a virtual board on the unix port exits on a soft reset, and a real board
  does not need one to accept commands. Ctrl-C interrupts the running
  firmware first.
* Every failure is a :class:`~bitmesh.errors.BitmeshError` with one line:
  a missing port (UsageError), a busy port, a permission problem (with the
  dialout hint), a board that does not answer within ``timeout`` seconds, or
  a command that raised on the board (its last traceback line).
* mpremote prints diagnostics to stdout on some failures; they are captured
  so that ``--json`` output stays clean.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import io
import json
import os
import time
from collections.abc import Callable
from typing import Any

import serial
from mpremote.transport import TransportError  # type: ignore[import-untyped]
from mpremote.transport_serial import SerialTransport  # type: ignore[import-untyped]

from bitmesh.errors import BitmeshError, UsageError

DIALOUT_HINT = (
    "add yourself to the dialout group (sudo usermod -aG dialout $USER), then log in again"
)
# Bytes of file data per exec when writing: base64 keeps binary .mpy files at
# 4/3 of their size on the wire, against up to 4x for mpremote's repr().
WRITE_CHUNK = 1536


def check_port(port: str) -> None:
    """Raise a one-line error if ``port`` is missing, busy or not permitted.

    Opens the port exclusively with DTR and RTS held low (so an ESP32 is not
    reset) and closes it again.
    """
    if not port:
        raise UsageError("no port given: use --port /dev/ttyUSB0 (or the vboard's pty)")
    if not os.path.exists(port):
        raise UsageError(f"no such port {port}: is the board plugged in?")
    s = serial.Serial()
    s.port = port
    s.dtr = False
    s.rts = False
    s.exclusive = True
    try:
        s.open()
    except serial.SerialException as exc:
        raise port_error(port, exc) from None
    finally:
        with contextlib.suppress(Exception):
            s.close()


def port_error(port: str, exc: BaseException) -> BitmeshError:
    """The one-line error for a port that failed to open."""
    text = str(exc)
    code = getattr(exc, "errno", None)
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return BitmeshError(f"permission denied on {port}: {DIALOUT_HINT}")
    if code == errno.EBUSY or "exclusively lock" in text or "busy" in text.lower():
        return BitmeshError(
            f"port {port} is busy: another program (bitmesh logs, mpremote, a serial "
            "monitor) has it open; close that first"
        )
    if code == errno.ENOENT or "No such file" in text:
        return UsageError(f"no such port {port}: is the board plugged in?")
    return BitmeshError(f"cannot open {port}: {text.splitlines()[0] if text else exc!r}")


class BoardRepl:
    """A raw-REPL session on one board; use as a context manager."""

    def __init__(self, port: str, timeout: float = 8.0) -> None:
        self.port = port
        self.timeout = timeout
        self.transport: SerialTransport | None = None

    def __enter__(self) -> BoardRepl:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        check_port(self.port)
        quiet = io.StringIO()
        try:
            with contextlib.redirect_stdout(quiet):
                # A read timeout: on a pty mpremote reads without polling first, and
                # a board that never answers would block forever.
                self.transport = SerialTransport(
                    self.port, exclusive=True, timeout=min(2.0, self.timeout)
                )
        except (TransportError, OSError) as exc:
            raise port_error(self.port, exc) from None
        # Several short attempts rather than one long one: a board that is
        # still booting (after a flash, a reset, or a virtual board's restart)
        # can lose the first Ctrl-C / Ctrl-A, and each attempt sends them again.
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            try:
                with contextlib.redirect_stdout(quiet):
                    self.transport.enter_raw_repl(
                        soft_reset=False, timeout_overall=max(0.2, min(2.0, left))
                    )
                return
            except (TransportError, OSError, serial.SerialException):
                if time.monotonic() + 0.1 >= deadline:
                    self.close()
                    raise self.no_answer("no MicroPython REPL") from None

    def no_answer(self, what: str) -> BitmeshError:
        return BitmeshError(
            f"board on {self.port} does not answer ({what} within {self.timeout:g}s): "
            "check the cable, or press its reset button"
        )

    def close(self) -> None:
        t = self.transport
        self.transport = None
        if t is None:
            return
        with contextlib.suppress(Exception):
            if t.in_raw_repl:
                t.exit_raw_repl()
        with contextlib.suppress(Exception):
            t.close()

    def _t(self) -> SerialTransport:
        if self.transport is None:
            raise BitmeshError(f"{self.port}: not connected")
        return self.transport

    def exec(self, code: str, timeout: float | None = None) -> bytes:
        """Run ``code`` on the board; return its stdout. One-line errors."""
        t = self._t()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                out, err = t.exec_raw(code, timeout=timeout or self.timeout)
        except (TransportError, OSError, serial.SerialException):
            raise self.no_answer("no reply to a command") from None
        if err:
            last = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
            raise BitmeshError(
                f"board on {self.port} failed: {last[-1] if last else 'error'}"
            )
        return bytes(out)

    def exec_json(self, code: str, timeout: float | None = None) -> Any:
        """Run ``code`` that prints one JSON document as its last line; parse it."""
        out = self.exec(code, timeout).decode("utf-8", "replace").strip().splitlines()
        try:
            return json.loads(out[-1])
        except (IndexError, ValueError):
            raise BitmeshError(f"board on {self.port} gave an unreadable reply") from None

    def write_file(
        self, path: str, data: bytes, progress: Callable[[int], None] | None = None
    ) -> None:
        """Write ``data`` to ``path`` on the board (created or truncated)."""
        self.exec(f"import binascii\n_f=open({path!r},'wb')\n_w=_f.write\n_d=binascii.a2b_base64")
        for i in range(0, len(data), WRITE_CHUNK):
            chunk = data[i : i + WRITE_CHUNK]
            self.exec(f"_w(_d({base64.b64encode(chunk).decode()!r}))")
            if progress is not None:
                progress(len(chunk))
        self.exec("_f.close()\ndel _f,_w,_d")

    def read_file(self, path: str) -> bytes | None:
        """The bytes of ``path`` on the board, or None if it does not exist."""
        code = (
            "import binascii\ntry:\n _f=open(%r,'rb')\nexcept OSError:\n print('-')\nelse:\n"
            " while True:\n  _b=_f.read(768)\n  if not _b: break\n"
            "  print(binascii.b2a_base64(_b).decode().strip())\n _f.close()\n print('.')" % path
        )
        lines = self.exec(code).decode().split()
        if lines and lines[0] == "-":
            return None
        return b"".join(base64.b64decode(x) for x in lines if x != ".")

    def soft_reset(self) -> None:
        """Leave the raw REPL and soft-reset (Ctrl-D), so the firmware restarts."""
        t = self._t()
        try:
            t.exit_raw_repl()
            time.sleep(0.05)
            t.serial.write(b"\x04")
            t.serial.flush()
        except (OSError, serial.SerialException):
            pass  # a virtual board may already be gone: it restarts on its own
