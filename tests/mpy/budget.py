"""Memory budget: one node with every table full inside a board-sized heap.

Run by `make test-mpy` twice: with the core's .mpy files loaded into RAM
(BITMESH_CORE_PATH, -X heapsize=$(MPY_BUDGET_HEAP)) and with them in a ROMFS
image (BITMESH_CORE_ROMFS: tests/mpy/budget_romfs.py $(MPY_BUDGET_ROMFS_WK),
that many wK plus the image). The issue-2 target is 64wK; with every table
full the node does not meet it (docs/ARCHITECTURE.md, "Memory budget", has
the figures and the heaps the Makefile runs at, and why).
BITMESH_BUDGET_ROUTER=flood runs the node with the flood router instead of
the default bitmesh: the stages lost, replies, forwards and routes and the
router's tables drop out (the issue-2 node: it fits 64wK with its code in
flash).

Builds a node sized for 128 peers and 1024 dedup entries (every other table
at its default size) and fills every bounded table to its capacity through
the public API only (`receive` with signed frames, `send_message`,
`handle_timer`, `frames_to_send`, `next_event`, as a shell drives a node):

  stage       what the frames are                      tables filled (default size)
  lost        heartbeats from 32 neighbours that       partition list (max_routes 32),
              then time out                            lost neighbours (8)
  peers       heartbeats from 128 neighbours, then     peers (128), short-id index,
              each lists 40 neighbours of its own      two-hop coverage masks
  broadcasts  1100 relayed broadcasts, 128 origins     dedup (1024), replay (128),
                                                       origin buckets (origin_slots 16)
  replies     32 flooded unicasts to this node         end-to-end msg dedup (msg_dedup 32),
                                                       route replies sent (max_routes 32)
  forwards    16 source-routed frames via this node    source-route relays (16)
  routes      3 route replies from each of 32          routes (max_routes 32 x
              destinations, 1 to 3 relays              route_paths 3 = 96 paths)
  reassembly  15 of the 16 fragments of a 2048-byte    reassembly (max_reassembly 2
              message from each of 2 origins           x 1980 of max_message 2048 B)
  events      events_max broadcasts of 140 bytes,      events (events_max 24),
              not drained                              pending relays (pending_relays 8)
  sends       sends of 140 bytes with an ack, queue    pending acks (acks_max 16), hold
              not drained: hold_max to lost            queue (hold_max 12), hop waits
              destinations, enough routed ones to      (hop_pending 8), flood waits
              fill the rest (12 at default sizes)      (pending_relays 8), tx queue (24)

Like firmware/shell.py, the loop collects garbage after every 8 KB allocated
and once a (virtual) second.
The script stops calling handle_timer after the broadcasts stage: the waits
it fills would time out and be retried (that is their job), so the node is
measured at its fullest, before its timers run. A MemoryError, an internal
error, or any table below its capacity fails the run.

Prints one JSON line for `bitmesh bench` (none when the run ran out of memory:
then the stages it completed follow the FAIL line): heap_live_bytes (code and
node, all tables full), code_bytes, stages
([stage, live heap after it, bytes it added]; a later stage can replace what
an earlier one queued), held_by ([table, bytes freed by emptying it], once the
checks are done) and filled ({table: [entries, capacity]}).
"""

import gc
import json
import os  # noqa: E402
import sys

ROOT = "/".join(sys.argv[0].split("/")[:-3]) or "."
ROMFS = os.getenv("BITMESH_CORE_ROMFS")
if ROMFS:
    # The core as a ROMFS image (tests/mpy/budget_romfs.py builds it): its
    # bytecode and constants run in place, as from a board's flash. The image
    # sits in one heap buffer here, allocated first; the runner adds exactly
    # its size to the heap, so the node itself gets the wK asked for.
    import vfs

    _img = bytearray(os.stat(ROMFS)[6])
    with open(ROMFS, "rb") as _f:
        _f.readinto(_img)
    vfs.mount(vfs.VfsRom(_img), "/rom")
    sys.path.insert(0, "/rom/lib")
else:
    # The board loads precompiled .mpy files; `make test-mpy` points here at them.
    sys.path.insert(0, os.getenv("BITMESH_CORE_PATH") or ROOT + "/shared")

