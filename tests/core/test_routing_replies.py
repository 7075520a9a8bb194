"""bitmesh router: route replies that come late, or cannot come back the way
their flood came.

Dual-runtime (CPython and MicroPython), driven only through the node's public
API via tests/core/harness.Mesh.
"""

from bitmesh_core.packet import T_ROUTE
from core.harness import ROUTING_FAST, Mesh, line, router_stats

FAST = ROUTING_FAST


def test_flooded_route_replies_are_not_echoed_by_floods() -> None:
    # A one-way ring 0 -> 1 -> 2 -> 0: no reply can go back the way a flood
    # came, so replies flood. A flooded reply is answered only along the way
    # it came; answered by floods, 0 and 1 echoed replies every second.
    links = [(0, 1, 0.0, True), (1, 2, 0.0, True), (2, 0, 0.0, True)]
    m = Mesh(3, links, config=FAST)
    m.run(4000)
    m.nodes[0].send_message(m.id(1), b"ring", m.now)
    m.run(8000)
    assert m.delivered(1, b"ring") == 1
    assert router_stats(m, 1)["route_replies"] == 1
    assert router_stats(m, 0)["route_replies"] == 0
    assert not m.kinds(0, "send_failed")


def test_a_late_reply_to_the_first_copy_ends_the_blind_repeat() -> None:
    # 0 - 1 - 2: the route replies 1 carries back to 0 are held up until 0
    # has sent its blind repeat; the reply to the first copy then still
    # names the message, and 0 stops holding it.
    m = Mesh(3, line(3), config=FAST)
    m.run(4000)
    late = []  # type: list[tuple[int, bytes | None, bytes]]
    send = m.transmit

    def transmit(k: int, iface: int, a: "bytes | None", frame: "bytes | bytearray") -> None:
        if k == 1 and frame[1] == T_ROUTE:
            late.append((iface, a, bytes(frame)))
        else:
            send(k, iface, a, frame)

    m.transmit = transmit  # type: ignore[method-assign]
    m.nodes[0].send_message(m.id(2), b"slow", m.now)
    m.run(3500)  # past 40 hop-ack times: the blind repeat went out
    assert router_stats(m, 0)["blind"] == 1 and router_stats(m, 0)["hold"] == 1
    m.transmit = send  # type: ignore[method-assign]
    send(1, late[0][0], late[0][1], late[0][2])
    m.run(100)
    assert router_stats(m, 0)["hold"] == 0
    assert m.delivered(2, b"slow") == 1
