"""Files that hold secrets: the inventory, network exports, the gateway's token and identity.

Contract: such a file is only ever written whole, through a temporary file in
the same folder (fsync, ``os.replace``), created with mode 0600; a missing folder
is made with mode 0700. Failures raise UsageError naming the path.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from bitmesh.errors import UsageError


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically; the file has mode 0600."""
    ensure_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o600)  # the umask may have removed bits we need
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
        raise
    _fsync_dir(path.parent)


def ensure_dir(folder: Path) -> None:
    """Create ``folder`` (mode 0700) and its parents if missing; UsageError if that fails."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageError(f"cannot create folder {folder}: {exc.strerror}") from exc


def _fsync_dir(folder: Path) -> None:
    # Makes the rename durable; not possible (nor needed) on every platform.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
