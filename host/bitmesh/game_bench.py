"""``bench_games()``: the cost of player authentication (game/auth.py).

Signs and verifies a 100-byte move with the Ed25519-style Schnorr signer on
CPython and on the MicroPython unix VM (``.venv/bin/micropython``, the core
loaded from shared/), in microseconds per operation. The VM runs on this
laptop; an ESP32 at 240 MHz is roughly 30 to 60 times slower (docs/GAMES.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
N = 20

_MPY_SCRIPT = """
import sys, time
sys.path.insert(0, %r)
from bitmesh_core.game.auth import Signer, verify
s = Signer(bytes(range(32)))
msg = bytes(100)
t0 = time.ticks_us()
for i in range(%d):
    sig = s.sign(msg)
t1 = time.ticks_us()
for i in range(%d):
    ok = verify(s.public, msg, sig)
t2 = time.ticks_us()
print('{"sign_us": %%d, "verify_us": %%d, "ok": %%d}' %% (
    time.ticks_diff(t1, t0) // %d, time.ticks_diff(t2, t1) // %d, 1 if ok else 0))
"""


def _cpython() -> tuple[float, float]:
    sys.path.insert(0, str(ROOT / "shared"))
    from bitmesh_core.game.auth import Signer, verify

    s = Signer(bytes(range(32)))
    msg = bytes(100)
    t0 = time.perf_counter()
    for _ in range(N):
        sig = s.sign(msg)
    t1 = time.perf_counter()
    for _ in range(N):
        verify(s.public, msg, sig)
    t2 = time.perf_counter()
    return (t1 - t0) * 1e6 / N, (t2 - t1) * 1e6 / N


def _micropython() -> tuple[float, float] | None:
    mpy = Path(sys.executable).with_name("micropython")
    if not mpy.exists():
        return None
    code = _MPY_SCRIPT % (str(ROOT / "shared"), N, N, N, N)
    r = subprocess.run([str(mpy), "-X", "heapsize=110wK", "-c", code], capture_output=True,
                       text=True, timeout=600)
    if r.returncode != 0:
        return None
    d = json.loads(r.stdout.strip().splitlines()[-1])
    if not d.get("ok"):
        return None
    return float(d["sign_us"]), float(d["verify_us"])


def bench_games() -> dict[str, float]:
    """sign/verify cost of a signed move, CPython and the MicroPython VM."""
    out: dict[str, float] = {}
    s, v = _cpython()
    out["sign_us_cpython"] = round(s, 1)
    out["verify_us_cpython"] = round(v, 1)
    m = _micropython()
    if m is not None:
        out["sign_us_micropython"] = m[0]
        out["verify_us_micropython"] = m[1]
    out["signature_bytes"] = 64.0
    out["public_key_bytes"] = 32.0
    return out


if __name__ == "__main__":
    print(json.dumps(bench_games(), indent=2))
