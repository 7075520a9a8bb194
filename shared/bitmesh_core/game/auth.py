"""Player authentication: Schnorr signatures on edwards25519 ("Ed25519-SHA256").

Why this scheme (measured numbers in docs/GAMES.md and ``bitmesh bench``):
every mesh member holds the network key, so frame tags prove membership, not
authorship. A move must carry a signature only its player can make.

- Pairwise keys set at provisioning need O(n^2) secrets and a re-provision
  whenever a player joins: they do not fit ad-hoc tables.
- Hash-based one-time / few-time signatures (Lamport, W-OTS, HORS) are fast but
  their signatures (300 B to several kB) or Merkle public keys do not fit a
  250-byte frame next to the move, and one-time keys need state that survives
  reboots.
- Ed25519-style Schnorr gives 64-byte signatures and 32-byte public keys and
  needs only big-int arithmetic, which MicroPython has. It is slow in pure
  Python (tens of ms on a laptop VM, about a second on an ESP32), which a
  dice table (a few signed moves per player per roll) tolerates.

MicroPython has no SHA-512, so the 512-bit hash of RFC 8032 is replaced by
``sha256(0 || x) || sha256(1 || x)``; everything else follows RFC 8032
(clamped scalar, deterministic nonce, cofactorless check). It is NOT
wire-compatible with standard Ed25519, and does not need to be: all players run
this code. The key is derived from the node secret, so it survives reboots.
"""

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
SIG_LEN = 64
PUB_LEN = 32


def _h512(data: bytes) -> int:
    return int.from_bytes(hashlib.sha256(b"\x00" + data).digest()
                          + hashlib.sha256(b"\x01" + data).digest(), "little")


def _add(a: "tuple[int, int, int, int]", b: "tuple[int, int, int, int]"
         ) -> "tuple[int, int, int, int]":
    # Extended coordinates, a = -1 (add-2008-hwcd-3).
    p = P
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % p
    bb = (y1 + x1) * (y2 + x2) % p
    cc = 2 * t1 * t2 * D % p
    dd = 2 * z1 * z2 % p
    e = bb - aa
    f = dd - cc
    g = dd + cc
    h = bb + aa
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _double(a: "tuple[int, int, int, int]") -> "tuple[int, int, int, int]":
    # dbl-2008-hwcd with a = -1.
    p = P
    x1, y1, z1, _t = a
    aa = x1 * x1 % p
    bb = y1 * y1 % p
    cc = 2 * z1 * z1 % p
    h = aa + bb
    s = x1 + y1
    e = h - s * s % p
    g = aa - bb
    f = cc + g
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _mul(k: int, pt: "tuple[int, int, int, int]") -> "tuple[int, int, int, int]":
    """[k]pt with a 2-bit window: a 4-entry table keeps the peak heap small
    (a board has about 100 KB in all)."""
    p2 = _double(pt)
    tab = (pt, p2, _add(p2, pt))
    q = (0, 1, 1, 0)
    i = 0
    while (k >> i) > 3:
        i += 2
    while i >= 0:
        q = _double(_double(q))
        w = (k >> i) & 3
        if w:
            q = _add(q, tab[w - 1])
        i -= 2
    return q


def _mul2(a: int, pa: "tuple[int, int, int, int]", b: int,
          pb: "tuple[int, int, int, int]") -> "tuple[int, int, int, int]":
    """[a]pa + [b]pb by Straus-Shamir: one shared chain of doublings."""
    both = _add(pa, pb)
    q = (0, 1, 1, 0)
    n = 0
    while (a >> n) or (b >> n):
        n += 1
    i = n - 1
    while i >= 0:
        q = _double(q)
        x = (a >> i) & 1
        y = (b >> i) & 1
        if x and y:
            q = _add(q, both)
        elif x:
            q = _add(q, pa)
        elif y:
            q = _add(q, pb)
        i -= 1
    return q


def _recover_x(y: int, sign: int) -> "int | None":
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0) or 0
BASE = (_GX, _GY, 1, _GX * _GY % P)


def _compress(pt: "tuple[int, int, int, int]") -> bytes:
    zinv = pow(pt[2], P - 2, P)
    x = pt[0] * zinv % P
    y = pt[1] * zinv % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _decompress(s: bytes) -> "tuple[int, int, int, int] | None":
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % P)


def _expand(seed: bytes) -> "tuple[int, bytes]":
    h = hashlib.sha256(b"\x00" + seed).digest()
    a = int.from_bytes(h, "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, hashlib.sha256(b"\x01" + seed).digest()


class Signer:
    """One player's key pair. ``seed`` is 32 secret bytes (derive it from the
    node secret with :func:`player_seed`)."""

    __slots__ = ("_a", "_prefix", "public")

    def __init__(self, seed: bytes) -> None:
        self._a, self._prefix = _expand(seed)
        self.public = _compress(_mul(self._a, BASE))

    def sign(self, msg: bytes) -> bytes:
        r = _h512(self._prefix + msg) % L
        rb = _compress(_mul(r, BASE))
        k = _h512(rb + self.public + msg) % L
        s = (r + k * self._a) % L
        return rb + s.to_bytes(32, "little")


def verify(public: bytes, msg: bytes, sig: bytes) -> bool:
    """True when ``sig`` is ``public``'s signature of ``msg``. Never raises."""
    try:
        if len(sig) != SIG_LEN or len(public) != PUB_LEN:
            return False
        a = _decompress(public)
        r = _decompress(sig[:32])
        if a is None or r is None:
            return False
        s = int.from_bytes(sig[32:], "little")
        if s >= L:
            return False
        k = _h512(sig[:32] + public + msg) % L
        # [s]B == R + [k]A  <=>  [s]B + [k](-A) == R
        neg = ((P - a[0]) % P, a[1], a[2], (P - a[3]) % P)
        lhs = _mul2(s, BASE, k, neg)
        rhs = r
        # Compare projectively: x1*z2 == x2*z1 and y1*z2 == y2*z1.
        return ((lhs[0] * rhs[2] - rhs[0] * lhs[2]) % P == 0
                and (lhs[1] * rhs[2] - rhs[1] * lhs[2]) % P == 0)
    except Exception:  # noqa: BLE001 - malformed input never raises out of the core
        return False


def player_seed(node_secret: bytes) -> bytes:
    """The signing seed of a node's player key, derived from its node secret."""
    return hashlib.sha256(b"bitmesh-player-key" + node_secret).digest()


def key_fp(public: bytes) -> bytes:
    """4-byte fingerprint of a public key, as listed in a table's roster."""
    return hashlib.sha256(public).digest()[:4]
