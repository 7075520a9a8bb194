"""Craps rules: pass line, don't pass (bar 12) and the one-roll field bet.

Pure and deterministic: every player applies the same bets to the same dice
and reaches the same state, whose hash the players then vote on.

Line bets (pass / don't pass) are placed only on a come-out roll and stay until
decided; a field bet lasts one roll. A bet larger than the bankroll is void.
Payouts are even money except the field's 2 and 12, which pay double.
"""

import hashlib

BET_NONE = 0
BET_PASS = 1
BET_DONT = 2
BET_FIELD = 3
BET_NAMES = ("none", "pass", "dont_pass", "field")
FIELD_WIN = (2, 3, 4, 9, 10, 11, 12)


class Craps:
    """Table state: point (0 = come-out), bankroll, line bet per seat."""

    __slots__ = ("point", "bank", "line", "line_amt", "active", "rolls")

    def __init__(self, seats: int, bankroll: int) -> None:
        self.point = 0
        self.bank = [bankroll] * seats
        self.line = bytearray(seats)
        self.line_amt = [0] * seats
        self.active = bytearray(b"\x01" * seats)
        self.rolls = 0

    def copy(self) -> "Craps":
        c = Craps(0, 0)
        c.point = self.point
        c.bank = list(self.bank)
        c.line = bytearray(self.line)
        c.line_amt = list(self.line_amt)
        c.active = bytearray(self.active)
        c.rolls = self.rolls
        return c

    def place(self, seat: int, kind: int, amount: int) -> int:
        """Apply a bet for the next roll; returns the accepted field amount."""
        if not self.active[seat] or amount <= 0 or amount > self.bank[seat]:
            return 0
        if kind in (BET_PASS, BET_DONT):
            if self.point == 0 and self.line[seat] == BET_NONE:
                self.line[seat] = kind
                self.line_amt[seat] = amount
                self.bank[seat] -= amount
            return 0
        if kind == BET_FIELD:
            self.bank[seat] -= amount
            return amount
        return 0

    def apply(self, d1: int, d2: int, field: "list[int]") -> "list[int]":
        """Settle one roll; ``field`` holds this roll's field stakes per seat.
        Returns each seat's net win (negative: loss) from bets decided now."""
        s = d1 + d2
        n = len(self.bank)
        net = [0] * n
        for i in range(n):
            f = field[i]
            if f:
                if s in FIELD_WIN:
                    pay = f * (2 if s in (2, 12) else 1)
                    self.bank[i] += f + pay
                    net[i] += pay
                else:
                    net[i] -= f
        pass_wins = None  # type: bool | None
        push_dont = False
        if self.point == 0:
            if s in (7, 11):
                pass_wins = True
            elif s in (2, 3, 12):
                pass_wins = False
                push_dont = s == 12
            else:
                self.point = s
        elif s == self.point:
            pass_wins = True
            self.point = 0
        elif s == 7:
            pass_wins = False
            self.point = 0
        if pass_wins is not None:
            for i in range(n):
                k = self.line[i]
                a = self.line_amt[i]
                if k == BET_NONE:
                    continue
                won = pass_wins if k == BET_PASS else not pass_wins
                if k == BET_DONT and push_dont:
                    self.bank[i] += a
                elif won:
                    self.bank[i] += 2 * a
                    net[i] += a
                else:
                    net[i] -= a
                self.line[i] = BET_NONE
                self.line_amt[i] = 0
        self.rolls += 1
        return net

    def forfeit(self, seat: int) -> None:
        """A cheater loses its seat, its bankroll and its standing bet."""
        self.active[seat] = 0
        self.bank[seat] = 0
        self.line[seat] = BET_NONE
        self.line_amt[seat] = 0

    def state_hash(self, rnd: int, dice: "tuple[int, int]") -> bytes:
        """The 16-byte hash players vote on after a round."""
        h = hashlib.sha256(b"bitmesh-craps-state")
        h.update(bytes(((rnd >> 8) & 0xFF, rnd & 0xFF, dice[0], dice[1], self.point)))
        h.update(bytes(self.active))
        h.update(bytes(self.line))
        for i in range(len(self.bank)):
            h.update(self.bank[i].to_bytes(4, "big"))
            h.update(self.line_amt[i].to_bytes(4, "big"))
        return h.digest()[:16]
