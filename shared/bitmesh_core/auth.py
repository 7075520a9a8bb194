"""Frame authentication: HMAC-SHA256 under the network key, truncated to 8 bytes.

The tag covers every byte of the frame except the TTL byte (offset 2), which
relays decrement. Relays that append to the route record re-tag the frame; they
hold the network key like every member. The key pads are hashed once, at
construction, and cloned per frame where the runtime allows it.
"""

import hashlib

from .compat import const

TAG_LEN = const(8)
TTL_OFFSET = const(2)
_BLOCK = const(64)


class FrameAuth:
    """Computes and checks the truncated HMAC tag of frames under one key."""

    __slots__ = ("_ipad", "_opad")

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("network key must be at least 16 bytes")
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        k = bytearray(_BLOCK)
        k[: len(key)] = key
        self._ipad = bytes(b ^ 0x36 for b in k)
        self._opad = bytes(b ^ 0x5C for b in k)

    def tag(self, frame: "bytes | bytearray | memoryview", end: int) -> bytes:
        """The 8-byte tag of ``frame[:end]`` with the TTL byte left out."""
        return self._mac(frame, end)[:TAG_LEN]

    def _mac(self, frame: "bytes | bytearray | memoryview", end: int) -> bytes:
        """The full HMAC-SHA256 of ``frame[:end]`` without the TTL byte."""
        mv = memoryview(frame)
        h = hashlib.sha256(self._ipad)
        h.update(mv[:TTL_OFFSET])
        h.update(mv[TTL_OFFSET + 1 : end])
        inner = h.digest()
        h = hashlib.sha256(self._opad)
        h.update(inner)
        return h.digest()

    def sign(self, frame: bytearray) -> None:
        """Write the tag into the last 8 bytes of ``frame`` (in place)."""
        end = len(frame) - TAG_LEN
        frame[end:] = self.tag(frame, end)

    def verify(self, frame: "bytes | bytearray | memoryview") -> bool:
        """True when the frame's last 8 bytes are its valid tag."""
        end = len(frame) - TAG_LEN
        if end < 0:
            return False
        good = self._mac(frame, end)  # its first TAG_LEN bytes are the tag
        # Constant-time compare: a timing leak would let a forger learn the tag.
        acc = 0
        for i in range(TAG_LEN):
            acc |= good[i] ^ frame[end + i]
        return acc == 0
