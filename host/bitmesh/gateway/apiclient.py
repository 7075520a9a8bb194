"""A small asyncio client of the gateway WebSocket API (docs/GATEWAY.md).

    c = await ApiClient.connect("ws://127.0.0.1:8765", token, events=["messages"])
    await c.send(text="hi")                      # broadcast; to="<16 hex>" for unicast
    ev = await c.next_event(timeout=5)           # {"ev": "message", ...}
    await c.close()

Used by ``bitmesh send|listen|chat``, the demo and the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bitmesh.errors import BitmeshError


class ApiError(BitmeshError):
    """The gateway refused a request or could not be reached."""


class ApiClient:
    def __init__(self, ws: ClientConnection, node: str) -> None:
        self.ws = ws
        self.node = node
        self.events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, url: str, token: str, events: list[str] | None = None,
                      timeout: float = 10.0) -> ApiClient:
        """Connect and authenticate; raises ApiError with one clear line."""
        try:
            ws = await asyncio.wait_for(connect(url, max_size=1 << 20), timeout)
        except (OSError, TimeoutError) as exc:
            raise ApiError(f"cannot reach the gateway at {url}: {exc}; "
                           "is `bitmesh gateway` running?") from exc
        try:
            await ws.send(json.dumps({"op": "auth", "token": token}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        except (ConnectionClosed, TimeoutError, ValueError) as exc:
            await ws.close()
            raise ApiError(f"gateway at {url} did not answer the login: {exc}") from exc
        if not reply.get("ok"):
            await ws.close()
            raise ApiError(f"gateway at {url} refused the token ({reply.get('error')})")
        client = cls(ws, str(reply.get("node", "")))
        if events is not None:
            await client.request("subscribe", events=events)
        return client

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                try:
                    msg = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if "ev" in msg:
                    self.events.put_nowait(msg)
                    continue
                fut = self._waiting.pop(msg.get("id", -1), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        except ConnectionClosed:
            pass
        finally:
            self.events.put_nowait(None)
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(ApiError("the gateway closed the connection"))

    async def request(self, op: str, timeout: float = 10.0, check: bool = True,
                      **fields: Any) -> dict[str, Any]:
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        try:
            await self.ws.send(json.dumps({"op": op, "id": rid, **fields}))
            reply = await asyncio.wait_for(fut, timeout)
        except ConnectionClosed as exc:
            raise ApiError("the gateway closed the connection") from exc
        except TimeoutError:
            raise ApiError(f"no reply to {op} within {timeout:g}s") from None
        finally:
            self._waiting.pop(rid, None)
        if check and not reply.get("ok"):
            raise ApiError(f"{op} refused: {reply.get('error')}")
        return reply

    async def send(self, text: str | None = None, data: str | None = None,
                   to: str | None = None, app: int = 0, ack: bool = False) -> dict[str, Any]:
        fields: dict[str, Any] = {"to": to, "app": app, "ack": ack}
        if text is not None:
            fields["text"] = text
        if data is not None:
            fields["data"] = data
        return await self.request("send", **fields)

    async def status(self) -> dict[str, Any]:
        st: dict[str, Any] = (await self.request("status"))["status"]
        return st

    @property
    def closed(self) -> bool:
        """True once the gateway connection is gone (no more events will come)."""
        return self._reader.done()

    async def next_event(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next event, or None when the connection closed or ``timeout`` passed."""
        try:
            return await asyncio.wait_for(self.events.get(), timeout)
        except TimeoutError:
            return None

    async def iter_events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            ev = await self.events.get()
            if ev is None:
                return
            yield ev

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
