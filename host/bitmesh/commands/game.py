"""``bitmesh game craps``: play craps on the mesh from a laptop.

``--gateway URL --table NAME`` plays on a real (or virtual) mesh through a
running ``bitmesh gateway``: the gateway's node takes the seat, so the
other players can be board bots, other laptops, or anything else running the
core's GameService (gateway/games.py, gateway/gameclient.py).

``--local N`` runs N bot players plus you on an in-process lossy mesh built from
the real core (the same GameService the boards and the simulator run).

Either way you choose each bet at the terminal, or ``--auto`` lets the bots'
strategy play your seat.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bitmesh.errors import UsageError
from bitmesh.gateway.apiclient import ApiClient
from bitmesh.gateway.gameclient import describe_roll, play_table
from bitmesh.gateway.store import read_token
from bitmesh_core.config import NodeConfig
from bitmesh_core.game.bot import bot_bet
from bitmesh_core.game.craps import BET_DONT, BET_FIELD, BET_NAMES, BET_NONE, BET_PASS
from bitmesh_core.game.service import GameService
from bitmesh_core.identity import Identity
from bitmesh_core.node import MeshNode
from bitmesh_core.rng import SeededRng

KEY = hashlib.sha256(b"bitmesh-local-craps").digest()
CHOICES = {"p": BET_PASS, "d": BET_DONT, "f": BET_FIELD, "n": BET_NONE}
DEFAULT_URL = "ws://127.0.0.1:8765"


class LocalTable:
    """``n`` nodes in a ring with chords, lossy, stepped 10 ms at a time."""

    def __init__(self, n: int, rounds: int, loss: float, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.loss = loss
        self.now = 0
        self.nodes = [MeshNode(NodeConfig(game_retry_ms=800), Identity.from_secret(
            hashlib.sha256(b"local %d %d" % (seed, i)).digest()), KEY, SeededRng(seed + i), 0)
            for i in range(n)]
        self.addr = [bytes((2, 0, 0, 0, 0, i)) for i in range(n)]
        self.links = {i: {(i + 1) % n, (i - 1) % n, (i + 2) % n} - {i} for i in range(n)}
        self.svcs = [GameService(nd, 0) for nd in self.nodes]
        self.events: list[tuple[int, Any]] = []
        self.run(3000)
        self.table = bytes(self.rnd.getrandbits(8) for _ in range(4))
        self.svcs[0].open_table(self.table, n, rounds, 1000, self.now)
        self.run(300)
        for s in self.svcs[1:]:
            s.join(self.table, self.now)

    def run(self, ms: int) -> None:
        end = self.now + ms
        while self.now < end:
            for i, nd in enumerate(self.nodes):
                self.svcs[i].on_timer(self.now)
                nd.handle_timer(self.now)
                for iface, a, frame in nd.frames_to_send():
                    for j in self.links[i]:
                        if (a is None or a == self.addr[j]) and self.rnd.random() >= self.loss:
                            self.nodes[j].receive(iface, bytes(frame), -60, self.now,
                                                  self.addr[i])
                while (ev := nd.next_event()) is not None:
                    if ev.kind == "service":
                        self.events.append((i, ev))
            self.now += 10

    def session(self, i: int) -> Any:
        return self.svcs[i].tables.get(self.table)


def _ask_bet(s: Any) -> tuple[int, int]:
    g = s.game
    me = s.seat(s.me)
    bank = g.bank[me]
    if bank <= 0:
        return (BET_NONE, 0)
    phase = "come-out" if g.point == 0 else f"point {g.point}"
    c = click.prompt(f"round {s.rnd} ({phase}, bankroll {bank}) bet [p]ass [d]on't [f]ield "
                     "[n]one", default="p" if g.point == 0 else "n",
                     type=click.Choice(list(CHOICES)), show_choices=False)
    kind = CHOICES[c]
    if kind == BET_NONE:
        return (BET_NONE, 0)
    amt = click.prompt("amount", default=min(10, bank), type=click.IntRange(1, bank))
    return (kind, amt)


@click.group("game")
def game_group() -> None:
    """Decentralized games: commit-reveal dice, signed moves, consensus."""


BET_WORDS = {"p": "pass", "d": "dont_pass", "f": "field", "n": "none"}


def parse_bet(text: str, bankroll: int) -> tuple[str, int] | None:
    """``"p 10"``, ``"d"``, ``"field 5"``, ``"n"`` -> (bet, amount), or None for no
    bet; ValueError for anything else. The amount defaults to min(10, bankroll)."""
    words = text.lower().split()
    if not words or words[0][:1] not in BET_WORDS or len(words) > 2:
        raise ValueError(text)
    bet = BET_WORDS[words[0][:1]]
    if bet == "none":
        return None
    amount = int(words[1]) if len(words) == 2 else min(10, bankroll)
    if not 1 <= amount <= min(bankroll, 65535):
        raise ValueError(text)
    return (bet, amount)


class TerminalBets:
    """Asks the person at the terminal for each bet, reading stdin on the event
    loop (no thread: Ctrl-C and the end of the table never wait for a line)."""

    def __init__(self) -> None:
        self.reader: asyncio.StreamReader | None = None
        self.closed = False

    async def _line(self) -> str | None:
        if self.reader is None:
            reader = asyncio.StreamReader()
            try:
                await asyncio.get_running_loop().connect_read_pipe(
                    lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
            except (ValueError, OSError):  # a regular file: not interactive
                return None
            self.reader = reader
        raw = await self.reader.readline()
        return raw.decode("utf-8", "replace") if raw else None

    async def __call__(self, ev: dict[str, Any]) -> tuple[str, int] | None:
        bank = int(ev.get("bankroll", 0))
        if bank <= 0 or self.closed:
            return None
        point = int(ev.get("point", 0))
        phase = "come-out" if point == 0 else f"point {point}"
        default = "p" if point == 0 else "n"
        while True:
            click.echo(f"round {ev.get('round')} ({phase}, bankroll {bank}, "
                       f"{int(ev.get('wait_ms', 0)) // 1000} s to choose) bet: p(ass) "
                       f"d(on't pass) f(ield) n(one) [amount] [{default}]: ", nl=False)
            line = await self._line()
            if line is None:
                self.closed = True
                click.echo("\n(no input: no more bets; --auto lets the bots' strategy play)")
                return None
            try:
                return parse_bet(line.strip() or default, bank)
            except ValueError:
                click.echo(f"  answer like: p 10, d 20, f 5 or n (amount 1..{min(bank, 65535)})")


def _play_gateway(url: str, token_file: Path | None, table: str, host: bool, seats: int,
                  rounds: int, bankroll: int, auto: bool, wait: float,
                  as_json: bool) -> None:
    token = read_token(token_file)
    con = Console(stderr=as_json, highlight=False, soft_wrap=True)

    async def run() -> dict[str, Any]:
        c = await ApiClient.connect(url, token, events=["games"])
        try:
            await c.request("unsubscribe", events=["messages"])
            return await play_table(c, table, host=host, seats=seats, rounds=rounds,
                                    bankroll=bankroll, auto=auto, wait=wait,
                                    ask=None if auto else TerminalBets(), out=con.print)
        finally:
            await c.close()

    result = asyncio.run(run())
    if as_json:
        click.echo(json.dumps(result))


@game_group.command("craps")
@click.option("--gateway", "gateway", metavar="URL",
              help="Play through the `bitmesh gateway` API at URL (e.g. " + DEFAULT_URL + ").")
@click.option("--table", metavar="NAME",
              help="[--gateway] Table to open (--host) or join: a name, or 8 hex digits.")
@click.option("--host", "host", is_flag=True, help="[--gateway] Open (host) the table.")
@click.option("--seats", type=click.IntRange(2, 8), default=4, show_default=True,
              help="[--gateway --host] Seats; it starts when full, or with 2+ players "
                   "after the lobby time (game_lobby_ms).")
@click.option("--bankroll", type=click.IntRange(1, 1000000000), default=1000,
              show_default=True, help="[--gateway --host] Starting bankroll of every seat.")
@click.option("--wait", type=click.FloatRange(1, 3600), default=60, show_default=True,
              help="[--gateway] Seconds to wait for the table to appear and to start.")
@click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
              help="[--gateway] API token file (default: the one `bitmesh gateway` made).")
@click.option("--local", "local", type=click.IntRange(1, 7), default=None,
              help="Play with N in-process bot players instead (no gateway needed).")
@click.option("--rounds", type=click.IntRange(1, 200), default=5, show_default=True,
              help="Rounds (rolls) of the table (with --gateway: when hosting).")
@click.option("--loss", type=click.FloatRange(0.0, 0.5), default=0.1, show_default=True,
              help="[--local] Per-link frame loss of the local mesh.")
@click.option("--seed", type=int, default=1, show_default=True, help="[--local] Random seed.")
@click.option("--auto", is_flag=True, help="The bots' strategy plays your seat.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as one JSON object (progress goes to stderr).")
def craps(gateway: str | None, table: str | None, host: bool, seats: int, bankroll: int,
          wait: float, token_file: Path | None, local: int | None, rounds: int, loss: float,
          seed: int, auto: bool, as_json: bool) -> None:
    """Play craps: pass / don't pass / field, dice by commit-reveal among all.

    \b
    Through a gateway (the laptop plays as the gateway's node):
      bitmesh gateway --port /dev/ttyUSB0 --network home      # in another terminal
      bitmesh game craps --gateway ws://127.0.0.1:8765 --table friday --host --seats 3
      bitmesh game craps --gateway ws://127.0.0.1:8765 --table friday   # join it
    Other players: laptops doing the same, or boards provisioned with
    `bitmesh provision ... --bot-table friday` (a board bot joins when it hears
    the table). Each round prints the dice, what they decided and every bankroll.
    Each round asks for your bet: p(ass), d(on't pass), f(ield) or n(one), then an
    optional amount ("p 20"); no answer in time = no bet; --auto bets for you.

    \b
    No hardware:  bitmesh game craps --local 3              (in-process bots)
    or a virtual mesh with bots behind a gateway:
      bitmesh gateway --virtual --virtual-bots 2 --bot-table friday --key-file KEY
    """
    if gateway is not None and local is not None:
        raise UsageError("give either --gateway URL or --local N, not both")
    if gateway is not None:
        if not table:
            raise UsageError("--gateway needs --table NAME (the table to open with --host, "
                             "or to join)")
        _play_gateway(gateway, token_file, table, host, seats, rounds, bankroll, auto, wait,
                      as_json)
        return
    if local is None:
        raise UsageError("give --gateway URL --table NAME to play on a mesh through "
                         "`bitmesh gateway`, or --local N to play against N in-process bots")
    con = Console(stderr=as_json)
    t = LocalTable(local + 1, rounds, loss, seed)
    for i in range(1, local + 1):
        t.svcs[i].bet_fn = bot_bet
    t.svcs[0].bet_fn = bot_bet if (auto or as_json) else _ask_bet
    seen = 0
    point = 0
    for _ in range(rounds * 200):
        t.run(100)
        for i, ev in t.events[seen:]:
            if i == 0 and ev.name == "round_final":
                d = ev.data["dice"]
                con.print(f"round {ev.data['round']}: dice {d[0]} + {d[1]} = {d[0] + d[1]}, "
                          f"{describe_roll(point, d[0], d[1])}; "
                          f"bankrolls {ev.data['bankrolls']}")
                point = int(ev.data["point"])
            elif ev.name == "cheat" and i == 0:
                con.print(f"[red]cheat[/red] {ev.data['cheat']} by {ev.data['player']}")
        seen = len(t.events)
        s = t.session(0)
        if s is not None and s.state in ("done", "closed"):
            break
    s = t.session(0)
    states = {t.session(i).my_state.hex() for i in range(local + 1) if t.session(i)}
    result = {"rounds": rounds, "state": s.state if s else "none",
              "bankrolls": list(s.game.bank) if s else [], "you": 0,
              "agreed": len(states) == 1, "bets": list(BET_NAMES)}
    if as_json:
        click.echo(json.dumps(result))
    else:
        con.print(f"final bankrolls: {result['bankrolls']} (you are seat 0); "
                  f"all players agree: {result['agreed']}")


def register(group: click.Group) -> None:
    group.add_command(game_group)
