"""The memory budget with the core's code in flash, as a ROMFS image.

`make test-mpy` runs this after the in-RAM budget check. It builds the board
files for this machine's unix port (`bitmesh build --romfs`'s image), then runs
tests/mpy/budget.py with the image mounted at /rom. The unix port has no flash,
so budget.py holds the image in one heap buffer, allocated first; the heap is
WORDS_K wK (scaled by word size as -X heapsize=NwK would be) plus exactly the
image's length, so the node itself gets WORDS_K wK. The default is the issue-2
target, 64; with every table full the node needs more, and `make test-mpy`
passes MPY_BUDGET_ROMFS_WK (docs/ARCHITECTURE.md, "Memory budget").

    python tests/mpy/budget_romfs.py [WORDS_K]     (default 64)

Prints budget.py's JSON line and verdict; exits non-zero when it fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bitmesh import build

ROOT = Path(__file__).resolve().parents[2]
MPY = Path(sys.executable).with_name("micropython")


def build_image(out: Path = ROOT / "build/romfs-unix") -> Path:
    """Build the board files for the unix port and pack them; returns the image."""
    build.build(out, build.host_arch() or None)
    image = out.with_suffix(".romfs")
    image.write_bytes(build.romfs_image(out))
    return image


def word_bytes() -> int:
    """Bytes per word of the MicroPython VM (8 on a 64-bit unix port)."""
    r = subprocess.run([str(MPY), "-c", "import sys; print(8 if sys.maxsize > 1 << 32 else 4)"],
                       capture_output=True, text=True, check=True)
    return int(r.stdout.strip())


def run(words_k: int = 64) -> subprocess.CompletedProcess[str]:
    image = build_image()
    heap = words_k * 1024 * word_bytes() // 4 + image.stat().st_size
    env = dict(os.environ, BITMESH_CORE_ROMFS=str(image))
    return subprocess.run([str(MPY), "-X", f"heapsize={heap}", str(ROOT / "tests/mpy/budget.py")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def main() -> int:
    words_k = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    r = run(words_k)
    sys.stdout.write(r.stdout + r.stderr)
    print(f"budget with the core in ROMFS: {words_k}wK plus the image, "
          + ("passed" if r.returncode == 0 else "FAILED"))
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
