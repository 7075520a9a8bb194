"""Kademlia over the mesh: where is table X, who hosts game Y.

Ids are the 64-bit node ids; keys are 8 bytes (``dht_key(name)``); distance is
XOR, compared as big-endian bytes (no big ints on a board). Each node keeps at
most ``dht_k`` contacts per bucket (bucket = length of the common prefix) and
``dht_contacts`` in all, learnt from every DHT message and from its direct
neighbours. Values live in a store bounded by count (``dht_store_max``, the
oldest goes first) and age (``dht_value_ttl_ms``); their publisher stores them
again every ``dht_refresh_ms``.

Lookups are iterative, ``ALPHA`` queries in flight, each retried once after
``dht_rpc_ms``; a lookup ends when the ``dht_k`` closest candidates have all
answered or failed (or, for FIND_VALUE, when a value arrives). Results come out
as ``ServiceEvent("dht", "found" | "not_found" | "stored", {...})``.

T_DHT body (packet TLVs)::

    0x50 op(1) rpc id(2)     op: 1 FIND_NODE, 2 FIND_VALUE, 3 STORE,
                                 4 NODES (reply), 5 VALUE (reply), 6 STORED (reply)
    0x51 key or target (8)
    0x52 value (<= 64 bytes; STORE and VALUE)
    0x53 contacts: n * 8-byte node ids (NODES and VALUE replies, n <= k)
"""

import hashlib

from .clock import add, diff
from .events import ServiceEvent
from .packet import T_DHT, Packet, tlv

FIND_NODE = 1
FIND_VALUE = 2
STORE = 3
NODES = 4
VALUE = 5
STORED = 6
TLV_OP = 0x50
TLV_KEY = 0x51
TLV_VALUE = 0x52
TLV_CONTACTS = 0x53
ALPHA = 2
MAX_VALUE = 64


def dht_key(name: "str | bytes") -> bytes:
    """The 8-byte key of a name (``"table:abcd"``, ``"host:craps"``...)."""
    b = name.encode() if isinstance(name, str) else name
    return hashlib.sha256(b"bitmesh-dht" + b).digest()[:8]


def distance(a: bytes, b: bytes) -> bytes:
    return bytes(a[i] ^ b[i] for i in range(8))


def bucket_of(a: bytes, b: bytes) -> int:
    """Length of the common prefix of two ids, 0..64."""
    for i in range(8):
        x = a[i] ^ b[i]
        if x:
            n = i * 8
            while not x & 0x80:
                x <<= 1
                n += 1
            return n
    return 64


class Lookup:
    __slots__ = ("lid", "target", "want_value", "cands", "state", "tries", "deadline",
                 "store", "done", "msgs")

    def __init__(self, lid: int, target: bytes, want_value: bool,
                 store: "bytes | None") -> None:
        self.lid = lid
        self.target = target
        self.want_value = want_value
        self.cands = []  # type: list[bytes]  # sorted by distance to target
        self.state = {}  # type: dict[bytes, int]  # 0 new, 1 asked, 2 answered, 3 failed
        self.tries = {}  # type: dict[bytes, int]
        self.deadline = {}  # type: dict[bytes, int]
        self.store = store
        self.done = False
        self.msgs = 0


