"""Board bots: three virtual boards with a ``bot`` config play a craps table.

The real firmware on the unix port at the heap every vboard test uses
(``-X heapsize=110wK``): board b0 hosts the table, b1 and b2 join it when they
hear its OPEN, and the three play a few rounds to the end. Every game event
must reach each board's host link, the boards must agree on every round, and
no board may run out of memory (MemoryErrors are counted by the shell and,
inside the core, as ``internal``/``game_internal`` drops).

The figures (lowest free heap while playing, time per round) are printed and
written to ``$BITMESH_BOT_FIGURES`` when that is set.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bitmesh import build
from bitmesh.hostlink import HostLink
from bitmesh.vboard import manager
from bitmesh.vboard.medium import Medium

pytestmark = pytest.mark.vboard

ROUNDS = 3
# Short game timers so a lost move is resent quickly; timeouts well above a
# round's signing time on a loaded host.
NODE = {"heartbeat_ms": 1000, "peer_timeout_ms": 4000, "game_retry_ms": 700,
        "game_lobby_ms": 30000, "game_commit_ms": 30000, "game_reveal_ms": 30000,
        "game_vote_ms": 30000}


class Reader(threading.Thread):
    """Collects every framed message and log line of one board's host link."""

    def __init__(self, port: str) -> None:
        super().__init__(daemon=True)
        self.link = HostLink(port)
        self.msgs: list[tuple[float, dict[str, Any]]] = []
        self.logs: list[dict[str, Any]] = []
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.is_set():
            for kind, value in self.link.iter_lines(timeout=0.2):
                if kind == "msg":
                    self.msgs.append((time.monotonic(), value))
                elif kind == "log":
                    self.logs.append(value)
                if self.stop_flag.is_set():
                    return

    def game(self, name: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, m) for t, m in self.msgs
                if m.get("ev") == "service" and m.get("service") == "game"
                and m.get("name") == name]

    def finish(self) -> dict[str, Any]:
        self.stop_flag.set()
        self.join(10)
        try:
            st: dict[str, Any] = self.link.request("status", timeout=10, check=False)
        finally:
            self.link.close()
        if not st.get("ok"):  # e.g. "out of memory": the figures say so
            return {"error": st.get("error"), "heap": {}, "counters": {"drops": {}},
                    "memory_errors": -1, "loop_errors": -1}
        return dict(st["status"])


def test_three_board_bots_play_a_table(tmp_path: Path, firmware: Path, medium: Medium,
                                       boards: list[Path]) -> None:
    key = secrets.token_hex(32)
    readers: list[Reader] = []
    try:
        for i in range(3):
            d = tmp_path / f"b{i}"
            build.install(firmware, d)
            cfg = manager.make_config(f"b{i}", key, node=NODE)
            cfg["bot"] = {"game": "craps", "table": "vboard-bots", "host": i == 0,
                          "seats": 3, "rounds": ROUNDS}
            manager.write_config(d, cfg)
            boards.append(d)
            st = manager.start(d, medium=medium.address, label=f"b{i}")
            r = Reader(str(st["port"]))
            r.start()
            readers.append(r)
        t0 = time.monotonic()
        end = t0 + 120
        while time.monotonic() < end and not all(r.game("table_done") for r in readers):
            time.sleep(0.5)
        wall = time.monotonic() - t0
        done = [bool(r.game("table_done")) for r in readers]
    finally:
        statuses = [r.finish() for r in readers]

    figures: dict[str, Any] = {"rounds": ROUNDS, "wall_s": round(wall, 1), "boards": []}
    for i, (r, st) in enumerate(zip(readers, statuses, strict=True)):
        finals = r.game("round_final")
        rounds = [m["round"] for _, m in finals]
        times = [t for t, _ in finals]
        started = r.game("table_started")
        per_round = None
        if started and finals:
            per_round = (times[-1] - started[0][0]) / len(finals)
        drops = st["counters"]["drops"]
        heap_logs = [x["heap_free"] for x in r.logs if x.get("msg") == "status"]
        bot_logs = [x.get("heap_free") for x in r.logs if x.get("msg") == "bot_started"]
        figures["boards"].append({
            "board": f"b{i}", "round_finals": rounds,
            "heap_free_bot_started": bot_logs[0] if bot_logs else None,
            "heap_min_free": st["heap"].get("min_free"), "heap_free_end": st["heap"].get("free"), "status_log_heap_free": heap_logs,
            "s_per_round": None if per_round is None else round(per_round, 2),
            "memory_errors": st["memory_errors"], "loop_errors": st["loop_errors"],
            "services": st.get("services"), "status_error": st.get("error"),
            "drops": {k: v for k, v in drops.items()
                      if k in ("internal", "game_internal", "internal_timer")},
            "all_drops": drops, "last_error": st["counters"].get("last_error")})
    text = json.dumps(figures, indent=1)
    print(text)
    if os.environ.get("BITMESH_BOT_FIGURES"):
        Path(os.environ["BITMESH_BOT_FIGURES"]).write_text(text)

    assert all(done), f"table_done on boards {done}; figures {text}"
    states = []
    for i, r in enumerate(readers):
        finals = r.game("round_final")
        assert [m["round"] for _, m in finals] == list(range(1, ROUNDS + 1)), i
        states.append([m["state"] for _, m in finals])
    assert states[0] == states[1] == states[2], "the boards disagree on a round"
    bank = [r.game("table_done")[0][1]["bankrolls"] for r in readers]
    assert bank[0] == bank[1] == bank[2]
    for b in figures["boards"]:
        assert b["memory_errors"] == 0 and b["loop_errors"] == 0, b
        assert not any(b["drops"].values()), b
    for r in readers:
        assert not [x for x in r.logs if x.get("msg") in ("bot_disabled", "loop_error")]
