"""Fragmentation of application payloads larger than one frame.

A large message becomes ``count`` T_FRAGMENT frames, each with a TLV_FRAG
(message id 2 bytes, index 1, count 1, inner type 1) and a payload chunk.
Reassembly buffers are bounded in number (``max_reassembly``), in total size
(``max_message``) and in time (``reassembly_timeout_ms``); a buffer that times
out or does not fit is dropped and counted by the node.
"""

from .clock import diff
from .compat import const

_MAX_FRAGMENTS = const(32)


def split(payload: bytes, chunk: int) -> "list[bytes]":
    """Cut ``payload`` into chunks of at most ``chunk`` bytes."""
    return [payload[i : i + chunk] for i in range(0, len(payload), chunk)]


def frag_tlv_value(msg_id: int, index: int, count: int, inner: int) -> bytes:
    return bytes(((msg_id >> 8) & 0xFF, msg_id & 0xFF, index, count, inner))


class _Partial:
    __slots__ = ("parts", "got", "size", "started", "inner", "app")

    def __init__(self, count: int, inner: int, app: int, now: int) -> None:
        self.parts = [None] * count  # type: list[bytes | None]
        self.got = 0
        self.size = 0
        self.started = now
        self.inner = inner
        self.app = app


class Reassembler:
    __slots__ = ("cap", "max_size", "timeout", "partials", "dropped")

    def __init__(self, capacity: int, max_size: int, timeout_ms: int) -> None:
        self.cap = capacity
        self.max_size = max_size
        self.timeout = timeout_ms
        self.partials = {}  # type: dict[bytes, _Partial]
        self.dropped = 0

    def __len__(self) -> int:
        return len(self.partials)

    def add(self, src: bytes, frag: bytes, chunk: bytes, app: int,
            now: int) -> "tuple[int, int, bytes] | str | None":
        """Add one fragment. Returns (inner type, app, payload) when complete,
        None while incomplete, or a drop reason string."""
        if len(frag) != 5:
            return "bad_frag"
        msg_id = (frag[0] << 8) | frag[1]
        index = frag[2]
        count = frag[3]
        if count == 0 or count > _MAX_FRAGMENTS or index >= count:
            return "bad_frag"
        key = src + bytes((frag[0], frag[1]))
        p = self.partials.get(key)
        if p is None:
            if len(self.partials) >= self.cap:
                self._evict_oldest()
            p = _Partial(count, frag[4], app, now)
            self.partials[key] = p
        elif len(p.parts) != count:
            del self.partials[key]
            return "bad_frag"
        if p.parts[index] is not None:
            return None
        if p.size + len(chunk) > self.max_size:
            del self.partials[key]
            self.dropped += 1
            return "too_big"
        p.parts[index] = chunk
        p.got += 1
        p.size += len(chunk)
        if p.got < count:
            return None
        del self.partials[key]
        out = b"".join([x for x in p.parts if x is not None])
        _ = msg_id
        return (p.inner, p.app, out)

    def _evict_oldest(self) -> None:
        old = None
        for k in self.partials:
            if old is None or diff(self.partials[k].started, self.partials[old].started) < 0:
                old = k
        if old is not None:
            del self.partials[old]
            self.dropped += 1

    def expire(self, now: int) -> int:
        gone = [k for k in self.partials if diff(now, self.partials[k].started) > self.timeout]
        for k in gone:
            del self.partials[k]
        self.dropped += len(gone)
        return len(gone)
