"""Who chooses the bets, and bots that play again: a person answering
``bet_wanted`` (the gateway's laptop player) and joining bots following their
table to its next game. Three players per table (tests/mpy/run_all.py gives
this file 144wK, more than one board: three players share one VM)."""

from bitmesh_core.game.bot import Bot, table_id
from bitmesh_core.game.craps import BET_PASS
from bitmesh_core.game.service import GameService
from core.gamemesh import GAME_SMALL, ServiceMesh, finals

TABLE = b"tab2"
N = 3
LINKS = [(0, 1, 0.1), (1, 2, 0.1), (0, 2, 0.1)]



def test_bet_asked_from_outside_waits_then_defaults_to_none() -> None:
    """A player whose bets come from a person: round 1 answered in time, round 2
    never answered (committed with no bet after bet_ms), round 3 answered late."""
    m = ServiceMesh(N, LINKS, config=GAME_SMALL)
    m.run(6000)
    svcs = [GameService(m.nodes[i], m.now) for i in range(N)]
    for i in range(N):
        m.add(i, svcs[i])
        svcs[i].bet_fn = lambda s: (BET_PASS, 10)
    svcs[1].bet_fn = lambda s: None
    svcs[1].bet_ms = 2500
    svcs[0].open_table(TABLE, N, 3, 100, m.now)
    m.run(300)
    for i in range(1, N):
        svcs[i].join(TABLE, m.now)
    answered = []  # type: list[tuple[int, bool]]
    seen = 0
    for _ in range(300):
        m.run(200)
        asks = m.service_events(1, "bet_wanted")
        for ev in asks[seen:]:
            rnd = ev.data["round"]
            assert ev.data["wait_ms"] == 2500 and ev.data["bankroll"] > 0
            if rnd == 1:
                answered.append((rnd, svcs[1].place_bet(TABLE, BET_PASS, 10, m.now)))
                answered.append((rnd, svcs[1].place_bet(TABLE, BET_PASS, 10, m.now)))
        seen = len(asks)
        if svcs[1].tables[TABLE].state == "done":
            break
    m.close()
    assert answered == [(1, True), (1, False)]  # a second answer is refused
    assert [e.data["round"] for e in m.service_events(1, "bet_wanted")] == [1, 2, 3]
    assert not svcs[1].place_bet(TABLE, BET_PASS, 10, m.now)  # too late: table done
    for i in range(N):
        assert svcs[i].tables[TABLE].state == "done", i
        assert finals(m, i) == finals(m, 0) and len(finals(m, 0)) == 3
    assert m.service_events(0, "absent") == []  # the waits stayed inside commit time


def test_joining_bots_play_the_next_game_at_their_table() -> None:
    m = ServiceMesh(3, [(0, 1, 0.0), (1, 2, 0.0), (0, 2, 0.0)], config=GAME_SMALL)
    m.run(4000)
    host = GameService(m.nodes[0], m.now)
    host.bet_fn = lambda s: (BET_PASS, 10)
    m.add(0, host)
    bots = [Bot(m.nodes[i], {"table": "again", "seats": 3}, m.now) for i in (1, 2)]
    for i, b in ((1, bots[0]), (2, bots[1])):
        m.add(i, b)
    t = table_id("again")
    for game in (1, 2):
        if game == 2:
            del host.tables[t]  # the host plays the table again
        host.open_table(t, 3, 1, 100, m.now)
        for _ in range(150):
            m.run(200)
            if all(b.svc.tables.get(t) is not None and b.svc.tables[t].state == "done"
                   and len(m.service_events(i + 1, "table_done")) == game
                   for i, b in enumerate(bots)):
                break
        assert len(m.service_events(0, "table_done")) == game, game
        for i in (1, 2):
            assert len(m.service_events(i, "table_done")) == game, (game, i)
    m.close()