from budget_tables import filled, release  # noqa: E402  (the script's own, not the core's)

gc.collect()
base = gc.mem_alloc()

from bitmesh_core import packet as P  # noqa: E402
from bitmesh_core.auth import FrameAuth  # noqa: E402
from bitmesh_core.config import NodeConfig  # noqa: E402
from bitmesh_core.identity import Identity  # noqa: E402
from bitmesh_core.node import MeshNode  # noqa: E402
from bitmesh_core.rng import SeededRng  # noqa: E402
from bitmesh_core.transmit import FRAG_CHUNK as CHUNK  # noqa: E402  (loaded with node)
from bitmesh_core.transmit import MAX_PAYLOAD  # noqa: E402

ROUTER = os.getenv("BITMESH_BUDGET_ROUTER") or "bitmesh"
BITMESH = ROUTER == "bitmesh"
if BITMESH:  # the default router, loaded on first use: count its code too
    from bitmesh_core import mesh  # noqa: F401
    from bitmesh_core.meshstate import MAX_LISTED as LISTED
    from bitmesh_core.meshstate import OP_REPLY

gc.collect()
code = gc.mem_alloc() - base
KEY = bytes(range(32))
AUTH = FrameAuth(KEY)
PEERS = 128
PAYLOAD = b"p" * MAX_PAYLOAD  # the largest unfragmented message
MESSAGE = NodeConfig().max_message
FRAGS = (MESSAGE + CHUNK - 1) // CHUNK  # 16: 15 of 132 bytes and one of 68

stages = []  # type: list[list[object]]


def live() -> int:
    gc.collect()
    return gc.mem_alloc() - base


def stage(name: str) -> None:
    """Record the live heap after a stage: [name, bytes, bytes the stage added]."""
    n = live()
    stages.append([name, n, n - stages[-1][1]])


def nid(a: int, b: int) -> bytes:
    """A node id; ``a`` keeps the groups of this script apart."""
    return bytes((a, b, 0, 0, 0, 0, 0, 1))


def addr(i: int) -> bytes:
    return bytes((2, 0, 0, 0, 0, i))


def signed(f: bytearray, ttl: int = 0) -> bytearray:
    AUTH.sign(f)
    if ttl:
        f[2] = ttl  # hops already made (the tag leaves TTL out): a relay's copy
    return f


def heartbeat(src: bytes, seq: int, listed: bytes = b"", count: int = 0) -> bytearray:
    body = P.tlv(P.TLV_ROLE, b"\x00") + P.tlv(P.TLV_BEACON, bytes((0, 0x32, 0, seq)))
    if count:
        body += P.tlv(P.TLV_NEIGHBORS, bytes((count,)) + listed)
    return signed(P.build(P.T_HEARTBEAT, src, seq, 1, body))


_gc_at = [0]
GC_RUN_THRESHOLD = 8192  # firmware/shell.py: collect after every 8 KB allocated


def pump(node: MeshNode, now: int, timers: bool) -> None:
    """One turn of a shell's loop: timers when due, send, drain events, and
    once a second a collection (firmware/shell.py does the same)."""
    if now - _gc_at[0] >= 1000:
        _gc_at[0] = now
        gc.collect()
    if timers:
        t = node.next_timer()
        if t is not None and now - t >= 0:  # times stay far below the 2**30 wrap here
            node.handle_timer(now)
    node.frames_to_send()
    while node.next_event() is not None:
        pass


def fill_peers_and_broadcasts(node: MeshNode, now: int) -> int:
    """Stages peers and broadcasts. peers: 128 neighbours by heartbeat; for the
    bitmesh router each then lists this node and the 39 neighbours after it,
    so its coverage mask holds 39 of our peer slots."""
    for i in range(PEERS):
        node.receive(0, heartbeat(nid(0xA0, i), 1), -60, now, addr(i))
        now += 50  # within the shared rate limit for not-yet-known neighbours
        pump(node, now, True)
    if BITMESH:
        ls = bytearray(4 * LISTED)  # the script's own buffers stay small: the heap is the node's
        ls[0:4] = node.identity.short
        for i in range(PEERS):
            for k in range(1, LISTED):
                ls[4 * k] = 0xA0
                ls[4 * k + 1] = (i + k) % PEERS
            node.receive(0, heartbeat(nid(0xA0, i), 2, bytes(ls), LISTED), -60, now, addr(i))
            now += 5
            pump(node, now, True)
        ls = None
    stage("peers")
    # broadcasts: 1100 from 128 origins two hops away fill the dedup ring and
    # the replay table; this node relays them (origin buckets).
    for i in range(1100):
        f = P.build(P.T_BROADCAST, nid(0xB0, i % PEERS), 10 + i, 3, P.tlv(P.TLV_PAYLOAD, b"x" * 20))
        node.receive(0, signed(f, 2), -60, now, addr(i % PEERS))
        now += 5
        pump(node, now, True)
    stage("broadcasts")
    return now


