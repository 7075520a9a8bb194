"""`bitmesh bench`: measure, compare, write build/bench.json, print a table.

Benchmarks compare; they never assert. Each area contributes a function
returning a flat dict of figures; a missing optional part (no mosquitto, say)
is reported as skipped with its reason instead of failing the run.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MPY_SCRIPTS = Path(__file__).with_name("mpy_scripts")
BOARD_HEAP = "110wK"

# (figure prefix, "module:function") for the areas other than the core.
AREAS = [
    ("sim", "bitmesh.sim.bench:bench_sim"),
    ("routers", "bitmesh.sim.bench:bench_routers"),
    ("hostlink", "bitmesh.vboard.bench:bench_hostlink"),
    ("gateway", "bitmesh.gateway.bench:bench_gateway"),
    ("games", "bitmesh.game_bench:bench_games"),
    ("logs", "bitmesh.logcollect:bench_logs"),
]


def micropython() -> str:
    exe = Path(sys.executable).with_name("micropython")
    return str(exe) if exe.exists() else "micropython"


def _json_line(out: str) -> dict[str, Any]:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise RuntimeError("no JSON in output: " + out[-300:])


def bench_core() -> dict[str, float]:
    """Hash, forward path and codec on MicroPython (board heap) and CPython."""
    script = str(MPY_SCRIPTS / "bench_core.py")
    shared = str(ROOT / "shared")
    r = subprocess.run([micropython(), "-X", f"heapsize={BOARD_HEAP}", script, shared],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip() or r.stdout.strip())
    mp = _json_line(r.stdout)
    r2 = subprocess.run([sys.executable, script, shared], capture_output=True, text=True, timeout=300)
    if r2.returncode != 0:
        raise RuntimeError(r2.stderr.strip())
    cp = _json_line(r2.stdout)
    return {
        "hash_viper_speedup": mp["hash_viper_speedup"],
        "hash_viper_us": mp["hash_viper_us"],
        "hash_py_us_micropython": mp["hash_py_us"],
        "forward_us_micropython": mp["forward_us"],
        "forward_us_micropython_best": mp["forward_us_best"],
        "forward_us_cpython": cp["forward_us"],
        "codec_us_micropython": mp["codec_us"],
        "codec_us_cpython": cp["codec_us"],
    }


def bench_forward_instructions(frames: int = 2000) -> dict[str, float]:
    """The forward path's machine instructions per relayed frame on the
    MicroPython VM with a board-sized heap, counted by valgrind
    (mpy_scripts/bench_forward_ir.py): a figure the load of a shared machine
    does not move, for comparing changes. Also the bytes it allocates per
    frame (with the collector off, so none is reclaimed between counts)."""
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is not installed (apt-get install valgrind)")
    script = str(MPY_SCRIPTS / "bench_forward_ir.py")
    shared = str(ROOT / "shared")

    def run(mode: str, *pre: str, heap: str = BOARD_HEAP, nogc: bool = False) -> str:
        cmd = [*pre, micropython(), "-X", f"heapsize={heap}", script, shared, str(frames), mode]
        r = subprocess.run(cmd + (["nogc"] if nogc else []), capture_output=True, text=True,
                           timeout=600)
        if r.returncode != 0:
            raise RuntimeError((r.stderr.strip() or r.stdout.strip())[-300:])
        return r.stdout + r.stderr

    def instructions(mode: str) -> int:
        out = run(mode, "valgrind", "--tool=cachegrind", "--cache-sim=no",
                  "--cachegrind-out-file=/dev/null")
        m = re.search(r"I\s+refs:\s+([\d,]+)", out)
        if m is None:
            raise RuntimeError("no instruction count from valgrind: " + out[-300:])
        return int(m.group(1).replace(",", ""))

    def allocated(mode: str) -> int:
        # Without the collector every frame's garbage stays: a heap that holds it.
        return int(_json_line(run(mode, heap="10000wK", nogc=True))["alloc"])

    return {
        "forward_instr_micropython": float((instructions("fwd") - instructions("build")) // frames),
        "forward_alloc_bytes_micropython": float((allocated("fwd") - allocated("build")) // frames),
    }


def bench_heap() -> dict[str, float]:
    """One node with 128 peers, 1024 dedup entries and every table full
    (tests/mpy/budget.py): does it run under -X heapsize=64wK (the target)
    and 110wK (a plain ESP32's heap) with its code loaded into RAM, and under
    64wK and 96wK with its code in flash (ROMFS)? And with the flood router
    instead of bitmesh, under 64wK both ways? Where it runs, the live heap and
    the code's share of it."""
    compiled = ROOT / "build/mpy-unix"
    subprocess.run([sys.executable, str(ROOT / "tests/mpy/compile_core.py"), str(compiled)],
                   check=True, timeout=300)
    # Paths relative to ROOT (the runs' working directory), as `make test-mpy`
    # runs them: module paths are interned strings on the VM's heap.
    env = dict(os.environ, BITMESH_CORE_PATH=str(compiled.relative_to(ROOT)))
    runs: list[tuple[str, list[str], dict[str, str] | None]] = [
        (f"heap{wk}", [micropython(), "-X", f"heapsize={wk}wK", "tests/mpy/budget.py"], env)
        for wk in (64, 110)]
    runs += [(f"heap{wk}_romfs", [sys.executable, str(ROOT / "tests/mpy/budget_romfs.py"), str(wk)], None)
             for wk in (64, 96)]
    # The same node with the flood router (the forwarding issue 2 specified):
    # every table but the bitmesh router's.
    flood = dict(env, BITMESH_BUDGET_ROUTER="flood")
    runs += [("heap64_flood", [micropython(), "-X", "heapsize=64wK", "tests/mpy/budget.py"],
              flood),
             ("heap64_flood_romfs", [sys.executable, str(ROOT / "tests/mpy/budget_romfs.py"), "64"],
              flood)]
    out: dict[str, float] = {}
    for tag, cmd, run_env in runs:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=run_env, cwd=ROOT)
        out[f"{tag}_ok"] = 1.0 if r.returncode == 0 else 0.0
        try:
            d = _json_line(r.stdout)
        except (RuntimeError, ValueError, KeyError):
            continue  # a MemoryError before the report: only the verdict
        out[f"{tag}_live_bytes"] = float(d["heap_live_bytes"])
        out[f"{tag}_code_bytes"] = float(d["code_bytes"])
    return out


def _load(spec: str) -> Callable[[], dict[str, float]] | None:
    mod_name, fn = spec.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError:
        return None
    f = getattr(mod, fn, None)
    return f if callable(f) else None


def run_all(progress: Callable[[str], None]) -> dict[str, Any]:
    results: dict[str, Any] = {"figures": {}, "skipped": {}, "seconds": {}}
    areas: list[tuple[str, Callable[[], dict[str, float]] | None]] = [
        ("core", bench_core), ("instructions", bench_forward_instructions), ("heap", bench_heap)]
    areas += [(name, _load(spec)) for name, spec in AREAS]
    for name, fn in areas:
        if fn is None:
            results["skipped"][name] = "not available in this build"
            continue
        progress(name)
        t0 = time.monotonic()
        try:
            figs = fn()
        except Exception as exc:  # noqa: BLE001 - a bench area failing must not hide the others
            results["skipped"][name] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        results["seconds"][name] = round(time.monotonic() - t0, 1)
        for k, v in figs.items():
            results["figures"][k] = v
    return results
