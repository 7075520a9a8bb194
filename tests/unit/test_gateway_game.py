"""Craps through a gateway: the laptop plays as the gateway's node against bots.

The mesh is the in-process VirtualMesh (real cores, real-time asyncio radio)
with ``bitmesh_core.game.bot.Bot`` players on its nodes; node 0 is the gateway's
board. The laptop side is the real API, ApiClient and ``bitmesh game craps``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bitmesh.cli import main
from bitmesh.commands.game import parse_bet
from bitmesh.gateway.apiclient import ApiClient, ApiError
from bitmesh.gateway.gameclient import describe_roll, play_table
from bitmesh.gateway.links import LoopbackLink
from bitmesh.gateway.service import Gateway
from bitmesh.gateway.virtual import VirtualMesh
from bitmesh_core.game.bot import Bot, table_id
from bitmesh_core.identity import Identity

KEY = bytes(range(32))
TOKEN = "game-token"
FAST = {"game_retry_ms": 300, "game_lobby_ms": 20000}


async def _start(bot_host: bool, table: str, games: bool = True
                 ) -> tuple[Gateway, VirtualMesh, list[Bot]]:
    vm = VirtualMesh(4, KEY, links=[(0, 1), (1, 2), (2, 3), (1, 3)], config=FAST)
    link = vm.attach(0)
    bots = vm.add_bots([1, 2, 3] if bot_host else [2, 3], table, host=bot_host)
    g = Gateway(Identity.from_secret(bytes([9]) * 32), KEY, link, token=TOKEN,
                retry=(0.05, 0.1), node_config=FAST, games=games, bet_ms=3000)
    await vm.start()
    await g.start()
    return g, vm, bots


@pytest.fixture
async def mesh() -> AsyncIterator[tuple[Gateway, VirtualMesh, list[Bot]]]:
    g, vm, bots = await _start(False, "gw-table")
    try:
        yield g, vm, bots
    finally:
        await g.stop()
        await vm.stop()


def test_describe_roll() -> None:
    assert describe_roll(0, 3, 4) == "natural 7: pass wins; field loses"
    assert describe_roll(0, 6, 6) == "craps 12: pass loses, don't pass pushes; field pays double"
    assert describe_roll(0, 2, 2) == "point is 4; field wins"
    assert describe_roll(4, 1, 3) == "point 4 made: pass wins; field wins"
    assert describe_roll(4, 5, 2) == "seven out: don't pass wins; field loses"
    assert describe_roll(4, 5, 3) == "no decision (point 4); field loses"
    assert describe_roll(0, 0, 0).startswith("forfeit round")


def test_terminal_bet_answers() -> None:
    assert parse_bet("p", 1000) == ("pass", 10)
    assert parse_bet("p 20", 1000) == ("pass", 20)
    assert parse_bet("dont 5", 1000) == ("dont_pass", 5)
    assert parse_bet("f", 4) == ("field", 4)
    assert parse_bet("n", 1000) is None and parse_bet("none 3", 1000) is None
    for bad in ("", "x", "p ten", "p 0", "p 1001", "p 1 2", "F 3 "):
        with pytest.raises(ValueError):
            parse_bet(bad, 1000 if bad != "F 3 " else 2)


async def test_laptop_hosts_and_plays_two_bots_to_table_done(
        mesh: tuple[Gateway, VirtualMesh, list[Bot]]) -> None:
    g, _vm, bots = mesh
    asked: list[dict[str, Any]] = []

    async def ask(ev: dict[str, Any]) -> tuple[str, int] | None:
        asked.append(ev)
        if ev["round"] == 2:
            return None  # no bet this round
        return ("pass", 10) if ev["point"] == 0 else ("field", 5)

    lines: list[str] = []
    c = await ApiClient.connect(g.url, TOKEN, events=["games"])
    try:
        result = await play_table(c, "gw-table", host=True, seats=3, rounds=3, ask=ask,
                                  out=lines.append, wait=20)
        lobby = await c.request("game_lobby")
    finally:
        await c.close()
    assert result["state"] == "done" and result["rounds"] == 3, lines
    assert [ev["round"] for ev in asked] == [1, 2, 3]
    assert result["you"] == 0 and result["players"][0] == g.host.node_id.hex()
    assert len(result["players"]) == 3
    t = table_id("gw-table")
    for b in bots:
        s = b.svc.tables[t]
        assert s.state == "done" and list(s.game.bank) == result["bankrolls"]
    text = "\n".join(lines)
    assert "table started: 3 players; you are seat 0" in text
    for r in (1, 2, 3):
        assert f"round {r}: " in text
    assert "table done after 3 rounds; bankrolls: you " in text
    assert [x["state"] for x in lobby["tables"]] == ["done"]


async def test_a_late_answer_bets_on_the_round_that_awaits_it(
        mesh: tuple[Gateway, VirtualMesh, list[Bot]]) -> None:
    g, _vm, _bots = mesh
    asked: list[int] = []

    async def slow(ev: dict[str, Any]) -> tuple[str, int] | None:
        asked.append(ev["round"])
        if len(asked) == 1:
            await asyncio.sleep(5.0)  # longer than the gateway's bet_ms (3 s)
        return ("field", 7)

    lines: list[str] = []
    c = await ApiClient.connect(g.url, TOKEN, events=["games"])
    try:
        result = await play_table(c, "gw-table", host=True, seats=3, rounds=3, ask=slow,
                                  out=lines.append, wait=20)
    finally:
        await c.close()
    assert result["rounds"] == 3, lines
    # Round 1 went without a bet; its late answer was the bet of round 2, whose
    # question was not asked again; round 3 was asked.
    assert asked == [1, 3], (asked, lines)
    assert any("round 2 wants a bet: your pending answer goes to it" in x for x in lines)
    assert not any(x.startswith("bet not placed") for x in lines), lines


async def test_laptop_joins_a_table_a_board_bot_hosts() -> None:
    g, vm, bots = await _start(True, "bot-hosted")
    c = await ApiClient.connect(g.url, TOKEN, events=["games"])
    try:
        lines: list[str] = []
        result = await play_table(c, "bot-hosted", auto=True, out=lines.append, wait=20)
        assert result["rounds"] == 20 and len(result["players"]) == 4, lines
        assert lines[0].startswith("joining table bot-hosted")
        assert bots[0].svc.tables[table_id("bot-hosted")].state == "done"
    finally:
        await c.close()
        await g.stop()
        await vm.stop()


async def test_game_requests_are_checked(mesh: tuple[Gateway, VirtualMesh, list[Bot]]) -> None:
    g, _vm, _bots = mesh
    c = await ApiClient.connect(g.url, TOKEN, events=["games"])
    try:
        async def err(op: str, **fields: Any) -> str:
            r = await c.request(op, check=False, **fields)
            assert r["ok"] is False, r
            return str(r["error"])

        assert "not open on the mesh" in await err("game_join", table="nobody-here")
        assert "bets must be" in await err("game_open", table="x", bets="maybe")
        assert "seats must be" in await err("game_open", table="x", seats=9)
        assert "table must be" in await err("game_open", table="")
        assert "bet must be one of" in await err("game_bet", table="x", bet="hard8")
        assert "not at table" in await err("game_bet", table="x", bet="pass")
        assert "game_open" in await err("game_nope")
        r = await c.request("game_open", table="solo", seats=2, rounds=1, bets="ask")
        assert r["table"] == table_id("solo").hex() and r["host"] == g.host.node_id.hex()
        assert "already at table solo" in await err("game_open", table="solo")
        assert "no bet is awaited" in await err("game_bet", table="solo", bet="pass")
        lobby = await c.request("game_lobby")
        assert [x["state"] for x in lobby["tables"]] == ["lobby"]
    finally:
        await c.close()
    # The client that opened the table is gone: the gateway left it for it.
    games = g.games
    assert games is not None

    async def left() -> None:
        while games.playing(table_id("solo")):
            await asyncio.sleep(0.02)
    await asyncio.wait_for(left(), 5)


async def test_a_gateway_without_games_says_so() -> None:
    g = Gateway(Identity.from_secret(bytes([3]) * 32), KEY, LoopbackLink(), token=TOKEN,
                games=False)
    await g.start()
    try:
        c = await ApiClient.connect(g.url, TOKEN)
        try:
            with pytest.raises(ApiError, match="runs no game service"):
                await c.request("game_lobby")
        finally:
            await c.close()
    finally:
        await g.stop()


class ThreadGateway:
    """A gateway and its virtual mesh with bots, on a loop in a thread, so the
    blocking CLI (asyncio.run inside) can talk to it from the test thread."""

    def __init__(self, bot_host: bool, table: str) -> None:
        self.bot_host = bot_host
        self.table = table
        self.url = ""
        self.ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_ev: asyncio.Event | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stop_ev = asyncio.Event()
        g, vm, _bots = await _start(self.bot_host, self.table)
        self.url = g.url
        self.ready.set()
        try:
            await self.stop_ev.wait()
        finally:
            await g.stop()
            await vm.stop()

    def __enter__(self) -> ThreadGateway:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.loop is not None and self.stop_ev is not None
        self.loop.call_soon_threadsafe(self.stop_ev.set)
        self.thread.join(10)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    p = tmp_path / "token"
    p.write_text(TOKEN)
    return p


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    code = e.value.code
    out = capsys.readouterr()
    return int(code) if isinstance(code, int) else 1, out.out, out.err


def cli_ok(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    main(argv)
    return capsys.readouterr().out


@pytest.fixture
def gateway_thread() -> Iterator[ThreadGateway]:
    with ThreadGateway(False, "cli-table") as tg:
        yield tg


def test_cli_hosts_a_table_through_the_gateway(gateway_thread: ThreadGateway,
                                               token_file: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = cli_ok(["game", "craps", "--gateway", gateway_thread.url, "--token-file",
                  str(token_file), "--table", "cli-table", "--host", "--seats", "3",
                  "--rounds", "2", "--auto", "--wait", "20"], capsys)
    assert "table started: 3 players; you are seat 0" in out
    assert "round 1: dice " in out and "round 2: dice " in out
    assert "table done after 2 rounds" in out


def test_cli_json_result(token_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with ThreadGateway(True, "json-table") as tg:
        out = cli_ok(["game", "craps", "--gateway", tg.url, "--token-file", str(token_file),
                      "--table", "json-table", "--auto", "--json", "--wait", "20"], capsys)
    doc = json.loads(out)
    assert doc["state"] == "done" and doc["rounds"] == 20 and len(doc["history"]) == 20
    assert doc["history"][0]["outcome"] and len(doc["bankrolls"]) == 4


def test_cli_errors_are_one_line(gateway_thread: ThreadGateway, token_file: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["game", "craps", "--gateway", "ws://127.0.0.1:9", "--token-file",
                        str(token_file), "--table", "t"], capsys)
    assert code == 1 and "cannot reach the gateway" in err and err.count("\n") == 1
    code, _, err = run(["game", "craps", "--gateway", gateway_thread.url, "--token-file",
                        str(token_file), "--table", "never-opened", "--wait", "1"], capsys)
    assert code == 1 and "did not appear on the mesh within 1s" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    code, _, err = run(["game", "craps", "--gateway", gateway_thread.url, "--token-file",
                        str(token_file), "--table", "lonely", "--host", "--seats", "2",
                        "--wait", "1"], capsys)
    assert code == 1 and "did not start within 1s" in err and err.count("\n") == 1
    code, _, err = run(["game", "craps", "--gateway", gateway_thread.url], capsys)
    assert code == 2 and "--table NAME" in err
    code, _, err = run(["game", "craps"], capsys)
    assert code == 2 and "--gateway URL" in err and "--local N" in err
    code, _, err = run(["game", "craps", "--gateway", gateway_thread.url, "--local", "2",
                        "--table", "t"], capsys)
    assert code == 2 and "not both" in err
