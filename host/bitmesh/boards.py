"""Board descriptions: which chip, which MicroPython image, where it goes.

Each supported board is one JSON file in ``boards/`` at the root of the
repository (next to ``host/``); the file's stem is the board's name. The
``BITMESH_BOARDS`` environment variable points at another folder, for an
installed (non-editable) toolkit or for tests.

:func:`load_board` returns a validated, immutable :class:`Board` or raises
:class:`~bitmesh.errors.UsageError` with one line that says what is wrong.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitmesh.errors import UsageError

# host/bitmesh/boards.py -> parents[2] is the repository root.
DEFAULT_BOARDS_DIR = Path(__file__).resolve().parents[2] / "boards"
BOARDS_ENV = "BITMESH_BOARDS"

RADIOS = ("espnow", "ble")
LED_TYPES = ("gpio", "ws2812")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}\Z")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
# The chips this toolkit knows, as esptool names them (CHIP_NAME, --chip).
ESPTOOL_CHIPS = {
    "esp32": "ESP32",
    "esp32s2": "ESP32-S2",
    "esp32s3": "ESP32-S3",
    "esp32c3": "ESP32-C3",
    "esp32c6": "ESP32-C6",
}


@dataclass(frozen=True)
class FirmwareImage:
    """A pinned MicroPython release: ``url`` is fetched, ``sha256`` checked if set."""

    name: str
    version: str
    url: str
    sha256: str | None

    @property
    def filename(self) -> str:
        """The last path component of the URL, used as the cache file name."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Board:
    """One supported board; ``flash_offset`` is already parsed to an int."""

    name: str
    chip: str
    esptool_chip: str
    image: FirmwareImage
    flash_offset: int
    led_pin: int | None
    led_type: str | None
    radios: tuple[str, ...]
    heap_kb: int
    notes: str
    path: Path

    @property
    def flash_offset_hex(self) -> str:
        """The offset as esptool takes it on the command line, e.g. ``0x1000``."""
        return hex(self.flash_offset)


def boards_dir() -> Path:
    """The folder holding the board files (``$BITMESH_BOARDS`` wins)."""
    env = os.environ.get(BOARDS_ENV)
    return Path(env) if env else DEFAULT_BOARDS_DIR


def list_boards(directory: Path | None = None) -> list[str]:
    """Names of the boards described in ``directory``, sorted; [] if it is missing."""
    folder = directory if directory is not None else boards_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _NAME_RE.match(p.stem))


def load_board(name: str, directory: Path | None = None) -> Board:
    """Read and validate the board file ``<name>.json``.

    Raises UsageError for an unknown name (listing the known boards) and for a
    board file that is not valid JSON or misses or mistypes a field.
    """
    folder = directory if directory is not None else boards_dir()
    known = list_boards(folder)
    if not _NAME_RE.match(name) or name not in known:
        listing = ", ".join(known) if known else f"none found in {folder}"
        raise UsageError(f"unknown board {name!r}; known boards: {listing}")
    path = folder / f"{name}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read board file {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"board file {path} is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from exc
    try:
        return _parse_board(name, path, raw)
    except ValueError as exc:
        raise UsageError(f"board file {path} is invalid: {exc}") from exc


def _parse_board(name: str, path: Path, raw: Any) -> Board:
    if not isinstance(raw, dict):
        raise ValueError("the top level must be an object")
    chip = _str(raw, "chip")
    esptool_chip = _str(raw, "esptool_chip")
    if esptool_chip not in ESPTOOL_CHIPS:
        raise ValueError(f"esptool_chip must be one of {', '.join(ESPTOOL_CHIPS)}")
    if ESPTOOL_CHIPS[esptool_chip] != chip:
        raise ValueError(f"chip {chip!r} does not match esptool_chip {esptool_chip!r}")

    image_raw = raw.get("image")
    if not isinstance(image_raw, dict):
        raise ValueError("image must be an object with name, version, url, sha256")
    url = _str(image_raw, "url", "image.")
    if not url.startswith(("https://", "http://")):
        raise ValueError("image.url must be an http(s) URL")
    sha256 = image_raw.get("sha256")
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256_RE.match(sha256)):
        raise ValueError("image.sha256 must be null or 64 lowercase hex digits")
    image = FirmwareImage(
        name=_str(image_raw, "name", "image."),
        version=_str(image_raw, "version", "image."),
        url=url,
        sha256=sha256,
    )

    offset_raw = _str(raw, "flash_offset")
    try:
        offset = int(offset_raw, 16)
    except ValueError:
        raise ValueError(f"flash_offset {offset_raw!r} is not a hex number") from None
    if offset < 0 or offset % 0x1000:
        raise ValueError("flash_offset must be a non-negative multiple of 0x1000")

    led_pin = raw.get("led_pin")
    if led_pin is not None and (type(led_pin) is not int or not 0 <= led_pin <= 48):
        raise ValueError("led_pin must be null or a GPIO number 0..48")
    led_type = raw.get("led_type")
    if led_type is not None and led_type not in LED_TYPES:
        raise ValueError(f"led_type must be null or one of {', '.join(LED_TYPES)}")

    radios = raw.get("radios")
    if (
        not isinstance(radios, list)
        or not radios
        or any(r not in RADIOS for r in radios)
        or len(set(radios)) != len(radios)
    ):
        raise ValueError(f"radios must be a non-empty list drawn from {', '.join(RADIOS)}")

    heap_kb = raw.get("heap_kb")
    if type(heap_kb) is not int or heap_kb <= 0:
        raise ValueError("heap_kb must be a positive integer")
    notes = raw.get("notes", "")
    if not isinstance(notes, str):
        raise ValueError("notes must be a string")

    return Board(
        name=name,
        chip=chip,
        esptool_chip=esptool_chip,
        image=image,
        flash_offset=offset,
        led_pin=led_pin,
        led_type=led_type,
        radios=tuple(radios),
        heap_kb=heap_kb,
        notes=notes,
        path=path,
    )


def _str(obj: dict[str, Any], key: str, prefix: str = "") -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{prefix}{key} must be a non-empty string")
    return value
