"""Relay credits: receipts signed by the destination, tallied by a treasury."""

from bitmesh_core.credits import TLV_ENTRY, TLV_KIND, TLV_RSIG, TLV_SIGNER, CreditService, install_witness
from bitmesh_core.game.auth import Signer, player_seed
from bitmesh_core.packet import T_RECEIPT, tlv
from core.gamemesh import ServiceMesh
from core.harness import line

CFG = {"dedup_capacity": 32, "max_peers": 4, "replay_senders": 8, "tx_queue_max": 16,
       "events_max": 16, "router": "bitmesh"}


def _mesh() -> "tuple[ServiceMesh, list[CreditService]]":
    m = ServiceMesh(4, line(4), seed=5, config=CFG, lean=False)
    m.nodes[3].config.role = "treasury"
    m.run(8000)
    tre = [m.id(3)]
    cs = []
    for i in range(4):
        c = CreditService(m.nodes[i], m.now, Signer(player_seed(m.nodes[i].identity.secret)), tre)
        c.is_treasury = i == 3
        install_witness(m.nodes[i], c)
        m.add(i, c)
        cs.append(c)
    return m, cs


def test_destination_receipt_credits_the_relay_only() -> None:
    m, cs = _mesh()
    for k in range(3):
        m.nodes[0].send_message(m.id(2), b"pay %d" % k, m.now)
        m.run(500)
    m.run(12000)  # receipts are batched for up to FLUSH_MS
    assert m.delivered(2, b"pay 0") == 1
    led = cs[3].ledger
    assert led.get(m.id(1)[:4], 0) >= 1, led
    # The line ends never relay; 1 and 2 relay for each other's traffic too.
    assert m.id(0)[:4] not in led and m.id(3)[:4] not in led
    assert cs[3].forged == 0


def test_forged_receipts_and_bare_claims_earn_nothing() -> None:
    m, cs = _mesh()
    before = dict(cs[3].ledger)
    liar = m.nodes[0]
    # A receipt in node 2's name listing node 0 as relay, signed by node 0's key.
    entry = bytes(8) + m.id(1)[:4] + b"\x01" + m.id(0)[:4]
    body = tlv(TLV_KIND, b"\x01") + tlv(TLV_SIGNER, m.id(2) + bytes(4) + cs[2].signer.public) \
        + tlv(TLV_ENTRY, entry)
    body += tlv(TLV_RSIG, cs[0].signer.sign(b"bitmesh-relay-receipt-v1" + body))
    liar.send_frame(T_RECEIPT, m.id(3), body, m.now)
    cs[0].claim(m.id(3), bytes(range(8)), m.now)
    m.run(3000)
    assert cs[3].forged >= 2
    assert cs[3].ledger.get(m.id(0)[:4], 0) == before.get(m.id(0)[:4], 0)
    assert [e for e in m.events[3] if e.kind == "service" and e.name == "forged"]
