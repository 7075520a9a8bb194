"""The signed game message: the body of T_GAME and T_CONSENSUS frames.

Frame body (packet TLVs, so the frame layer parses it like any other)::

    TLV 0x40  move   kind(1) table(4) round(2) mseq(4) player(8) data(...)
    TLV 0x41  sig    64-byte Schnorr signature of DOMAIN || move by its signer

``player`` is the author of the move and ``mseq`` that author's move counter
for this table (strictly increasing per signed message; retransmissions resend
the same signed bytes). The signer is the player; when ``player`` differs from
the frame's ``src`` the receiver checks the signature under the *src's* key to
attribute a forgery (see anticheat.py).

``data`` per kind:

    OPEN    seats(1) rounds(2) bankroll(4) game(1) host pubkey(32)
    JOIN    pubkey(32)                                       player asks a seat
    START   n(1) n * (player id(8) key fp(4)) rounds(2) bankroll(4) host pubkey(32)
    COMMIT  commitment(32) bet kind(1) bet amount(2) pubkey(32)
    REVEAL  nonce(16)
    VOTE    state hash(16) d1(1) d2(1)    (T_CONSENSUS; d1 = 0: no roll)
    LEAVE   (empty)
"""

import hashlib

from ..packet import tlv

TLV_MOVE = 0x40
TLV_SIG = 0x41
DOMAIN = b"bitmesh-game-move-v1"

K_OPEN = 1
K_JOIN = 2
K_START = 3
K_COMMIT = 4
K_REVEAL = 5
K_VOTE = 6
K_LEAVE = 7
KIND_NAMES = ("?", "open", "join", "start", "commit", "reveal", "vote", "leave")
HDR = 19  # kind + table + round + mseq + player


class Move:
    """A parsed move; ``raw`` is the signed bytes, ``sig`` the signature.
    Fields are sliced on access so a held move costs two objects."""

    __slots__ = ("raw", "sig")

    def __init__(self, raw: bytes, sig: bytes) -> None:
        self.raw = raw
        self.sig = sig

    @property
    def kind(self) -> int:
        return self.raw[0]

    @property
    def table(self) -> bytes:
        return self.raw[1:5]

    @property
    def rnd(self) -> int:
        return (self.raw[5] << 8) | self.raw[6]

    @property
    def mseq(self) -> int:
        r = self.raw
        return (r[7] << 24) | (r[8] << 16) | (r[9] << 8) | r[10]

    @property
    def player(self) -> bytes:
        return self.raw[11:19]

    @property
    def data(self) -> bytes:
        return self.raw[HDR:]

    def digest(self) -> int:
        """A 30-bit small int naming this exact signed message (seen-set key;
        a small int costs no heap on a board)."""
        h = hashlib.sha256(self.sig).digest()
        return ((h[0] & 0x3F) << 24) | (h[1] << 16) | (h[2] << 8) | h[3]


def encode_move(kind: int, table: bytes, rnd: int, mseq: int, player: bytes,
                data: bytes) -> bytes:
    return (bytes((kind,)) + table + bytes(((rnd >> 8) & 0xFF, rnd & 0xFF))
            + mseq.to_bytes(4, "big") + player + data)


def signed_body(raw: bytes, sig: bytes) -> bytes:
    return tlv(TLV_MOVE, raw) + tlv(TLV_SIG, sig)


def sign_input(raw: bytes) -> bytes:
    return DOMAIN + raw


def parse(move_tlv: "bytes | None", sig_tlv: "bytes | None") -> "Move | None":
    """A Move from the two TLVs, or None when malformed."""
    if move_tlv is None or sig_tlv is None or len(move_tlv) < HDR or len(sig_tlv) != 64:
        return None
    if not 1 <= move_tlv[0] <= K_LEAVE:
        return None
    return Move(bytes(move_tlv), bytes(sig_tlv))
