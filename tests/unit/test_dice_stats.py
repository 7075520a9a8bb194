"""Statistical and property checks of the commit-reveal dice (CPython only)."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from bitmesh_core.game.dice import commitment, roll

# chi-square critical values at p = 0.001: 5 dof (one die), 10 dof (sums 2..12)
CHI2_5 = 20.515
CHI2_10 = 29.588


def test_ten_thousand_rolls_pass_chi_square() -> None:
    faces = [0] * 7
    sums = [0] * 13
    n = 10_000
    for r in range(n):
        nonces = [os.urandom(16) for _ in range(3)]
        d1, d2 = roll(b"tabl", r & 0xFFFF, nonces)
        faces[d1] += 1
        faces[d2] += 1
        sums[d1 + d2] += 1
    exp = 2 * n / 6
    chi = sum((faces[f] - exp) ** 2 / exp for f in range(1, 7))
    assert chi < CHI2_5, chi
    chi2 = 0.0
    for s in range(2, 13):
        e = n * (6 - abs(s - 7)) / 36
        chi2 += (sums[s] - e) ** 2 / e
    assert chi2 < CHI2_10, chi2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=8),
       st.integers(0, 0xFFFF))
def test_roll_is_deterministic_and_in_range(nonces: list[bytes], rnd: int) -> None:
    a = roll(b"tabl", rnd, nonces, 5)
    assert a == roll(b"tabl", rnd, list(nonces), 5)
    assert all(1 <= d <= 6 for d in a)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16))
def test_commitment_binds_nonce_player_and_round(n1: bytes, n2: bytes) -> None:
    p = bytes(8)
    c = commitment(b"tabl", 3, p, n1)
    assert (c == commitment(b"tabl", 3, p, n2)) == (n1 == n2)
    assert c != commitment(b"tabl", 4, p, n1)
    assert c != commitment(b"tabl", 3, b"\x01" * 8, n1)
