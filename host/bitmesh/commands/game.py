"""``bitmesh game craps``: play craps on the mesh from a laptop.

``--local N`` runs N bot players plus you on an in-process lossy mesh built from
the real core (the same GameService the boards and the simulator run): you
choose each come-out bet at the terminal (or ``--auto`` lets a bot play your
seat). Playing through a gateway's WebSocket API is not wired yet: without
``--local`` the command says so (see docs/GAMES.md, "Remaining work").
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import click
from rich.console import Console

from bitmesh.errors import UsageError
from bitmesh_core.config import NodeConfig
from bitmesh_core.game.bot import bot_bet
from bitmesh_core.game.craps import BET_DONT, BET_FIELD, BET_NAMES, BET_NONE, BET_PASS
from bitmesh_core.game.service import GameService
from bitmesh_core.identity import Identity
from bitmesh_core.node import MeshNode
from bitmesh_core.rng import SeededRng

KEY = hashlib.sha256(b"bitmesh-local-craps").digest()
CHOICES = {"p": BET_PASS, "d": BET_DONT, "f": BET_FIELD, "n": BET_NONE}


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


@game_group.command("craps")
@click.option("--local", "local", type=click.IntRange(1, 7), default=None,
              help="play with N in-process bot players (no gateway needed)")
@click.option("--rounds", type=click.IntRange(1, 200), default=5, show_default=True)
@click.option("--loss", type=click.FloatRange(0.0, 0.5), default=0.1, show_default=True,
              help="per-link frame loss of the local mesh")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--auto", is_flag=True, help="a bot plays your seat too")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def craps(local: int | None, rounds: int, loss: float, seed: int, auto: bool,
          as_json: bool) -> None:
    """Play craps: pass / don't pass / field, dice by commit-reveal among all."""
    if local is None:
        raise UsageError("playing through a gateway is not available yet; "
                         "use --local N to play against N bots")
    con = Console(stderr=as_json)
    t = LocalTable(local + 1, rounds, loss, seed)
    for i in range(1, local + 1):
        t.svcs[i].bet_fn = bot_bet
    t.svcs[0].bet_fn = bot_bet if (auto or as_json) else _ask_bet
    seen = 0
    for _ in range(rounds * 200):
        t.run(100)
        for i, ev in t.events[seen:]:
            if i == 0 and ev.name == "round_final":
                d = ev.data["dice"]
                con.print(f"round {ev.data['round']}: dice {d[0]} + {d[1]} = {d[0] + d[1]}, "
                          f"point {ev.data['point'] or '-'}, bankrolls {ev.data['bankrolls']}")
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
