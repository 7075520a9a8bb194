"""Run the dual-runtime core tests on the MicroPython unix port.

Usage (from the repo root; `make test-mpy` runs tests/mpy/run_all.py, which
calls this once per file with a board-sized heap and the core as .mpy files):
    micropython -X heapsize=110wK tests/mpy/run.py [name-filter]

The filter is a substring of "file.py::test_name"; "file.py" or
"file.py::test_x" also skips importing every other file.

Discovers tests/core/test_*.py, runs every ``test_*`` function and prints one
line per failure, then the closing line "N passed, N failed".
"""

import gc
import os
import sys

ROOT = "/".join(sys.argv[0].split("/")[:-3]) or "."  # tests/mpy/run.py -> repo root
sys.path.insert(0, ROOT + "/tests")
sys.path.insert(0, os.getenv("BITMESH_CORE_PATH") or ROOT + "/shared")


def main() -> int:
    filt = sys.argv[1] if len(sys.argv) > 1 else ""
    # Collect after every 8 KB allocated, as firmware/shell.py does on a board:
    # the garbage of each frame does not scatter holes between long-lived ones.
    gc.threshold(8192)
    files = sorted(f for f in os.listdir(ROOT + "/tests/core") if f.startswith("test_") and f.endswith(".py"))
    passed = 0
    failed = 0
    for f in files:
        mod_name = f[:-3]
        if (filt.endswith(".py") or ".py::" in filt) and not (filt + "::").startswith(f + "::"):
            continue  # a file filter (run_all.py): do not spend the heap importing others
        try:
            mod = __import__("core." + mod_name, None, None, [mod_name])
        except Exception as e:  # noqa: BLE001
            print("FAIL import", f, repr(e))
            sys.print_exception(e)  # type: ignore[attr-defined]
            failed += 1
            continue
        for name in sorted(dir(mod)):
            if not name.startswith("test_") or (filt and filt not in f + "::" + name):
                continue
            fn = getattr(mod, name)
            gc.collect()
            try:
                fn()
                passed += 1
            except Exception as e:  # noqa: BLE001
                failed += 1
                print("FAIL", f + "::" + name, repr(e))
                sys.print_exception(e)  # type: ignore[attr-defined]
        # Free the module's objects before the next file: the heap is board-sized.
        del sys.modules["core." + mod_name]
        gc.collect()
    gc.collect()
    print("heap free after tests:", gc.mem_free())
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


sys.exit(main())
