"""The local WebSocket API of a gateway (schema: docs/GATEWAY.md).

Every message either way is one JSON object in a text frame. The first
request must be ``{"op": "auth", "token": T}``; a wrong or missing token gets
``{"ok": false, "error": "unauthorized"}`` and the connection is closed with
code 4401. After that, requests (``send``, ``subscribe``, ``unsubscribe``,
``status``, ``ping``) each get one reply ``{"ok": true|false, "op": ..., "id": ...}``
(``id`` echoed when given). A malformed request gets an error reply and the
connection stays up. Events arrive as ``{"ev": KIND, ...}`` for the categories a
client subscribed to (``messages`` by default).

Game ops (``game_open``, ``game_join``, ``game_lobby``, ``game_bet``,
``game_leave``) play craps as the gateway's node (gateway/games.py); their
events are ``{"ev": "game", "name": ..., "table": ...}`` in category ``games``.
A client's tables are left when it disconnects.

A slow client never blocks the node: its outbound queue is bounded and the
oldest events are dropped (counted in ``status.api.dropped``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bitmesh_core.events import Delivered, Event, ServiceEvent

from .games import BET_MODES, GameError, GameHost
from .node import HostNode

AUTH_TIMEOUT_S = 10.0
CLOSE_UNAUTHORIZED = 4401
CLIENT_QUEUE_MAX = 1000
MAX_REQUEST = 64 * 1024

# Event kinds by subscription category.
CATEGORIES = {
    "messages": ("message",),
    "peers": ("peer_up", "peer_lost"),
    "routes": ("route",),
    "partitions": ("partition", "healed"),
    "acks": ("acked", "send_failed"),
    "link": ("link",),
    "mqtt": ("mqtt",),
    "games": ("game",),
    "services": ("service",),
}
OPS = ("send", "subscribe", "unsubscribe", "status", "ping", "game_open", "game_join",
       "game_lobby", "game_bet", "game_leave")
BETS = {"none": 0, "pass": 1, "dont_pass": 2, "field": 3}  # bitmesh_core.game.craps
DEFAULT_CATEGORIES = frozenset({"messages"})


class RequestError(ValueError):
    """A request the API refuses; the message goes back to the client."""


def event_json(ev: Event) -> dict[str, Any]:
    """The API form of a core event: ``{"ev": kind, ...}``."""
    if isinstance(ev, Delivered):
        d: dict[str, Any] = {"ev": "message", "src": ev.src.hex(),
                             "dst": None if ev.dst is None else ev.dst.hex(),
                             "broadcast": ev.dst is None, "app": ev.app, "hops": ev.hops,
                             "msg_id": ev.msg_id,
                             "data": base64.b64encode(ev.payload).decode()}
        with contextlib.suppress(UnicodeDecodeError):
            d["text"] = ev.payload.decode("utf-8")
        return d
    d = ev.to_dict()
    kind = d.pop("event", ev.kind)
    if isinstance(ev, ServiceEvent) and ev.service in ("link", "mqtt"):
        d.pop("service", None)
        d["state"] = d.pop("name", "")
        kind = ev.service
    elif isinstance(ev, ServiceEvent) and ev.service == "game":
        d.pop("service", None)
        kind = "game"
    d["ev"] = kind
    return d


def _category(kind: str) -> str:
    for cat, kinds in CATEGORIES.items():
        if kind in kinds:
            return cat
    return "services"


class _Client:
    __slots__ = ("ws", "queue", "subs", "dropped", "tables")

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[str] = asyncio.Queue(CLIENT_QUEUE_MAX)
        self.subs: set[str] = set(DEFAULT_CATEGORIES)
        self.dropped = 0
        self.tables: set[bytes] = set()  # game tables this client opened or joined

    def put(self, obj: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # the oldest goes; the newest is worth more
            self.dropped += 1
        self.queue.put_nowait(json.dumps(obj, separators=(",", ":")))


class GatewayApi:
    """Serves the API for ``host`` on ``listen_host:listen_port`` (0 = any free port).
    ``status_extra`` adds sections to ``status`` (the bridge's, for one);
    ``games`` serves the game ops (None: they are refused)."""

    def __init__(self, host: HostNode, token: str, listen_host: str = "127.0.0.1",
                 listen_port: int = 8765, games: GameHost | None = None) -> None:
        if not token:
            raise ValueError("the API token must not be empty")
        self.host = host
        self.token = token
        self.listen = (listen_host, listen_port)
        self.clients: set[_Client] = set()
        self.status_extra: dict[str, Any] = {}
        self.counters = {"connections": 0, "refused": 0, "requests": 0, "bad_requests": 0}
        self.server: Server | None = None
        self.games = games
        host.add_listener(self._on_event)

    @property
    def port(self) -> int:
        if self.server is None:
            return 0
        return int(next(iter(self.server.sockets)).getsockname()[1])

    async def start(self) -> None:
        self.server = await serve(self._handle, self.listen[0], self.listen[1],
                                  max_size=MAX_REQUEST, ping_interval=20)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)
            self.server = None

    # ------------------------------------------------------------ events
    def _on_event(self, ev: Event) -> None:
        if not self.clients:
            return
        d = event_json(ev)
        cat = _category(d["ev"])
        for c in self.clients:
            if cat in c.subs:
                c.put(d)

    # ------------------------------------------------------- connections
    async def _handle(self, ws: ServerConnection) -> None:
        self.counters["connections"] += 1
        if not await self._authenticate(ws):
            self.counters["refused"] += 1
            return
        client = _Client(ws)
        self.clients.add(client)
        writer = asyncio.create_task(self._writer(client))
        try:
            async for raw in ws:
                client.put(self.handle_request(client, raw))
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)
            if self.games is not None:
                for t in client.tables:
                    if self.games.playing(t):
                        self.games.leave_id(t)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _authenticate(self, ws: ServerConnection) -> bool:
        try:
            raw = await asyncio.wait_for(ws.recv(), AUTH_TIMEOUT_S)
        except (TimeoutError, ConnectionClosed):
            with contextlib.suppress(ConnectionClosed):
                await ws.close(CLOSE_UNAUTHORIZED, "authenticate first")
            return False
        req = _parse(raw) if isinstance(raw, str) else None
        token = req.get("token") if isinstance(req, dict) and req.get("op") == "auth" else None
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(),
                                                                 self.token.encode()):
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps({"ok": False, "op": "auth", "error": "unauthorized"}))
                await ws.close(CLOSE_UNAUTHORIZED, "unauthorized")
            return False
        await ws.send(json.dumps({"ok": True, "op": "auth", "node": self.host.node_id.hex(),
                                  "subscribed": sorted(DEFAULT_CATEGORIES)}))
        return True

    async def _writer(self, client: _Client) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await client.ws.send(await client.queue.get())

    # ---------------------------------------------------------- requests
    def handle_request(self, client: _Client, raw: str | bytes) -> dict[str, Any]:
        """One reply for one request; never raises."""
        self.counters["requests"] += 1
        req = _parse(raw) if isinstance(raw, str) else None
        rid = req.get("id") if isinstance(req, dict) else None
        op = req.get("op") if isinstance(req, dict) else None
        try:
            if req is None:
                raise RequestError("a request is one JSON object in a text message")
            if not isinstance(op, str):
                raise RequestError("missing op")
            handler = getattr(self, "_op_" + op, None)
            if handler is None:
                raise RequestError(f"unknown op {op!r}; ops: {', '.join(OPS)}")
            reply: dict[str, Any] = handler(client, req)
        except (RequestError, GameError) as exc:
            self.counters["bad_requests"] += 1
            reply = {"ok": False, "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the connection must stay up
            self.counters["bad_requests"] += 1
            reply = {"ok": False, "error": f"internal error: {type(exc).__name__}"}
        reply["op"] = op if isinstance(op, str) else None
        if rid is not None:
            reply["id"] = rid
        return reply

    def _op_ping(self, client: _Client, req: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def _op_auth(self, client: _Client, req: dict[str, Any]) -> dict[str, Any]:
        raise RequestError("already authenticated")

    def _op_status(self, client: _Client, req: dict[str, Any]) -> dict[str, Any]:
        st = self.host.status()
        st["api"] = {"clients": len(self.clients), "dropped": client.dropped, **self.counters}
        for k, fn in self.status_extra.items():
            st[k] = fn() if callable(fn) else fn
        return {"ok": True, "status": st}

    def _categories(self, req: dict[str, Any]) -> set[str]:
        ev = req.get("events")
        if ev == "all":
            return set(CATEGORIES)
        if not isinstance(ev, list) or not all(isinstance(x, str) for x in ev):
            raise RequestError('events must be a list of categories or "all"')
        bad = [x for x in ev if x not in CATEGORIES]
        if bad:
            raise RequestError(f"unknown event categories {bad}; known: {sorted(CATEGORIES)}")
        return set(ev)

    def _op_subscribe(self, client: _Client, req: dict[str, Any]) -> dict[str, Any]:
        client.subs |= self._categories(req)
        return {"ok": True, "subscribed": sorted(client.subs)}

    def _op_unsubscribe(self, client: _Client, req: dict[str, Any]) -> dict[str, Any]:
        client.subs -= self._categories(req)
        return {"ok": True, "subscribed": sorted(client.subs)}

    def _op_send(self, client: _Client, req: dict[str, Any]) -> dict[str, Any]:
        to = req.get("to")
        dst: bytes | None = None
        if to not in (None, "broadcast"):
            if not isinstance(to, str) or len(to) != 16:
                raise RequestError('to must be a 16-hex-digit node id, "broadcast" or null')
            try:
                dst = bytes.fromhex(to)
            except ValueError:
                raise RequestError("to is not hex") from None
        text, data = req.get("text"), req.get("data")
        if (text is None) == (data is None):
            raise RequestError("give exactly one of text (a string) or data (base64)")
        if text is not None:
            if not isinstance(text, str):
                raise RequestError("text must be a string")
            payload = text.encode("utf-8")
        else:
            if not isinstance(data, str):
                raise RequestError("data must be a base64 string")
            try:
                payload = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise RequestError("data is not valid base64") from None
        app = req.get("app", 0)
        if isinstance(app, bool) or not isinstance(app, int) or not 0 <= app <= 255:
            raise RequestError("app must be an integer 0..255")
        ack = req.get("ack", False)
        if not isinstance(ack, bool):
            raise RequestError("ack must be true or false")
        if not payload:
            raise RequestError("the message is empty")
        limit = self.host.core.config.max_message
        if len(payload) > limit:
            raise RequestError(f"message is {len(payload)} bytes; the mesh carries {limit} at most")
        mid = self.host.send_message(dst, payload, app=app, ack=ack)
        return {"ok": True, "msg_id": mid, "src": self.host.node_id.hex()}

    # ------------------------------------------------------------- games
    def _games(self) -> GameHost:
        if self.games is None:
            raise RequestError("this gateway runs no game service")
        return self.games

    def _bets(self, req: dict[str, Any]) -> str:
        bets = _str(req, "bets", "ask")
        if bets not in BET_MODES:
            raise RequestError(f"bets must be one of {', '.join(BET_MODES)}")
        return bets

    def _op_game_open(self, client: _Client, req: dict[str, Any]) -> dict[str, Any]:
        g = self._games()
        info = g.open(_str(req, "table"), seats=_int(req, "seats", 4, 2, 8),
                      rounds=_int(req, "rounds", 5, 1, 65535),
                      bankroll=_int(req, "bankroll", 1000, 1, 1000000000),
                      bets=self._bets(req))
        client.tables.add(bytes.fromhex(info["table"]))
        return {"ok": True, **info}

    def _op_game_join(self, client: _Client, req: dict[str, Any]) -> dict[str, Any]:
        g = self._games()
        host = req.get("host")
        if host is not None and not isinstance(host, str):
            raise RequestError("host must be a node id of 16 hex digits")
        info = g.join(_str(req, "table"), bets=self._bets(req), host=host)
        client.tables.add(bytes.fromhex(info["table"]))
        return {"ok": True, **info}

    def _op_game_lobby(self, client: _Client, req: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, **self._games().lobby()}

    def _op_game_bet(self, client: _Client, req: dict[str, Any]) -> dict[str, Any]:
        g = self._games()
        name = _str(req, "bet")
        if name not in BETS:
            raise RequestError(f"bet must be one of {', '.join(BETS)}")
        amount = _int(req, "amount", 0 if name == "none" else 10, 0, 65535)
        return {"ok": True, **g.bet(_str(req, "table"), BETS[name], amount)}

    def _op_game_leave(self, client: _Client, req: dict[str, Any]) -> dict[str, Any]:
        info = self._games().leave(_str(req, "table"))
        client.tables.discard(bytes.fromhex(info["table"]))
        return {"ok": True, **info}


def _int(req: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    v = req.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise RequestError(f"{key} must be an integer {lo}..{hi}")
    return v


def _str(req: dict[str, Any], key: str, default: str | None = None) -> str:
    v = req.get(key, default)
    if not isinstance(v, str):
        raise RequestError(f"{key} must be a string")
    return v


def _parse(raw: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(raw)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None
