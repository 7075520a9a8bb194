"""Broadcast and unicast across a small line, through the node's public API."""

from core.harness import Mesh, line


def test_broadcast_and_unicast_on_a_line() -> None:
    m = Mesh(6, line(6))
    m.run(12000)
    for i in range(6):
        assert len(m.nodes[i].peers) >= 1
    m.nodes[0].send_message(None, b"hello", m.now)
    m.nodes[0].send_message(m.id(5), b"to five", m.now, ack=True)
    m.run(2000)
    for i in range(1, 6):
        assert m.delivered(i, b"hello") == 1
    assert m.delivered(5, b"to five") == 1
    assert len(m.kinds(0, "acked")) == 1


def test_fragmented_message_reassembles() -> None:
    m = Mesh(3, line(3))
    m.run(12000)
    big = bytes(range(256)) * 3
    m.nodes[0].send_message(m.id(2), big, m.now)
    m.run(2000)
    assert m.delivered(2, big) == 1
