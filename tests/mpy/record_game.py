"""Record one game player's whole life for tests/mpy/game_replay.py (CPython).

Plays the 4-player lossy table of tests/core/test_game_session.py, with node 0
(the host) built as a board is: default tables, its own heap. Every call a
shell makes on node 0 and its game service is written, in order, one JSON
list per line: the frames heard (with time, interface, RSSI and sender), timer
calls, and what came out (frames sent, game events). Replaying the inputs on
the MicroPython VM must give the same outputs, byte for byte.

    python tests/mpy/record_game.py OUT.jsonl [cheat] [seed]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "shared")]

from bitmesh_core.config import NodeConfig  # noqa: E402
from bitmesh_core.node import MeshNode  # noqa: E402
from bitmesh_core.rng import SeededRng  # noqa: E402
from core import test_game_session as table  # noqa: E402
from core.gamemesh import ServiceMesh, frames_digest  # noqa: E402
from core.harness import KEY, make_identity  # noqa: E402

# A board's node: default tables; the table's game timing, so it plays in step.
BOARD = {"game_retry_ms": 1000, "game_reveal_ms": 12000}


class RecordingMesh(ServiceMesh):
    log: list[list[Any]] = []

    def _make(self, i: int) -> MeshNode:
        if i != 0:
            return super()._make(i)
        node = MeshNode(NodeConfig.from_dict(BOARD), make_identity(0), KEY, SeededRng(1000), self.now)
        self.log.append(["node", BOARD, self.now])
        tap(node, self.log)
        return node

    def add(self, i: int, svc: Any) -> None:
        super().add(i, svc)
        if i == 0:
            tap_service(svc, self.log, self)


def tap(node: MeshNode, log: list[list[Any]]) -> None:
    receive, handle_timer, frames, next_event = (node.receive, node.handle_timer,
                                                 node.frames_to_send, node.next_event)

    def rx(iface: int, frame: Any, rssi: int, now: int, addr: Any = None) -> None:
        log.append(["r", now, iface, bytes(frame).hex(), rssi, addr.hex() if addr else None])
        receive(iface, frame, rssi, now, addr)

    def timer(now: int) -> None:
        log.append(["h", now])
        handle_timer(now)

    def out() -> Any:
        f = frames()
        log.append(["f", frames_digest(f)])
        return f

    def event() -> Any:
        e = next_event()
        if e is not None and e.kind == "service":
            d = e.data  # type: ignore[attr-defined]
            log.append(["e", e.name, d.get("round"), d.get("state"), d.get("player")])  # type: ignore[attr-defined]
        return e

    node.receive, node.handle_timer, node.frames_to_send, node.next_event = rx, timer, out, event  # type: ignore[method-assign]


def tap_service(svc: Any, log: list[list[Any]], mesh: ServiceMesh) -> None:
    log.append(["svc", mesh.now])
    on_timer, open_table = svc.on_timer, svc.open_table

    def timer(now: int) -> None:
        log.append(["t", now])
        on_timer(now)

    def opened(table_id: bytes, seats: int, rounds: int, bankroll: int, now: int) -> Any:
        log.append(["open", table_id.hex(), seats, rounds, bankroll, now])
        return open_table(table_id, seats, rounds, bankroll, now)

    svc.on_timer, svc.open_table = timer, opened


def main() -> int:
    out = Path(sys.argv[1])
    cheat = sys.argv[2] if len(sys.argv) > 2 else ""
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    RecordingMesh.log = []
    m, svcs = table.play(cheat, seed=seed, mesh_cls=RecordingMesh)
    finals = [r for r in RecordingMesh.log if r[0] == "e" and r[1] == "round_final"]
    if len(finals) != 3 or svcs[0].tables[table.TABLE].state != "done":
        print(f"record_game: the recorded table did not finish ({len(finals)} rounds)", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        for rec in RecordingMesh.log:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    print(f"recorded {len(RecordingMesh.log)} calls on node 0 ({cheat or 'honest'} table, seed {seed}) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
