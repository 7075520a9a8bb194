"""Fair dice by commit-reveal among all players.

Each player draws a 16-byte nonce from the injected rng and publishes

    commit = sha256(DOMAIN || table id (4) || round (2) || player id (8) || nonce)

Only after every player's commitment for the round has arrived does it reveal
the nonce. The dice come from all reveals combined, in roster order:

    seed = sha256(DOMAIN_DICE || table || round || nonce_1 || ... || nonce_n)

and each die is drawn from the bytes of ``seed`` (then of sha256(seed || k) when
those run out) by rejection sampling: a byte b is used only when b < 252
(= 6 * 42), giving b % 6 + 1; 252..255 are skipped, so every face has
probability exactly 1/6. No player can steer the result without knowing every
other nonce before committing, and binding the table, round and player id into
the commitment stops copying someone else's commitment or reusing an old one.
"""

import hashlib

DOMAIN = b"bitmesh-dice-commit-v1"
DOMAIN_DICE = b"bitmesh-dice-roll-v1"
NONCE_LEN = 16
REJECT_AT = 252


def commitment(table: bytes, rnd: int, player: bytes, nonce: bytes) -> bytes:
    """The 32-byte commitment of ``player`` to ``nonce`` for one round."""
    return hashlib.sha256(DOMAIN + table + bytes(((rnd >> 8) & 0xFF, rnd & 0xFF))
                          + player + nonce).digest()


def new_nonce(rng: object) -> bytes:
    """16 bytes from the injected rng (getrandbits(k <= 30))."""
    out = bytearray(NONCE_LEN)
    for i in range(0, NONCE_LEN, 2):
        v = rng.getrandbits(16)  # type: ignore[attr-defined]
        out[i] = v >> 8
        out[i + 1] = v & 0xFF
    return bytes(out)


def roll(table: bytes, rnd: int, nonces: "list[bytes]", count: int = 2) -> "list[int]":
    """``count`` dice (1..6) from the ordered reveals of every player."""
    h = hashlib.sha256(DOMAIN_DICE + table + bytes(((rnd >> 8) & 0xFF, rnd & 0xFF)))
    for n in nonces:
        h.update(n)
    seed = h.digest()
    out = []  # type: list[int]
    buf = seed
    k = 0
    i = 0
    while len(out) < count:
        if i >= len(buf):
            k += 1
            buf = hashlib.sha256(seed + bytes((k & 0xFF,))).digest()
            i = 0
        b = buf[i]
        i += 1
        if b < REJECT_AT:
            out.append(b % 6 + 1)
    return out
