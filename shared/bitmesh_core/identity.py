"""Node identity: a 32-byte secret and the 8-byte node id derived from it.

The id is ``sha256(b"bitmesh-node-id" + secret)[:8]``, so it is stable across
reboots for as long as the secret (kept in the board's config) is. A 4-byte
*short id* (the id's first four bytes) is what relays write into route records.
"""

import hashlib

from .compat import const

SECRET_LEN = const(32)
ID_LEN = const(8)
SHORT_LEN = const(4)
BROADCAST_ID = b"\xff" * 8


def node_id_from_secret(secret: bytes) -> bytes:
    """Derive the public 8-byte node id from a 32-byte secret."""
    if len(secret) != SECRET_LEN:
        raise ValueError("node secret must be 32 bytes")
    return hashlib.sha256(b"bitmesh-node-id" + secret).digest()[:ID_LEN]


class Identity:
    """A node's secret and its derived ids. Construct with :meth:`from_secret`."""

    __slots__ = ("secret", "node_id", "short")

    def __init__(self, secret: bytes, node_id: bytes) -> None:
        self.secret = secret
        self.node_id = node_id
        self.short = node_id[:SHORT_LEN]

    @classmethod
    def from_secret(cls, secret: bytes) -> "Identity":
        return cls(bytes(secret), node_id_from_secret(secret))

    @classmethod
    def generate(cls, randbytes: "object") -> "Identity":
        """Make a fresh identity from an injected ``randbytes(n)`` callable."""
        return cls.from_secret(randbytes(SECRET_LEN))  # type: ignore[operator]
