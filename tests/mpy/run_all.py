"""Run every dual-runtime core test file on the MicroPython VM, one VM per file.

`make test-mpy` calls this. Each file gets a fresh board-sized heap (as a board
boots fresh), and the core is loaded from .mpy files compiled for the unix
port, as a board loads it. Prints each file's result and the closing line
"N passed, N failed"; exits non-zero on any failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Files that host several game players in one VM: three or four nodes, each with its
# signing big-int maths, are three boards' worth of data sharing one heap, so
# they get a heap of about four boards. Every other file runs on one board's heap.
HEAP_OVERRIDES = {"test_game_session.py": "384wK", "test_game_bots.py": "320wK"}


def main() -> int:
    heap = os.environ.get("MPY_HEAP", "110wK")
    mpy = Path(sys.executable).with_name("micropython")
    compiled = ROOT / "build/mpy-unix"
    r = subprocess.run([sys.executable, str(ROOT / "tests/mpy/compile_core.py"), str(compiled)])
    if r.returncode != 0:
        return r.returncode
    env = dict(os.environ, BITMESH_CORE_PATH=str(compiled))
    passed = failed = 0
    for f in sorted((ROOT / "tests/core").glob("test_*.py")):
        h = HEAP_OVERRIDES.get(f.name, heap)
        p = subprocess.run([str(mpy), "-X", f"heapsize={h}", "tests/mpy/run.py", f.name],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        m = re.search(r"^(\d+) passed, (\d+) failed$", p.stdout, re.M)
        if m is None:
            failed += 1
            print(f"{f.name}: VM exited {p.returncode} without a result\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
            continue
        passed += int(m.group(1))
        failed += int(m.group(2))
        status = "ok" if m.group(2) == "0" and p.returncode == 0 else "FAILED"
        print(f"{f.name} (heap {h}): {m.group(1)} passed, {m.group(2)} failed [{status}]")
        if status != "ok":
            print(p.stdout[-4000:], p.stderr[-2000:])
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
