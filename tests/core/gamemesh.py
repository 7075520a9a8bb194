"""Helpers for the game/DHT/credit core tests (both runtimes): a harness Mesh
whose nodes also run services, ticked like a shell would."""

import binascii
import gc
import hashlib

from core.harness import Mesh

# Tables for a few players sharing one board-sized MicroPython heap.
GAME_SMALL = {"game_retry_ms": 1000, "game_reveal_ms": 12000, "dedup_capacity": 16,
              "max_peers": 4, "replay_senders": 4, "tx_queue_max": 12, "events_max": 8,
              "game_tables": 1, "game_lobby_max": 1, "reputation_max": 8, "max_routes": 4,
              "origin_slots": 4, "msg_dedup": 8, "hold_max": 1, "pending_relays": 2,
              "hop_pending": 2}


def frames_digest(frames: list) -> str:
    """What a shell sent in one ``frames_to_send`` call (interface, link
    address and bytes of every frame), hashed: tests/mpy/record_game.py writes
    it and tests/mpy/game_replay.py compares it."""
    h = hashlib.sha256()
    for iface, addr, frame in frames:
        h.update(bytes((iface,)) + (addr or b"") + b"|" + bytes(frame) + b"|")
    return binascii.hexlify(h.digest()[:8]).decode()


def finals(m: "ServiceMesh", i: int) -> "list[tuple]":
    """(round, state hash) of every round node ``i`` saw final."""
    return [(e.data["round"], e.data["state"]) for e in m.service_events(i, "round_final")]


class ServiceMesh(Mesh):
    """A Mesh whose step also drives each node's services' timers."""

    def __init__(self, n: int, links: "list[tuple]", seed: int = 1,
                 config: "dict[str, object] | None" = None, lean: bool = True) -> None:
        self.lean = lean
        if hasattr(gc, "threshold"):
            # Collect early: long-lived moves then pack at the bottom of the
            # heap instead of being scattered between big-int garbage, which
            # fragments it. Every 16 KB, not every 2 KB: each collection scans
            # four players' heap, and 2 KB made the VM spend 6x longer in it.
            gc.threshold(16384)
        Mesh.__init__(self, n, links, seed, config, step_ms=10)
        self.svcs = [[] for _ in range(n)]  # type: list[list]
        self.steps = 0

    def add(self, i: int, svc: object) -> None:
        self.svcs[i].append(svc)

    def step(self) -> None:
        for i in range(self.n):
            if self.alive[i]:
                for s in self.svcs[i]:
                    s.on_timer(self.now)
        Mesh.step(self)
        if self.lean:
            for ev in self.events:
                # Keep only service events: a board-sized heap cannot hold them all.
                if ev and ev[-1].kind != "service":
                    ev.pop()
        self.steps += 1

    def close(self) -> None:
        """Give the default collection policy back to the tests that follow."""
        if hasattr(gc, "threshold"):
            gc.threshold(-1)

    def service_events(self, i: int, name: str) -> list:
        return [e for e in self.events[i] if e.kind == "service" and e.name == name]
