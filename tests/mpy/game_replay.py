"""One game player on a board-sized heap: replay a recorded table on the VM.

Run by `make test-mpy` as:
    micropython -X heapsize=110wK tests/mpy/game_replay.py TRANSCRIPT.jsonl

tests/mpy/record_game.py records, under CPython, every call a shell made on
the host of a 4-player lossy craps table: frames heard, timers, and what came
out. Here the same node (same identity, seed and config, default tables) and
its GameService are built alone in this VM and driven with the recorded inputs
only. Every frame it sends and every game event it raises must equal the
recording byte for byte: the game core is bit-identical on both runtimes, and
one board plays a whole game, signing included, inside one board's heap.
Prints a JSON summary (the live heap's peak, sampled after collections) and "N passed, N failed".
"""

import gc
import json
import os
import sys

ROOT = "/".join(sys.argv[0].split("/")[:-3]) or "."
sys.path.insert(0, ROOT + "/tests")
sys.path.insert(0, os.getenv("BITMESH_CORE_PATH") or ROOT + "/shared")

from bitmesh_core.config import NodeConfig  # noqa: E402
from bitmesh_core.game.craps import BET_PASS  # noqa: E402
from bitmesh_core.game.service import GameService  # noqa: E402
from bitmesh_core.node import MeshNode  # noqa: E402
from bitmesh_core.rng import SeededRng  # noqa: E402
from core.gamemesh import frames_digest  # noqa: E402
from core.harness import KEY, make_identity  # noqa: E402


def replay(path: str) -> dict:
    node = None  # type: MeshNode | None
    svc = None  # type: GameService | None
    calls = frames = events = 0
    peak = 0
    mismatch = ""
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            op = rec[0]
            calls += 1
            if op == "r":
                node.receive(rec[2], bytes.fromhex(rec[3]), rec[4], rec[1],  # type: ignore[union-attr]
                             bytes.fromhex(rec[5]) if rec[5] else None)
            elif op == "t":
                svc.on_timer(rec[1])  # type: ignore[union-attr]
            elif op == "h":
                node.handle_timer(rec[1])  # type: ignore[union-attr]
            elif op == "f":
                sent = node.frames_to_send()  # type: ignore[union-attr]
                frames += len(sent)
                got = frames_digest(sent)
                if got != rec[1] and not mismatch:
                    mismatch = "frames differ at call %d" % calls
            elif op == "e":
                e = node.next_event()  # type: ignore[union-attr]
                while e is not None and e.kind != "service":
                    e = node.next_event()  # type: ignore[union-attr]
                d = e.data if e is not None else {}  # type: ignore[attr-defined]
                got = ["e", e.name if e is not None else None,  # type: ignore[attr-defined]
                       d.get("round"), d.get("state"), d.get("player")]
                events += 1
                if got != rec and not mismatch:
                    mismatch = "event differs at call %d: %r, recorded %r" % (calls, got, rec)
            elif op == "node":
                gc.collect()
                node = MeshNode(NodeConfig.from_dict(rec[1]), make_identity(0), KEY, SeededRng(1000), rec[2])
            elif op == "svc":
                svc = GameService(node, rec[1])
                svc.bet_fn = lambda s: (BET_PASS, 10)
            elif op == "open":
                svc.open_table(bytes.fromhex(rec[1]), rec[2], rec[3], rec[4], rec[5])  # type: ignore[union-attr]
            if calls & 127 == 0:
                # Live heap (after a collection), as a board's shell sees it.
                gc.collect()
                live = gc.mem_alloc()
                if live > peak:
                    peak = live
    rounds = 0
    t = svc.tables if svc is not None else {}
    for k in t:
        if t[k].state == "done":
            rounds = t[k].rnd
    return {"transcript": path.split("/")[-1], "calls": calls, "frames": frames,
            "game_events": events, "rounds": rounds, "heap_live_peak": peak,
            "heap_total": gc.mem_alloc() + gc.mem_free(),
            "drops": node.stats()["drops"] if node else {}, "mismatch": mismatch}


def main() -> int:
    if hasattr(gc, "threshold"):
        gc.threshold(4096)  # as the firmware's shell runs a game-playing board
    passed = failed = 0
    for path in sys.argv[1:]:
        gc.collect()
        r = replay(path)
        ok = not r["mismatch"] and r["rounds"] == 3
        print(json.dumps(r))
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL", path, r["mismatch"] or "the table did not finish")
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


sys.exit(main())
