"""The MicroPython image to flash: checking a local file, and fetching the
board file's pinned release into the download cache.

A download goes to a temporary file in the cache and is renamed into place
only when complete and, if the board file pins a SHA-256, matching; no partial
or mismatching file is ever left where :func:`cached_image_path` points.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bitmesh.boards import FirmwareImage
from bitmesh.errors import BitmeshError, UsageError

CACHE_ENV = "BITMESH_CACHE"
ESP_IMAGE_MAGIC = 0xE9  # first byte of every ESP bootloader/app image


def check_image(path: Path) -> None:
    """Refuse a file that is missing, empty or not an ESP image (first byte 0xE9)."""
    try:
        with path.open("rb") as fh:
            first = fh.read(1)
    except FileNotFoundError:
        raise UsageError(f"firmware file {path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"firmware file {path} is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot read firmware file {path}: {exc.strerror}") from exc
    if not first:
        raise UsageError(f"firmware file {path} is empty")
    if first[0] != ESP_IMAGE_MAGIC:
        raise UsageError(
            f"{path} is not an ESP firmware image (first byte {first[0]:#04x}, expected 0xe9)"
        )


def default_cache_dir() -> Path:
    """Where downloaded images are kept: ``$BITMESH_CACHE`` or the user cache dir."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("bitmesh")) / "firmware"


def cached_image_path(image: FirmwareImage, cache_dir: Path) -> Path:
    """The path the pinned image has (or will have) in the cache."""
    return cache_dir / image.filename


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


Opener = Callable[..., Any]  # urllib.request.urlopen's shape: (url, timeout=) -> response


def fetch_image(
    image: FirmwareImage,
    cache_dir: Path,
    *,
    opener: Opener = urllib.request.urlopen,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Return a local copy of ``image``, downloading it into ``cache_dir`` if needed.

    The download goes to a temporary file in ``cache_dir`` and is renamed into
    place only when complete and, if the board file pins a SHA-256, matching;
    otherwise the partial file is deleted. A cached copy is reused when it
    matches the pinned SHA-256 (or when none is pinned).
    """
    target = cached_image_path(image, cache_dir)
    if target.is_file() and target.stat().st_size > 0:
        if image.sha256 is None or sha256_file(target) == image.sha256:
            return target
        target.unlink()  # a stale copy from an older pin: fetch the pinned one
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=cache_dir, prefix=f".{image.filename}.", suffix=".part")
    except OSError as exc:
        raise BitmeshError(f"cannot write to the cache {cache_dir}: {exc.strerror}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _download(image.url, out, opener, timeout, progress)
            out.flush()
            os.fsync(out.fileno())
        if image.sha256 is not None and digest != image.sha256:
            raise BitmeshError(
                f"SHA-256 mismatch for {image.url}: expected {image.sha256}, got {digest}; "
                "the download was deleted"
            )
        check_image(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return target


def _download(url: str, out: IO[bytes], opener: Opener, timeout: float, progress: bool) -> str:
    hint = "no network? pass --firmware FILE to flash an image you already have"
    try:
        response = opener(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise BitmeshError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise BitmeshError(f"cannot download {url}: {_reason(exc.reason)} ({hint})") from exc
    except OSError as exc:
        raise BitmeshError(f"cannot download {url}: {_reason(exc)} ({hint})") from exc
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    digest = hashlib.sha256()
    length = response.headers.get("Content-Length") if response.headers else None
    total = int(length) if length and length.isdigit() else None
    received = 0
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        disable=not progress,
    )
    try:
        with response, bar:
            task = bar.add_task(f"downloading {url.rsplit('/', 1)[-1]}", total=total)
            while chunk := response.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(task, advance=len(chunk))
    except OSError as exc:
        raise BitmeshError(f"download of {url} broke off: {_reason(exc)} ({hint})") from exc
    if total is not None and received != total:
        raise BitmeshError(f"download of {url} broke off after {received} of {total} bytes")
    return digest.hexdigest()


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__