def fill_reassembly(node: MeshNode, now: int) -> int:
    """Stage reassembly: from each of max_reassembly origins, all fragments but
    the last (the shortest) of a message of max_message bytes, chunked as
    node.py does."""
    for k in range(node.config.max_reassembly):
        for i in range(FRAGS - 1):
            body = (P.tlv(P.TLV_FRAG, bytes((0, k + 1, i, FRAGS, P.T_BROADCAST)))
                    + P.tlv(P.TLV_PAYLOAD, bytes((0x41 + i,)) * CHUNK))
            f = P.build(P.T_FRAGMENT, nid(0xF0, k), 1 + i, 16, body)
            node.receive(0, signed(f, 15), -60, now, addr((16 * k + i) % PEERS))
            now += 2
            pump(node, now, False)
    stage("reassembly")
    return now


def fill_events(node: MeshNode, now: int) -> int:
    """Stage events: events_max broadcasts delivered while the application
    reads none; this node relays them (the bitmesh router: pending relays)."""
    for k in range(node.config.events_max):
        f = P.build(P.T_BROADCAST, nid(0xB8, k), 1, 16, P.tlv(P.TLV_PAYLOAD, PAYLOAD))
        node.receive(0, signed(f, 15), -60, now, addr((k * 7) % PEERS))
        now += 1
        node.frames_to_send()
    stage("events")
    return now


def fill_flood(node: MeshNode, now: int) -> int:
    """The issue-2 node (BITMESH_BUDGET_ROUTER=flood): peers, broadcasts,
    reassembly, events (the application reads none), then sends with an ack to
    fill the transmit queue and the pending acks."""
    now = fill_peers_and_broadcasts(node, now)
    now = fill_reassembly(node, now)
    now = fill_events(node, now)
    c = node.config
    for k in range(max(c.tx_queue_max, c.acks_max)):
        node.send_message(nid(0xC0, k), PAYLOAD, now, ack=True)
    stage("sends")
    return now


