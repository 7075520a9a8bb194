"""Relay credits (proof of relay): destinations sign receipts, treasuries tally.

A frame sent with a route record (F_ROUTE_REC) collects the 4-byte short id of
every relay that carried it (node.relay_copy). Its *destination* is the only
party that can vouch for that route: it batches ``(packet id, origin short,
relays...)`` entries and signs them with its player key (game/auth.py), then
sends the batch to the treasury nodes (role ``treasury``) as T_RECEIPT.

A treasury credits each listed relay once per packet id, after checking the
destination's signature (its public key is pinned on first use, and carried in
every receipt). It never credits the origin or the destination itself (a node
cannot credit itself), and never a relay twice for one packet. A node that
claims relays it never carried gets nothing: a CLAIM message alone credits
nothing, and a receipt it forges in a destination's name fails the signature
check; both are counted as ``forged`` and raise a "forged" event.

T_RECEIPT body (packet TLVs)::

    0x60 kind(1)             1 RECEIPT, 2 CLAIM
    0x61 signer id(8) batch(4) pubkey(32)
    0x62 entry: packet id(8) origin short(4) n(1) relay shorts(4 * n)   (repeated)
    0x63 signature(64) over DOMAIN || every byte of the body before it
"""

from .clock import add, diff
from .events import ServiceEvent
from .packet import T_RECEIPT, Packet, tlv

TLV_KIND = 0x60
TLV_SIGNER = 0x61
TLV_ENTRY = 0x62
TLV_RSIG = 0x63
K_RECEIPT = 1
K_CLAIM = 2
DOMAIN = b"bitmesh-relay-receipt-v1"
MAX_BODY = 190
FLUSH_MS = 10000


