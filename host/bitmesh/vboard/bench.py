"""Benchmarks of the host link and the firmware on a virtual board.

``bench_hostlink()`` -> dict[str, float]: host-link round trips over a virtual
board's pty with the port set to 115200 and 921600 baud. A pty ignores the
baud rate (termios speeds are stored, not enforced), so the figure is what the
firmware and the framing sustain, expressed as a fraction of what that line
rate would carry; values above 1.0 mean the line, not the board, would be the
limit. ``pty_ignores_baud`` is 1.0 to say so. Also reports the board's lowest
free heap (bytes, as gc.mem_free() reports on the 64-bit unix port with a
word-adjusted 110wK heap) during the run.

``bench_vboard_soak(duration_s=600)`` -> dict[str, float]: 10 virtual boards
with the capped heap play tests/scenarios/vboard-soak-10.json (broadcast and
unicast traffic, 10 % loss, one reboot) through ``run_vmesh`` with the
``bitmesh`` core router. Reports the lowest free heap over all nodes and per
node, the MemoryErrors the boards logged or counted, the delivery ratios and
the first-peer time in heartbeat intervals (issue 5's targets). It takes
``duration_s`` of wall time plus about 15 s; a benchmark, never a test.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bitmesh import build
from bitmesh.hostlink import HostLink, classify_line, encode_line
from bitmesh.vboard import manager
from bitmesh.vboard.medium import Medium

REQUESTS = 300
SOAK_SCENARIO = manager.ROOT / "tests" / "scenarios" / "vboard-soak-10.json"


def _measure(port: str, baud: int) -> tuple[float, float]:
    """(bytes per second both ways, requests per second) for pipelined pings."""
    with HostLink(port, baud) as h:
        h.request("ping")
        lines = [encode_line({"op": "ping", "id": 100000 + i}) for i in range(REQUESTS)]
        t0 = time.perf_counter()
        sent = 0
        got = 0
        rx_bytes = 0
        window = 16  # keep the board's input buffer from overflowing
        buf = b""
        while got < REQUESTS:
            while sent < REQUESTS and sent - got < window:
                h.ser.write(lines[sent])
                sent += 1
            data = h.ser.read(max(1, h.ser.in_waiting))
            buf += data
            *full, buf = buf.split(b"\n")
            for raw in full:
                rx_bytes += len(raw) + 1
                kind, value = classify_line(raw)
                if kind == "msg" and value.get("re", 0) >= 100000:
                    got += 1
        dt = time.perf_counter() - t0
    tx_bytes = sum(len(x) for x in lines)
    return (tx_bytes + rx_bytes) / 2 / dt, REQUESTS / dt


def bench_hostlink() -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="bitmesh-bench-"))
    medium = Medium()
    medium.start()
    d = root / "board"
    try:
        fw = root / "fw"
        build.build(fw, build.host_arch() or None)
        build.install(fw, d)
        manager.write_config(d, manager.make_config("bench", secrets.token_hex(32)))
        st = manager.start(d, medium=medium.address)
        out: dict[str, float] = {"pty_ignores_baud": 1.0}
        for baud in (115200, 921600):
            bps, rps = _measure(str(st["port"]), baud)
            out[f"hostlink_{baud}_bytes_per_s"] = round(bps, 1)
            out[f"hostlink_{baud}_line_fraction"] = round(bps / (baud / 10), 3)
            out[f"hostlink_{baud}_requests_per_s"] = round(rps, 1)
        with HostLink(str(st["port"])) as h:
            heap = h.request("status")["status"]["heap"]
        out["firmware_heap_min_free_bytes"] = float(heap["min_free"])
        out["firmware_heap_free_bytes"] = float(heap["free"])
        return out
    finally:
        manager.stop(d)
        medium.stop()
        shutil.rmtree(root, ignore_errors=True)


def soak_figures(res: dict[str, Any]) -> dict[str, float]:
    """The flat benchmark figures of one vmesh result (see bench_vboard_soak)."""
    fw = res["firmware"]
    heaps = {k: v for k, v in fw["heap_min_free"].items() if isinstance(v, int)}
    firsts = [v for v in fw["first_peer_heartbeats"].values() if v is not None]
    out: dict[str, float] = {
        "vboard_soak_nodes": float(res["nodes"]),
        "vboard_soak_duration_s": float(res.get("duration_s", 0.0)),
        "vboard_soak_min_free_heap": float(min(heaps.values())) if heaps else -1.0,
        "vboard_soak_memory_errors": float(sum(fw["memory_errors"].values())),
        "vboard_soak_boots": float(sum(fw["boots"].values())),
        "vboard_soak_broadcast_delivery": float(res["broadcast"]["delivery_ratio"]),
        "vboard_soak_unicast_delivery": float(res["unicast"]["delivery_ratio"]),
        "vboard_soak_unicast_sent": float(res["unicast"]["sent"]),
        "vboard_soak_broadcast_sent": float(res["broadcast"]["sent"]),
        "vboard_first_peer_heartbeats": float(max(firsts)) if firsts else -1.0,
        "vboard_first_peer_nodes_measured": float(len(firsts)),
    }
    for name, v in sorted(heaps.items(), key=lambda kv: int(kv[0].lstrip("n") or 0)):
        out[f"vboard_soak_min_free_heap_{name}"] = float(v)
    return out


def bench_vboard_soak(duration_s: float = 600, json_out: Path | None = None,
                      logs_dir: Path | None = None) -> dict[str, float]:
    """Issue 5's soak: 10 boards, capped heap, ``duration_s`` of traffic.
    ``json_out`` keeps the whole vmesh result, ``logs_dir`` every board's log."""
    from bitmesh.vboard.vmesh import run_vmesh

    res = run_vmesh(SOAK_SCENARIO, duration_s=duration_s, router="bitmesh", logs_dir=logs_dir)
    res["duration_s"] = duration_s
    if json_out is not None:
        json_out.write_text(json.dumps(res, indent=1))
    return soak_figures(res)


if __name__ == "__main__":
    import sys

    # python -m bitmesh.vboard.bench soak [SECONDS [RESULT.json [LOGDIR]]]
    if sys.argv[1:2] == ["soak"]:
        secs = float(sys.argv[2]) if len(sys.argv) > 2 else 600.0
        out = Path(sys.argv[3]) if len(sys.argv) > 3 else None
        logs = Path(sys.argv[4]) if len(sys.argv) > 4 else None
        print(json.dumps(bench_vboard_soak(secs, out, logs), indent=1))
    else:
        print(json.dumps(bench_hostlink(), indent=1))
