"""Kademlia over a small lossy mesh: stores and finds lobby records."""

from bitmesh_core.dht import Dht, bucket_of, dht_key, distance
from core.gamemesh import ServiceMesh
from core.harness import line

SMALL = {"dedup_capacity": 32, "max_peers": 4, "replay_senders": 8, "tx_queue_max": 16,
         "events_max": 16, "dht_contacts": 8, "dht_store_max": 8, "dht_lookups": 2}


def test_xor_metric_and_buckets() -> None:
    a = bytes(8)
    b = b"\x80" + bytes(7)
    assert bucket_of(a, b) == 0
    assert bucket_of(a, bytes(7) + b"\x01") == 63
    assert bucket_of(a, a) == 64
    assert distance(b, a) == b
    assert len(dht_key("table:tab1")) == 8


def _mesh(n: int, loss: float) -> "tuple[ServiceMesh, list[Dht]]":
    m = ServiceMesh(n, line(n, loss), seed=3, config=SMALL)
    m.run(6000)
    dhts = [Dht(m.nodes[i], m.now) for i in range(n)]
    for i in range(n):
        m.add(i, dhts[i])
    for i in range(n):
        dhts[i].find_node(m.id(i), m.now)  # Kademlia join: look yourself up
    m.run(3000)
    return m, dhts


def test_put_then_get_from_far_nodes() -> None:
    m, dhts = _mesh(5, 0.1)
    key = dht_key("table:tab1")
    dhts[0].put(key, b"host=n0", m.now)
    m.run(4000)
    assert m.service_events(0, "stored")
    for i in (2, 4):
        dhts[i].get(key, m.now)
    m.run(5000)
    for i in (2, 4):
        found = m.service_events(i, "found")
        assert found and found[0].data["value"] == b"host=n0".hex(), i


def test_missing_key_is_not_found_and_store_is_bounded() -> None:
    m, dhts = _mesh(3, 0.0)
    dhts[1].get(dht_key("nothing"), m.now)
    m.run(4000)
    assert m.service_events(1, "not_found")
    d = dhts[2]
    for i in range(20):
        d._keep(dht_key("k%d" % i), b"v", m.now)
    assert len(d.store) == 8
    m.run(1000)
    assert d.stats()["stored"] == 8
