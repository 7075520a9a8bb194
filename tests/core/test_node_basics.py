"""Heartbeat interval and peer timeout set at runtime, the replay window and
the per-neighbour rate limit, through the node's public API on both runtimes."""

from bitmesh_core import packet as P
from bitmesh_core.auth import FrameAuth
from bitmesh_core.config import NodeConfig
from bitmesh_core.identity import Identity
from bitmesh_core.node import MeshNode
from bitmesh_core.rng import SeededRng
from core.harness import KEY, Mesh, line

NB = bytes((0xA0, 1, 0, 0, 0, 0, 0, 1))
NB_ADDR = b"\x02\x00\x00\x00\x00\x01"


def _heartbeats(node: MeshNode, start: int, ms: int, step: int = 10) -> int:
    """Heartbeats ``node`` sends over ``ms`` of its own timers."""
    n = 0
    t = start
    while t < start + ms:
        node.handle_timer(t)
        for _iface, _a, frame in node.frames_to_send():
            if frame[1] == P.T_HEARTBEAT:
                n += 1
        t += step
    return n


def _node(**cfg: object) -> MeshNode:
    c = NodeConfig(heartbeat_jitter_pct=0, **cfg)
    return MeshNode(c, Identity.from_secret(bytes(32)), KEY, SeededRng(3), 0)


def _frame(auth: FrameAuth, seq: int, ptype: int = P.T_BROADCAST) -> bytes:
    if ptype == P.T_HEARTBEAT:
        f = P.build(P.T_HEARTBEAT, NB, seq, 1, P.tlv(P.TLV_ROLE, b"\x00"))
    else:
        f = P.build(ptype, NB, seq, 4, P.tlv(P.TLV_PAYLOAD, b"hi"))
    auth.sign(f)
    return bytes(f)


def test_heartbeat_interval_changes_at_runtime() -> None:
    node = _node(heartbeat_ms=1000)
    assert 9 <= _heartbeats(node, 0, 10000) <= 11
    node.set_heartbeat_interval(250, 10000)
    assert 38 <= _heartbeats(node, 10000, 10000) <= 41
    try:
        node.set_heartbeat_interval(5)  # below the config minimum
        raise AssertionError("an out-of-range interval was accepted")
    except ValueError:
        pass


def test_peer_timeout_set_at_runtime_drives_peer_lost() -> None:
    m = Mesh(2, line(2), config={"heartbeat_ms": 500, "peer_timeout_ms": 60000})
    m.run(3000)
    assert len(m.kinds(0, "peer_up")) == 1
    m.kill(1)
    m.run(5000)
    assert m.kinds(0, "peer_lost") == []  # 60 s timeout: still a peer
    m.nodes[0].set_peer_timeout(2000)
    m.run(1500)  # the next sweep (every second) applies it
    lost = m.kinds(0, "peer_lost")
    assert len(lost) == 1 and lost[0].peer == m.id(1)
    assert len(m.nodes[0].peers) == 0


def test_a_captured_frame_sent_again_after_dedup_forgot_it_is_a_replay() -> None:
    node = _node(dedup_age_ms=1000)
    auth = FrameAuth(KEY)
    node.receive(0, _frame(auth, 1, P.T_HEARTBEAT), -50, 0, NB_ADDR)
    old = _frame(auth, 5)
    node.receive(0, old, -50, 100, NB_ADDR)
    node.receive(0, _frame(auth, 40), -50, 200, NB_ADDR)  # 35 newer: 5 leaves the window
    node.handle_timer(5000)  # the sweep expires dedup (age 1 s)
    node.receive(0, old, -50, 5000, NB_ADDR)
    assert node.stats()["drops"].get("replay") == 1  # type: ignore[union-attr]
    assert node.counters["delivered"] == 2


def test_a_neighbour_over_its_rate_is_dropped_and_counted() -> None:
    node = _node(rate_per_s=10, rate_burst=5)
    auth = FrameAuth(KEY)
    node.receive(0, _frame(auth, 1, P.T_HEARTBEAT), -50, 0, NB_ADDR)
    for seq in range(2, 40):  # 38 frames within 38 ms
        node.receive(0, _frame(auth, seq), -50, seq, NB_ADDR)
    drops = node.stats()["drops"]
    assert drops.get("rate", 0) >= 30  # type: ignore[union-attr]
    assert node.counters["delivered"] <= 6


def test_a_quiet_neighbour_is_probed_before_its_timeout_and_kept_while_it_answers() -> None:
    m = Mesh(2, line(2), config={"heartbeat_ms": 1000, "peer_timeout_ms": 6000})
    m.run(3000)
    assert len(m.kinds(0, "peer_up")) == 1
    # Node 1 now sends a heartbeat every 30 s, five timeouts apart: as far as
    # node 0 can tell, a neighbour whose heartbeats are all lost. It stays a
    # neighbour only by answering node 0's probes.
    m.nodes[1].set_heartbeat_interval(30000, m.now)
    sent = m.nodes[1].stats()["originated"]
    m.run(40000)
    assert m.kinds(0, "peer_lost") == []
    probes = m.nodes[0].stats()["probes"]
    answers = m.nodes[1].stats()["originated"] - sent
    assert 4 <= answers <= probes <= 40, (answers, probes)
    # A neighbour that is gone is reported at the timeout, as without probes:
    # it was last heard at most one second before it died.
    m.kill(1)
    m.run(6000 + 1000 + 1000)
    lost = m.kinds(0, "peer_lost")
    assert len(lost) == 1 and lost[0].peer == m.id(1)