class CreditService:
    """Destination side (witness + receipts) and, on a treasury, the ledger."""

    def __init__(self, node: object, now: int, signer: object,
                 treasuries: "list[bytes] | None" = None) -> None:
        self.node = node
        c = node.config  # type: ignore[attr-defined]
        self.me = node.node_id  # type: ignore[attr-defined]
        self.signer = signer
        self.treasuries = list(treasuries or [])
        self.is_treasury = c.role == "treasury"
        self.max_receipts = c.credit_receipts
        self.max_ledger = c.credit_ledger
        self.pending = []  # type: list[bytes]
        self.flush_t = add(now, FLUSH_MS)
        self.batch = 0
        self.ledger = {}  # type: dict[bytes, int]  # relay short -> credits
        self.keys = {}  # type: dict[bytes, bytes]  # signer id -> pubkey (pinned)
        self.credited = []  # type: list[bytes]  # recent packet ids (bounded)
        self.accepted = 0
        self.forged = 0
        self.self_credit = 0
        node.register_service(T_RECEIPT, self)  # type: ignore[attr-defined]

    # --------------------------------------------------------- destination
    def witness(self, p: Packet, pid: bytes, now: int) -> None:
        """A unicast for this node arrived: remember its route for a receipt."""
        route = p.route()
        if not route or p.dst != self.me or not self.treasuries:
            return
        n = len(route) // 4
        entry = pid + p.src[:4] + bytes((n,)) + route[: 4 * n]
        if len(self.pending) >= self.max_receipts:
            self.pending.pop(0)
            self.node.drop("credit_pending_full")  # type: ignore[attr-defined]
        self.pending.append(entry)
        if sum(len(e) + 2 for e in self.pending) > MAX_BODY - 120:
            self.flush(now)

    def flush(self, now: int) -> None:
        """Sign the pending entries and send them to every treasury."""
        self.flush_t = add(now, FLUSH_MS)
        if not self.pending:
            return
        self.batch = (self.batch + 1) & 0xFFFFFFFF
        body = tlv(TLV_KIND, bytes((K_RECEIPT,)))
        body += tlv(TLV_SIGNER, self.me + self.batch.to_bytes(4, "big")
                    + self.signer.public)  # type: ignore[attr-defined]
        used = 0
        for e in self.pending:
            if len(body) + len(e) + 2 > MAX_BODY - 66:
                break
            body += tlv(TLV_ENTRY, e)
            used += 1
        self.pending = self.pending[used:]
        body += tlv(TLV_RSIG, self.signer.sign(DOMAIN + body))  # type: ignore[attr-defined]
        for t in self.treasuries:
            if t != self.me:
                self.node.send_frame(T_RECEIPT, t, body, now)  # type: ignore[attr-defined]
            else:
                self._tally(self.me, body, now)

    def claim(self, treasury: bytes, pid: bytes, now: int) -> None:
        """What a cheater does: claim a relay without a receipt (never pays)."""
        body = tlv(TLV_KIND, bytes((K_CLAIM,))) + tlv(TLV_ENTRY, pid + self.me[:4] + b"\x01"
                                                      + self.me[:4])
        self.node.send_frame(T_RECEIPT, treasury, body, now)  # type: ignore[attr-defined]

    # ------------------------------------------------------------ treasury
    def on_frame(self, node: object, p: Packet, now: int) -> None:
        k = p.tlv(TLV_KIND)
        if not self.is_treasury or p.dst != self.me or not k:
            node.drop("credit_not_treasury")  # type: ignore[attr-defined]
            return
        if k[0] == K_CLAIM:
            self.forged += 1
            self._event("forged", {"by": p.src.hex(), "why": "claim_without_receipt"})
            return
        self._tally(p.src, bytes(p.frame[p.body_start:p.inv_end]), now)

    def _tally(self, src: bytes, body: bytes, now: int) -> None:
        from .game.auth import verify
        ents = []  # type: list[bytes]
        signer = b""
        pub = b""
        sig = b""
        i = 0
        sig_at = -1
        while i + 2 <= len(body):
            t = body[i]
            n = body[i + 1]
            v = body[i + 2:i + 2 + n]
            if t == TLV_SIGNER and n == 44:
                signer = v[:8]
                pub = v[12:]
            elif t == TLV_ENTRY:
                ents.append(v)
            elif t == TLV_RSIG:
                sig = v
                sig_at = i
            i += 2 + n
        pinned = self.keys.get(signer)
        if not signer or sig_at < 0 or (pinned is not None and pinned != pub) \
                or not verify(pub, DOMAIN + body[:sig_at], sig):
            self.forged += max(1, len(ents))
            self._event("forged", {"by": src.hex(), "why": "bad_receipt_signature"})
            return
        if pinned is None:
            if len(self.keys) >= self.max_ledger:
                self.keys.pop(next(iter(self.keys)))
            self.keys[signer] = pub
        for e in ents:
            self._credit(signer, e)

    def _credit(self, dest: bytes, e: bytes) -> None:
        if len(e) < 13:
            return
        pid = e[:8]
        origin = e[8:12]
        n = e[12]
        if pid in self.credited or len(e) < 13 + 4 * n:
            return
        self.credited.append(pid)
        if len(self.credited) > 4 * self.max_receipts:
            self.credited.pop(0)
        for j in range(n):
            r = e[13 + 4 * j:17 + 4 * j]
            if r == dest[:4] or r == origin:
                self.self_credit += 1
                continue
            if r not in self.ledger and len(self.ledger) >= self.max_ledger:
                self.node.drop("credit_ledger_full")  # type: ignore[attr-defined]
                continue
            self.ledger[r] = self.ledger.get(r, 0) + 1
            self.accepted += 1
            self._event("credit", {"relay": r.hex(), "packet": pid.hex(),
                                   "dest": dest.hex()})

    # -------------------------------------------------------------- timers
    def on_timer(self, now: int) -> None:
        try:
            if diff(now, self.flush_t) >= 0:
                self.flush(now)
        except Exception:  # noqa: BLE001 - the core contract
            self.node.drop("credit_internal")  # type: ignore[attr-defined]

    def next_timer(self) -> "int | None":
        return self.flush_t

    def _event(self, name: str, data: "dict[str, object]") -> None:
        self.node.push_event(ServiceEvent("credits", name, data))  # type: ignore[attr-defined]


def install_witness(node: object, credits: CreditService) -> None:
    """Have every unicast delivered to ``node`` witnessed for a receipt, by
    wrapping its router's ``delivered_unicast`` hook (the node has no generic
    delivery hook for services yet)."""
    r = node.router  # type: ignore[attr-defined]
    orig = r.delivered_unicast

    def hook(p: Packet, pid: bytes, link: int, now: int) -> None:
        orig(p, pid, link, now)
        credits.witness(p, pid, now)

    r.delivered_unicast = hook
