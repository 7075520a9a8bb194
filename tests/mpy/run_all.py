"""Run every dual-runtime core test file on the MicroPython VM, one VM per job.

`make test-mpy` calls this. Each job gets a fresh board-sized heap (as a board
boots fresh), and the core is loaded from .mpy files compiled for the unix
port, as a board loads it. Jobs run ``MPY_JOBS`` at a time (default: the
machine's cores, at most 4); the slow multi-player files run one VM per test
so they spread across cores. Prints each job's result as it ends and the
closing line "N passed, N failed"; exits non-zero on any failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Files that host three or four game players in one VM: four boards' worth of
# tables, game state and signing big-int maths share one heap, so they get about
# one and a half board heaps (they pass from 144wK and 128wK). Every other file
# runs on one board's heap, and one game player alone runs on one board's heap
# too: see tests/mpy/game_replay.py.
HEAP_OVERRIDES = {"test_game_session.py": "160wK", "test_game_bots.py": "144wK",
                  # Seven nodes in one board heap: it passes from 110wK exactly,
                  # with nothing to spare.
                  "test_routing_repair.py::test_relay_reports_a_next_hop_that_left": "120wK",
                  # Eight nodes, every table at the size a broadcast needs:
                  # it passes from 112wK.
                  "test_relay_timing.py": "120wK",
                  # Five nodes and five DHTs: it passes from 111wK where the
                  # VM's C stack (which the GC scans) holds a make-sized
                  # environment; at 110wK a relay's MemoryError, dropped as
                  # "internal", lost a lookup.
                  "test_dht.py": "120wK"}
# Files slow enough on the VM to be worth one VM per test function, and
# test_routing_repair.py, whose tests each hold six or seven nodes: each gets a
# fresh board heap of its own rather than the garbage of the test before.
SPLIT = ("test_game_session.py", "test_game_bots.py", "test_routing_repair.py")
TIMEOUT_S = 600


def jobs() -> "list[str]":
    """Filters for tests/mpy/run.py: a file, or file::test for split files.
    The split files come first: they are the longest, so they start first."""
    first, rest = [], []
    for f in sorted((ROOT / "tests/core").glob("test_*.py")):
        if f.name in SPLIT:
            names = re.findall(r"^def (test_\w+)", f.read_text(), re.M)
            first += [f"{f.name}::{n}" for n in names]
        else:
            rest.append(f.name)
    return first + rest


def run_one(mpy: Path, env: "dict[str, str]", filt: str, heap: str) -> "tuple[str, str, int, str, float]":
    t0 = time.monotonic()
    try:
        p = subprocess.run([str(mpy), "-X", f"heapsize={heap}", "tests/mpy/run.py", filt],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        out, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired:
        out, rc = f"timed out after {TIMEOUT_S} s", -1
    return filt, heap, rc, out, time.monotonic() - t0


def main() -> int:
    heap = os.environ.get("MPY_HEAP", "110wK")
    workers = int(os.environ.get("MPY_JOBS") or min(4, os.cpu_count() or 1))
    mpy = Path(sys.executable).with_name("micropython")
    compiled = ROOT / "build/mpy-unix"
    r = subprocess.run([sys.executable, str(ROOT / "tests/mpy/compile_core.py"), str(compiled)])
    if r.returncode != 0:
        return r.returncode
    # Relative to the VM's working directory (ROOT): each module's path is an
    # interned string on the VM's heap, so a long checkout path would cost heap.
    env = dict(os.environ, BITMESH_CORE_PATH=str(compiled.relative_to(ROOT)))
    passed = failed = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futs = [pool.submit(run_one, mpy, env, j,
                            HEAP_OVERRIDES.get(j, HEAP_OVERRIDES.get(j.split("::")[0], heap)))
                for j in jobs()]
        for fut in as_completed(futs):
            filt, h, rc, out, secs = fut.result()
            m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
            if m is None:
                failed += 1
                print(f"{filt}: VM exited {rc} without a result\n{out[-4000:]}", flush=True)
                continue
            passed += int(m.group(1))
            failed += int(m.group(2))
            status = "ok" if m.group(2) == "0" and rc == 0 else "FAILED"
            print(f"{filt} (heap {h}, {secs:.0f} s): {m.group(1)} passed, {m.group(2)} failed [{status}]",
                  flush=True)
            if status != "ok":
                print(out[-6000:], flush=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