def fill(node: MeshNode) -> int:
    """Drive the node through every stage; returns the time reached."""
    r = node.router
    c = node.config
    me = node.identity.short
    now = 0
    if not BITMESH:
        return fill_flood(node, now)
    # lost: 32 neighbours come up, then go silent and time out (PeerLost).
    for j in range(32):
        node.receive(0, heartbeat(nid(0xA1, j), 1), -60, now, bytes((2, 0, 0, 0, 1, j)))
        now += 50  # within the shared rate limit for not-yet-known neighbours
        pump(node, now, True)
    while len(r.part) < 32 and now < 60000:
        now += 100
        pump(node, now, True)
    stage("lost")
    now = fill_peers_and_broadcasts(node, now)
    # From here on no timers: hop and flood waits would run out and retry.
    # replies: 32 flooded unicasts for this node, each through one relay: each is
    # delivered once (msg dedup) and answered with a route reply (replied).
    for k in range(32):
        f = P.build(P.T_UNICAST, nid(0xE0, k), 1, 16, P.tlv(P.TLV_PAYLOAD, b"u" * 20),
                    dst=node.node_id, route=nid(0xA0, k)[:4])
        node.receive(0, signed(f, 15), -60, now, addr(k))
        now += 5
        pump(node, now, False)
    stage("replies")
    # forwards: 16 source-routed frames naming this node as the second relay.
    for k in range(16):
        a = nid(0xA0, 32 + k)[:4]
        sr = a + me + nid(0xA0, 64 + k)[:4]
        f = P.build(P.T_UNICAST, nid(0xD0, k), 1, 6,
                    P.tlv(P.TLV_PAYLOAD, b"s" * 20) + P.tlv(P.TLV_SOURCE_ROUTE, sr),
                    dst=nid(0xD1, k), flags=P.F_SRC_ROUTE, route=a)
        node.receive(0, signed(f, 5), -60, now, addr(32 + k))
        now += 5
        pump(node, now, False)
    stage("forwards")
    # routes: 32 destinations each send 3 route replies, over 1, 2 and 3 relays,
    # source-routed back; each names the forward path (the reverse of its route).
    for k in range(32):
        for j in range(3):
            first = (k + 32 * j) % PEERS  # the relay next to this node: a neighbour
            path = nid(0xA0, first)[:4]
            for h in range(j):
                path += bytes((0xC8, k, j, h))
            sr = b""
            for h in range(len(path) - 4, -1, -4):
                sr += path[h:h + 4]
            hops = len(path) >> 2
            body = (P.tlv(P.TLV_ROUTE_OP, bytes((OP_REPLY,)) + nid(0xC0, k)) + P.tlv(P.TLV_PATH, path)
                    + P.tlv(P.TLV_MSGID, bytes(4)) + P.tlv(P.TLV_SOURCE_ROUTE, sr))
            f = P.build(P.T_ROUTE, nid(0xC0, k), 1 + j, hops + 3, body, dst=node.node_id,
                        flags=P.F_SRC_ROUTE, route=sr)
            node.receive(0, signed(f, 3), -60, now, addr(first))
            now += 2
            pump(node, now, False)
    stage("routes")
    now = fill_reassembly(node, now)
    now = fill_events(node, now)
    # sends: in one loop turn, before the shell drains the queue, the
    # application sends messages with an ack: hold_max to neighbours lost in
    # the lost stage (held, flooded once) and enough source-routed ones to the
    # destinations of the routes stage to fill the transmit queue, the hop
    # waits and the pending acks.
    routed = max(c.tx_queue_max - c.hold_max, c.hop_pending, c.acks_max - c.hold_max)
    for k in range(routed):
        node.send_message(nid(0xC0, k % 32), PAYLOAD, now, ack=True)
    for j in range(c.hold_max):
        node.send_message(nid(0xA1, j), PAYLOAD, now, ack=True)
    stage("sends")
    return now


def main() -> int:
    gc.threshold(GC_RUN_THRESHOLD)
    stages.append(["code", code, code])
    cfg = NodeConfig(max_peers=PEERS, dedup_capacity=1024, replay_senders=128, router=ROUTER)
    node = MeshNode(cfg, Identity.from_secret(bytes(32)), KEY, SeededRng(1), 0)
    stage("node")
    try:
        fill(node)
        total = live()
        st = node.stats()
        full = filled(node, st["tables"], PEERS, CHUNK * (FRAGS - 1), BITMESH)
    except MemoryError as e:
        # Report on what is left once the node is gone: the stages it completed.
        done = stages[-1][0]
        node = None
        gc.collect()
        # No JSON object line: `bitmesh bench` reads one as a complete run.
        sys.print_exception(e, sys.stdout)
        print("FAIL: node with full tables over budget: MemoryError after stage", done)
        print("stages so far:", json.dumps(stages))
        return 1
    free = gc.mem_free()
    # The pass criterion is the one the board has: everything above ran inside
    # the heap given (NwK: what a 32-bit board with N K words has, scaled by word size).
    # The report is the script's, not the node's: it is written once the node
    # is gone, streamed, so a fragmented heap cannot fail a run that fitted.
    held = release(node, live, BITMESH)
    before = live()
    node = None
    held.append(["node_rest", before - live()])  # the node, router and their small state
    short = [k for k in full if full[k][0] < full[k][1]]
    drops = st["drops"]
    ok = not short and "internal" not in drops and "internal_timer" not in drops
    json.dump({"heap_live_bytes": total, "code_bytes": code, "heap_free": free,
               "drops": drops, "last_error": st.get("last_error"),
               "tables": st["tables"], "filled": full, "not_full": short,
               "stages": stages, "held_by": held, "ok": ok}, sys.stdout)
    print()
    if not ok:
        print("FAIL: node with full tables over budget or tables not full")
        return 1
    print("1 passed, 0 failed")
    return 0


sys.exit(main())
