"""Playing craps through a gateway: the client side of ``bitmesh game craps --gateway``.

The gateway's node is the laptop's player (gateway/games.py); this module
drives it over the API: open or join a table, answer ``bet_wanted`` events
(or let the gateway bet with ``bets="auto"``), and turn game events into
readable lines::

    c = await ApiClient.connect(url, token, events=["games"])
    result = await play_table(c, "friday", host=True, seats=3, rounds=5, auto=True,
                              out=print)

Every failure the user can meet (table never announced, nobody joined, no
progress, connection lost) is a :class:`~bitmesh.errors.BitmeshError` with one
line; the table is left on the way out unless it finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bitmesh.errors import BitmeshError
from bitmesh_core.game.bot import table_id
from bitmesh_core.game.craps import FIELD_WIN

from .apiclient import ApiClient

# A person's answer to a bet_wanted event: (bet name, amount), or None for no bet.
Ask = Callable[[dict[str, Any]], Awaitable[tuple[str, int] | None]]
NOTES = {"cheat": "cheat", "absent": "absent", "no_quorum": "no quorum",
         "disagreement": "disagreement", "refused": "refused"}


def describe_roll(prev_point: int, d1: int, d2: int) -> str:
    """What a roll decided, for a player: line bets, then the field."""
    if d1 == 0:
        return "forfeit round (a cheater lost its seat; no roll)"
    s = d1 + d2
    if prev_point == 0:
        if s in (7, 11):
            line = f"natural {s}: pass wins"
        elif s == 12:
            line = "craps 12: pass loses, don't pass pushes"
        elif s in (2, 3):
            line = f"craps {s}: pass loses, don't pass wins"
        else:
            line = f"point is {s}"
    elif s == prev_point:
        line = f"point {s} made: pass wins"
    elif s == 7:
        line = "seven out: don't pass wins"
    else:
        line = f"no decision (point {prev_point})"
    field = "field pays double" if s in (2, 12) else (
        "field wins" if s in FIELD_WIN else "field loses")
    return f"{line}; {field}"


def short(node: str) -> str:
    return node[:8]


class TableView:
    """What the laptop player knows of its table, from the game events."""

    def __init__(self, name: str, tid: str, me: str) -> None:
        self.name = name
        self.tid = tid
        self.me = me
        self.players: list[str] = []
        self.point = 0
        self.history: list[dict[str, Any]] = []
        self.bankrolls: list[int] = []
        self.done = False

    @property
    def seat(self) -> int:
        return self.players.index(self.me) if self.me in self.players else -1

    def banks(self, bank: list[int]) -> str:
        parts = []
        for i, b in enumerate(bank):
            who = "you" if i == self.seat else (short(self.players[i])
                                                if i < len(self.players) else f"seat {i}")
            parts.append(f"{who} {b}")
        return ", ".join(parts)

    def round_line(self, ev: dict[str, Any]) -> str:
        d1, d2 = ev["dice"]
        outcome = describe_roll(self.point, d1, d2)
        self.point = int(ev.get("point", 0))
        self.bankrolls = list(ev["bankrolls"])
        self.history.append({"round": ev["round"], "dice": [d1, d2], "outcome": outcome,
                             "point": self.point, "bankrolls": self.bankrolls})
        roll = f"dice {d1} + {d2} = {d1 + d2}, " if d1 else ""
        return f"round {ev['round']}: {roll}{outcome}; bankrolls: {self.banks(self.bankrolls)}"


async def _await_open(c: ApiClient, view: TableView, wait: float) -> None:
    end = time.monotonic() + wait
    while True:
        lob = await c.request("game_lobby")
        if any(o.get("table") == view.tid for o in lob.get("open", [])):
            return
        if time.monotonic() >= end:
            raise BitmeshError(
                f"table {view.name} ({view.tid}) did not appear on the mesh within {wait:g}s; "
                "is its host playing? (open it with --host, or give a board a bot config "
                "with \"host\": true)")
        await asyncio.sleep(0.5)


async def play_table(c: ApiClient, table: str, *, host: bool = False, seats: int = 4,
                     rounds: int = 5, bankroll: int = 1000, auto: bool = False,
                     wait: float = 60.0, stall: float = 120.0, ask: Ask | None = None,
                     out: Callable[[str], None] = print) -> dict[str, Any]:
    """Play one table as the gateway's node until it is done; returns the result.

    ``host``: open the table (``seats``, ``rounds``, ``bankroll``), else join it
    once its host's OPEN was heard (waiting up to ``wait`` s). The table must
    start within ``wait`` s and then make progress every ``stall`` s. Bets come
    from ``ask`` (or no bet when it is None) unless ``auto``."""
    view = TableView(table, table_id(table).hex(), c.node)
    bets = "auto" if auto else "ask"
    if host:
        await c.request("game_open", table=table, seats=seats, rounds=rounds,
                        bankroll=bankroll, bets=bets)
        out(f"opened table {table} ({view.tid}): {seats} seats, {rounds} rounds, "
            f"bankroll {bankroll}; waiting up to {wait:g}s for players")
    else:
        await _await_open(c, view, wait)
        r = await c.request("game_join", table=table, bets=bets)
        out(f"joining table {table} ({view.tid}) hosted by {short(str(r.get('host')))}")
    try:
        await _play(c, view, wait, stall, ask, out)
    finally:
        if not view.done:
            with contextlib.suppress(Exception):
                await c.request("game_leave", check=False, timeout=3, table=table)
    return {"table": table, "id": view.tid, "state": "done", "players": view.players,
            "you": view.seat, "rounds": len(view.history), "bankrolls": view.bankrolls,
            "history": view.history}


async def _play(c: ApiClient, view: TableView, wait: float, stall: float, ask: Ask | None,
                out: Callable[[str], None]) -> None:
    """Handle game events until the table is done. A person's answer may come
    while events keep arriving: at most one question is open at a time, and
    its answer bets on whichever round awaits a bet when it comes."""
    deadline = time.monotonic() + wait
    getter: asyncio.Future[dict[str, Any] | None] | None = None
    prompt: asyncio.Future[tuple[str, int] | None] | None = None
    try:
        while not view.done:
            if getter is None:
                getter = asyncio.ensure_future(c.next_event())
            waits: set[asyncio.Future[Any]] = {getter}
            if prompt is not None:
                waits.add(prompt)
            done, _ = await asyncio.wait(waits, timeout=max(0.0, deadline - time.monotonic()),
                                         return_when=asyncio.FIRST_COMPLETED)
            if prompt is not None and prompt in done:
                choice = prompt.result()
                prompt = None
                await _send_bet(c, view, choice, out)
            if getter not in done:
                if not done:
                    raise BitmeshError(_stuck(view, wait, stall))
                continue
            ev = getter.result()
            getter = None
            if ev is None:
                raise BitmeshError("the gateway closed the connection during the game")
            if ev.get("ev") != "game" or ev.get("table") != view.tid:
                continue
            deadline = time.monotonic() + stall
            if ev.get("name") == "bet_wanted":
                if ask is None:
                    await _send_bet(c, view, None, out)
                elif prompt is None:
                    prompt = asyncio.ensure_future(ask(ev))
                else:
                    out(f"round {ev.get('round')} wants a bet: your pending answer goes to it")
            else:
                _show(view, ev, out)
    finally:
        for f in (getter, prompt):
            if f is not None:
                f.cancel()


def _stuck(view: TableView, wait: float, stall: float) -> str:
    if not view.players:
        return f"table {view.name} did not start within {wait:g}s (not enough players joined)"
    return f"table {view.name} made no progress for {stall:g}s (players gone or out of reach)"


def _show(view: TableView, ev: dict[str, Any], out: Callable[[str], None]) -> None:
    name = ev.get("name")
    if name == "table_started":
        view.players = [str(p) for p in ev.get("players", [])]
        others = ", ".join(short(p) for p in view.players if p != view.me)
        out(f"table started: {len(view.players)} players; you are seat {view.seat} "
            f"with {others}")
    elif name == "not_seated":
        raise BitmeshError(f"table {view.name} started without you (it was full)")
    elif name == "round_final":
        out(view.round_line(ev))
    elif name == "table_done":
        view.done = True
        view.bankrolls = list(ev.get("bankrolls", view.bankrolls))
        out(f"table done after {len(view.history)} rounds; "
            f"bankrolls: {view.banks(view.bankrolls)}")
    elif name in NOTES:
        who = short(str(ev.get("player", "")))
        extra = f" ({ev['cheat']})" if "cheat" in ev else ""
        out(f"{NOTES[name]}: {who}{extra} in round {ev.get('round', '?')}")


async def _send_bet(c: ApiClient, view: TableView, choice: tuple[str, int] | None,
                    out: Callable[[str], None]) -> None:
    bet, amount = choice if choice is not None else ("none", 0)
    r = await c.request("game_bet", check=False, table=view.name, bet=bet, amount=amount)
    if not r.get("ok"):
        out(f"bet not placed: {r.get('error')}")