class Dht:
    def __init__(self, node: object, now: int) -> None:
        self.node = node
        c = node.config  # type: ignore[attr-defined]
        self.me = node.node_id  # type: ignore[attr-defined]
        self.k = c.dht_k
        self.max_contacts = c.dht_contacts
        self.store_max = c.dht_store_max
        self.ttl = c.dht_value_ttl_ms
        self.refresh = c.dht_refresh_ms
        self.rpc_ms = c.dht_rpc_ms
        self.max_lookups = c.dht_lookups
        self.contacts = []  # type: list[bytes]
        self.store = {}  # type: dict[bytes, tuple[bytes, int]]
        self.mine = {}  # type: dict[bytes, tuple[bytes, int]]  # own puts: value, next refresh
        self.lookups = {}  # type: dict[int, Lookup]
        self.rpc = 0
        self.next_t = add(now, 500)
        self.sent = 0
        node.register_service(T_DHT, self)  # type: ignore[attr-defined]

    # ----------------------------------------------------------------- API
    def put(self, key: bytes, value: bytes, now: int) -> int:
        """Store ``value`` under ``key`` at the k closest nodes; republished
        every ``dht_refresh_ms``. Returns the lookup id (-1: too many)."""
        if len(value) > MAX_VALUE or len(key) != 8:
            raise ValueError("dht key is 8 bytes and value at most 64")
        if key not in self.mine and len(self.mine) >= self.store_max:
            self.mine.pop(next(iter(self.mine)))
        self.mine[key] = (value, add(now, self.refresh))
        return self._start(key, False, value, now)

    def get(self, key: bytes, now: int) -> int:
        """Look ``key`` up; a "found" or "not_found" event names the lookup id."""
        v = self._local(key, now)
        if v is not None:
            lid = self._next_id()
            self._event("found", {"lookup": lid, "key": key.hex(), "value": v.hex(), "msgs": 0})
            return lid
        return self._start(key, True, None, now)

    def find_node(self, target: bytes, now: int) -> int:
        return self._start(target, False, None, now)

    # ------------------------------------------------------------- tables
    def learn(self, nid: bytes, now: int) -> None:
        if nid == self.me or len(nid) != 8 or nid == b"\xff" * 8:
            return
        if nid in self.contacts:
            self.contacts.remove(nid)
            self.contacts.append(nid)  # most recently heard last
            return
        b = bucket_of(self.me, nid)
        same = [c for c in self.contacts if bucket_of(self.me, c) == b]
        if len(same) >= self.k:
            return  # Kademlia keeps old, proven contacts
        if len(self.contacts) >= self.max_contacts:
            self.contacts.pop(0)
        self.contacts.append(nid)

    def closest(self, target: bytes, n: int) -> "list[bytes]":
        cs = list(self.contacts)
        peers = self.node.peers  # type: ignore[attr-defined]
        for nid in peers.by_id:
            if nid not in cs:
                cs.append(nid)
        cs.sort(key=lambda c: distance(c, target))
        return cs[:n]

    def _local(self, key: bytes, now: int) -> "bytes | None":
        e = self.store.get(key)
        if e is None:
            m = self.mine.get(key)
            return m[0] if m else None
        if diff(now, e[1]) > self.ttl:
            del self.store[key]
            return None
        return e[0]

    def _keep(self, key: bytes, value: bytes, now: int) -> None:
        if key not in self.store and len(self.store) >= self.store_max:
            oldest = None  # type: bytes | None
            for k in self.store:
                if oldest is None or diff(self.store[k][1], self.store[oldest][1]) < 0:
                    oldest = k
            if oldest is not None:
                del self.store[oldest]
        self.store[key] = (value, now)

    # ------------------------------------------------------------ lookups
    def _next_id(self) -> int:
        self.rpc = (self.rpc + 1) & 0xFFFF
        return self.rpc

    def _start(self, target: bytes, want_value: bool, store: "bytes | None", now: int) -> int:
        if len(self.lookups) >= self.max_lookups:
            self.node.drop("dht_lookups_full")  # type: ignore[attr-defined]
            return -1
        lk = Lookup(self._next_id(), target, want_value, store)
        self.lookups[lk.lid] = lk
        for c in self.closest(target, 2 * self.k):
            self._cand(lk, c)
        self._advance(lk, now)
        return lk.lid

    def _cand(self, lk: Lookup, nid: bytes) -> None:
        if nid == self.me or nid in lk.state:
            return
        lk.state[nid] = 0
        lk.cands.append(nid)
        lk.cands.sort(key=lambda c: distance(c, lk.target))
        while len(lk.cands) > 3 * self.k:
            gone = lk.cands.pop()
            if lk.state.get(gone) == 0:
                del lk.state[gone]

    def _advance(self, lk: Lookup, now: int) -> None:
        if lk.done:
            return
        inflight = 0
        settled = 0
        for c in lk.cands:
            st = lk.state[c]
            if st == 1:
                inflight += 1
            if settled < self.k and st in (2, 3):
                settled += 1
        # Ask the closest not-yet-asked candidates among the k best still open.
        considered = 0
        for c in lk.cands:
            if inflight >= ALPHA:
                break
            st = lk.state[c]
            if st == 3:
                continue
            considered += 1
            if considered > self.k:
                break
            if st == 0:
                self._ask(lk, c, now)
                inflight += 1
        if inflight == 0:
            self._finish(lk, now, None)

    def _ask(self, lk: Lookup, c: bytes, now: int) -> None:
        lk.state[c] = 1
        lk.tries[c] = lk.tries.get(c, 0) + 1
        lk.deadline[c] = add(now, self.rpc_ms)
        op = FIND_VALUE if lk.want_value else FIND_NODE
        self._send(c, op, lk.lid, lk.target, None, None, now)
        lk.msgs += 1

    def _finish(self, lk: Lookup, now: int, value: "bytes | None") -> None:
        lk.done = True
        self.lookups.pop(lk.lid, None)
        if lk.want_value:
            if value is None:
                value = self._local(lk.target, now)
            name = "found" if value is not None else "not_found"
            d = {"lookup": lk.lid, "key": lk.target.hex(), "msgs": lk.msgs}  # type: dict[str, object]
            if value is not None:
                d["value"] = value.hex()
            self._event(name, d)
            return
        if lk.store is not None:
            # Two spare replicas: a lossy mesh loses some STOREs and some
            # lookups end one candidate short of the true k closest.
            best = [c for c in lk.cands if lk.state[c] == 2][: self.k + 2]
            mine_closer = len(best) < self.k or distance(self.me, lk.target) < distance(
                best[self.k - 1], lk.target)
            if mine_closer:
                self._keep(lk.target, lk.store, now)
            for c in best:
                self._send(c, STORE, 0, lk.target, lk.store, None, now)
                self._send(c, STORE, 0, lk.target, lk.store, None, now)
            self._event("stored", {"lookup": lk.lid, "key": lk.target.hex(), "at": len(best)})

    # ------------------------------------------------------------ network
    def _send(self, dst: bytes, op: int, rid: int, key: bytes, value: "bytes | None",
              contacts: "list[bytes] | None", now: int) -> None:
        body = tlv(TLV_OP, bytes((op, rid >> 8, rid & 0xFF))) + tlv(TLV_KEY, key)
        if value is not None:
            body += tlv(TLV_VALUE, value)
        if contacts is not None:
            body += tlv(TLV_CONTACTS, b"".join(contacts))
        self.sent += 1
        self.node.send_frame(T_DHT, dst, body, now)  # type: ignore[attr-defined]

    def on_frame(self, node: object, p: Packet, now: int) -> None:
        opv = p.tlv(TLV_OP)
        key = p.tlv(TLV_KEY)
        if opv is None or len(opv) != 3 or key is None or len(key) != 8 or p.dst != self.me:
            node.drop("dht_malformed")  # type: ignore[attr-defined]
            return
        op = opv[0]
        rid = (opv[1] << 8) | opv[2]
        src = p.src
        self.learn(src, now)
        if op == FIND_NODE or op == FIND_VALUE:
            v = self._local(key, now) if op == FIND_VALUE else None
            cl = [c for c in self.closest(key, self.k) if c != src]
            self._send(src, VALUE if v is not None else NODES, rid, key, v, cl, now)
        elif op == STORE:
            val = p.tlv(TLV_VALUE)
            if val is None or len(val) > MAX_VALUE:
                node.drop("dht_malformed")  # type: ignore[attr-defined]
                return
            self._keep(key, val, now)
        elif op == NODES or op == VALUE:
            self._reply(src, rid, op, p, now)
        else:
            node.drop("dht_malformed")  # type: ignore[attr-defined]

    def _reply(self, src: bytes, rid: int, op: int, p: Packet, now: int) -> None:
        lk = self.lookups.get(rid)
        if lk is None or lk.state.get(src) not in (1, 3):
            return  # late or unknown: already settled
        lk.state[src] = 2
        cs = p.tlv(TLV_CONTACTS) or b""
        for i in range(0, len(cs) - 7, 8):
            c = cs[i:i + 8]
            self.learn(c, now)
            self._cand(lk, c)
        if op == VALUE and lk.want_value:
            val = p.tlv(TLV_VALUE)
            if val is not None:
                self._finish(lk, now, val)
                return
        self._advance(lk, now)

    # ------------------------------------------------------------- timers
    def on_timer(self, now: int) -> None:
        """Retries, lookup deadlines, refresh and expiry. Never raises."""
        try:
            self._timer(now)
        except Exception:  # noqa: BLE001 - the core contract
            self.node.drop("dht_internal")  # type: ignore[attr-defined]

    def _timer(self, now: int) -> None:
        for lid in list(self.lookups):
            lk = self.lookups.get(lid)
            if lk is None:
                continue
            changed = False
            for c in lk.cands:
                if lk.state[c] == 1 and diff(now, lk.deadline[c]) >= 0:
                    if lk.tries[c] < 3:
                        self._ask(lk, c, now)
                    else:
                        lk.state[c] = 3
                        changed = True
            if changed:
                self._advance(lk, now)
        if diff(now, self.next_t) < 0:
            return
        self.next_t = add(now, 1000)
        for key in list(self.mine):
            v, t = self.mine[key]
            if diff(now, t) >= 0 and len(self.lookups) < self.max_lookups:
                self.mine[key] = (v, add(now, self.refresh))
                self._start(key, False, v, now)
        for key in list(self.store):
            if diff(now, self.store[key][1]) > self.ttl:
                del self.store[key]

    def next_timer(self) -> "int | None":
        t = self.next_t
        for lid in self.lookups:
            lk = self.lookups[lid]
            for c in lk.deadline:
                if lk.state.get(c) == 1 and diff(lk.deadline[c], t) < 0:
                    t = lk.deadline[c]
        return t

    def _event(self, name: str, data: "dict[str, object]") -> None:
        self.node.push_event(ServiceEvent("dht", name, data))  # type: ignore[attr-defined]

    def stats(self) -> "dict[str, int]":
        return {"contacts": len(self.contacts), "stored": len(self.store),
                "lookups": len(self.lookups), "sent": self.sent}
