"""Flashing MicroPython onto a board with esptool.

esptool runs as a child process (``sys.executable -m esptool`` from this
interpreter's environment) rather than as a library, because:

* its command line is the interface Espressif keeps stable (the Python API
  changed shape between v4 and v5), so what ``--dry-run`` prints is exactly
  what runs and can be pasted into a shell;
* esptool keeps global logger state and ends with ``sys.exit`` on errors; a
  child process keeps that away from our own process;
* a process boundary gives tests one seam: a :data:`Runner` receives argv
  and returns the exit code and output, so a fake runner stands in for the
  board and records the command sequence.

The flow is :func:`plan_flash` (pure), :func:`check_port` (filesystem only),
then :func:`execute` (runs the steps, turns esptool's failures into one
line through :func:`explain_failure`). The image itself (checking a file,
downloading the pinned release) is bitmesh.firmware_image.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bitmesh.boards import Board, list_boards, load_board
from bitmesh.errors import BitmeshError, UsageError

DEFAULT_BAUD = 460800  # MicroPython's documented flashing speed for the ESP32 family
PERMISSION_HINT = (
    "add your user to the dialout group: `sudo usermod -aG dialout $USER`, then log out and in"
)


@dataclass(frozen=True)
class RunResult:
    """What one esptool run produced: exit code and merged stdout/stderr."""

    returncode: int
    output: str


Runner = Callable[[Sequence[str]], RunResult]


@dataclass(frozen=True)
class Step:
    """One esptool invocation of the flashing sequence."""

    name: str  # "detect", "erase", "write" or "verify"
    title: str
    argv: tuple[str, ...]

    @property
    def command(self) -> str:
        """The argv quoted for a POSIX shell, as --dry-run prints it."""
        return shlex.join(self.argv)


def esptool_argv(*args: str) -> tuple[str, ...]:
    """argv that runs the esptool installed next to this interpreter."""
    return (sys.executable, "-m", "esptool", *args)


def plan_flash(board: Board, port: str, firmware: Path, baud: int = DEFAULT_BAUD) -> list[Step]:
    """The four esptool steps that flash ``firmware`` onto ``board`` at ``port``.

    The first step auto-detects the chip so a wrong board gives our own
    message; later steps pass ``--chip`` so esptool refuses a swapped board.
    esptool 5 has no ``--verify`` flag (write-flash always checks an MD5 of
    what it wrote); the last step re-reads the digest with verify-flash so a
    verification is an explicit, separately reported step.
    """
    common = ("--port", port, "--baud", str(baud))
    chip = ("--chip", board.esptool_chip)
    offset = board.flash_offset_hex
    image = str(firmware)
    return [
        Step("detect", f"checking the chip on {port}", esptool_argv(*common, "chip-id")),
        Step("erase", "erasing the flash", esptool_argv(*chip, *common, "erase-flash")),
        Step(
            "write",
            f"writing {firmware.name} at {offset}",
            esptool_argv(*chip, *common, "write-flash", offset, image),
        ),
        Step(
            "verify",
            "verifying the flash",
            esptool_argv(*chip, *common, "verify-flash", offset, image),
        ),
    ]


def check_port(port: str) -> None:
    """Fail early, with one line, on a port path that is missing or not ours to open.

    Names that are not paths (``COM3``) and pyserial URLs (``rfc2217://``)
    are left for esptool to judge.
    """
    if "://" in port or ("/" not in port and "\\" not in port):
        return
    if not os.path.exists(port):
        raise _missing_port(port)
    if not os.access(port, os.R_OK | os.W_OK):
        raise BitmeshError(f"permission denied on {port}: {PERMISSION_HINT}")


def _missing_port(port: str) -> UsageError:
    try:
        from serial.tools import list_ports

        present = sorted(p.device for p in list_ports.comports())
    except Exception:  # listing is only a hint; never fail the real error on it
        present = []
    seen = ", ".join(present) if present else "none"
    return UsageError(f"serial port {port} does not exist (serial ports present: {seen})")


_CONNECTED_RE = re.compile(r"Connected to (ESP[\w-]+) on ")
_DETECTING_RE = re.compile(r"Detecting chip type\.\.\.\s*(ESP[\w-]+)")
_CHIP_TYPE_RE = re.compile(r"Chip type:\s*(.+)")


def detected_chip(output: str) -> str | None:
    """The chip family esptool reported ("ESP32-S3"), or None if it said nothing."""
    match = _CONNECTED_RE.search(output) or _DETECTING_RE.search(output)
    return match.group(1) if match else None


def chip_description(output: str) -> str | None:
    """esptool's longer chip line, e.g. "ESP32-D0WD-V3 (revision v3.1)"."""
    match = _CHIP_TYPE_RE.search(output)
    return match.group(1).strip() if match else None


def explain_failure(port: str, board: Board, result: RunResult) -> BitmeshError:
    """Turn a failed esptool run into one clear line (never esptool's whole log)."""
    out = result.output
    low = out.lower()
    if "permission denied" in low or re.search(r"errno 13\b", low):
        return BitmeshError(f"permission denied on {port}: {PERMISSION_HINT}")
    if (
        "could not exclusively lock" in low
        or "resource temporarily unavailable" in low
        or "device or resource busy" in low
        or "access is denied" in low  # how Windows reports a port held elsewhere
    ):
        return BitmeshError(
            f"serial port {port} is busy: another program (a serial monitor, mpremote, "
            "`bitmesh logs`) has it open; close it and retry"
        )
    if re.search(r"errno 2\b", low) or "no such file or directory" in low:
        return _missing_port(port)
    wrong = re.search(r"This chip is (ESP[\w-]+), not (ESP[\w-]+)", out)
    if wrong:
        return wrong_chip(port, board, wrong.group(1))
    if "no serial data received" in low or "failed to connect" in low:
        return BitmeshError(
            f"no bootloader answered on {port}: check the USB cable (data, not charge-only), "
            "or hold BOOT while pressing RESET and retry"
        )
    lines = out.splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if "A fatal error occurred:" in lines[index]:
            detail = lines[index].split("A fatal error occurred:", 1)[1].strip()
            # esptool puts the OS's reason on the next line, in parentheses.
            after = lines[index + 1].strip() if index + 1 < len(lines) else ""
            if after.startswith("("):
                detail = f"{detail} {after}"
            return BitmeshError(f"esptool failed on {port}: {detail}")
    last = next((ln.strip() for ln in reversed(lines) if ln.strip()), "")
    detail = f": {last}" if last else ""
    return BitmeshError(f"esptool failed on {port} (exit code {result.returncode}){detail}")


def wrong_chip(port: str, board: Board, found: str) -> UsageError:
    """The error for a board file that does not match the chip on the port."""
    fits = [name for name in list_boards(board.path.parent) if _chip_of(board, name) == found]
    hint = f"; use --board {' or --board '.join(fits)}" if fits else ""
    return UsageError(
        f"wrong chip on {port}: found {found}, but board {board.name} is {board.chip}{hint}"
    )


def _chip_of(board: Board, name: str) -> str | None:
    try:
        return load_board(name, board.path.parent).chip
    except BitmeshError:
        return None


def execute(
    steps: Sequence[Step],
    board: Board,
    port: str,
    runner: Runner,
    on_step: Callable[[int, Step], None] | None = None,
) -> str:
    """Run ``steps`` in order; return esptool's description of the chip found.

    Stops at the first failing step with a one-line BitmeshError. After the
    detect step, a chip other than ``board.chip`` stops the sequence before
    anything is erased.
    """
    description = board.chip
    for index, step in enumerate(steps):
        if on_step is not None:
            on_step(index, step)
        result = runner(step.argv)
        if result.returncode != 0:
            raise explain_failure(port, board, result)
        if step.name == "detect":
            found = detected_chip(result.output)
            if found is None:
                raise BitmeshError(f"esptool did not report which chip is on {port}")
            if found != board.chip:
                raise wrong_chip(port, board, found)
            description = chip_description(result.output) or found
    return description


def subprocess_runner(echo: Callable[[str], None] | None = None) -> Runner:
    """A Runner that runs argv as a child process, passing each output line to ``echo``."""

    def run(argv: Sequence[str]) -> RunResult:
        env = dict(os.environ, NO_COLOR="1", PYTHONUNBUFFERED="1")
        try:
            proc = subprocess.Popen(
                list(argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
                env=env,
            )
        except OSError as exc:
            raise BitmeshError(f"cannot run esptool ({argv[0]}): {exc.strerror}") from exc
        lines: list[str] = []
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                lines.append(line)
                if echo is not None:
                    echo(line.rstrip("\n"))
        return RunResult(proc.wait(), "".join(lines))

    return run
