"""Craps tables over a small lossy mesh, through the public service API:
honest play agrees, and each cheat is detected, forfeited and penalised."""

from bitmesh_core.game.craps import BET_PASS
from bitmesh_core.game.service import GameService
from core.gamemesh import GAME_SMALL, ServiceMesh, finals
from core.harness import grid

TABLE = b"tab1"
# Four players in a square on both runtimes (tests/mpy/run_all.py gives this
# file 160wK, about one and a half boards: four players share one VM here).
N = 4
LINKS = grid(2, 2, 0.1)


def play(cheat: str = "", cheater: int = 2, rounds: int = 3, seed: int = 1,
         mesh_cls: type = ServiceMesh) -> tuple:
    """One table of N players hosted by node 0. ``mesh_cls`` lets
    tests/mpy/record_game.py tap node 0's calls."""
    m = mesh_cls(N, LINKS, seed, config=GAME_SMALL)
    m.run(6000)
    svcs = [GameService(m.nodes[i], m.now) for i in range(N)]
    for i in range(N):
        m.add(i, svcs[i])
        svcs[i].bet_fn = lambda s: (BET_PASS, 10)
    svcs[0].open_table(TABLE, N, rounds, 100, m.now)
    m.run(300)
    for i in range(1, N):
        s = svcs[i].join(TABLE, m.now)
        if i == cheater and cheat:
            s.cheat = cheat
    m.run(60000)
    m.close()
    return m, svcs


def honest() -> "list[int]":
    return [i for i in range(N) if i != 2]



def cheats(m: ServiceMesh, i: int) -> "list[tuple]":
    return [(e.data["player"], e.data["cheat"]) for e in m.service_events(i, "cheat")]


def check_cheat(kind: str, seed: int = 1) -> None:
    m, svcs = play(kind, seed=seed)
    bad = m.id(2).hex()
    for i in honest():
        assert svcs[i].tables[TABLE].state == "done", (kind, i)
        c = cheats(m, i)
        # A double commit whose second commitment arrives first is caught as a
        # bad reveal of it: same cheater, same signed evidence.
        ok = [kind] if kind != "double_commit" else ["double_commit", "bad_reveal"]
        assert len(c) == 1 and c[0][0] == bad and c[0][1] in ok, (kind, i, c)
        assert finals(m, i) == finals(m, 0)
        assert len(finals(m, i)) == 3
        assert svcs[i].reputation.get(m.id(2)) < 50
        s = svcs[i].tables[TABLE]
        seat = s.seat(m.id(2))  # seats follow the order the joins arrived in
        assert s.game.active[seat] == 0 and s.game.bank[seat] == 0
        ev = m.service_events(i, "cheat")[0].data
        assert len(ev["evidence"]) >= 1


def test_honest_table_agrees_on_every_round() -> None:
    m, svcs = play()
    ref = finals(m, 0)
    assert [r for r, _ in ref] == [1, 2, 3]
    for i in range(N):
        assert finals(m, i) == ref
        assert cheats(m, i) == []
        assert svcs[i].tables[TABLE].state == "done"
    banks = [e.data["bankrolls"] for e in m.service_events(1, "table_done")]
    assert len(banks) == 1 and len(banks[0]) == N


def test_bad_reveal_is_detected() -> None:
    check_cheat("bad_reveal")


def test_withheld_reveal_is_detected() -> None:
    # Seed 3: one player's reveal timeout settles the round and, in the same
    # timer call, the next round begins with an early commitment buffered. Its
    # empty reveals once read as withheld and an honest player was accused.
    check_cheat("withhold_reveal", seed=3)


def test_double_commit_is_detected() -> None:
    check_cheat("double_commit")


def test_forged_move_is_detected() -> None:
    # Seed 3: the host sees the forgery while still in the round before it,
    # and the players who saw it in round 2 settle before every commitment is
    # in, so they never reveal; the host settles the forfeit on its timeout.
    check_cheat("forge", seed=3)


def test_replayed_move_is_detected() -> None:
    m, svcs = play("replay", seed=6)  # seed 6: one player sees the replay a round early
    bad = m.id(2).hex()
    for i in honest():
        assert cheats(m, i) == [(bad, "replay")], cheats(m, i)
        assert finals(m, i) == finals(m, 0)
        assert len(finals(m, i)) == 3
