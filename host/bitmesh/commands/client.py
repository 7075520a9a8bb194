"""``bitmesh send | listen | chat``: small clients of a running gateway's API.

They find the gateway at ``--url`` (default ws://127.0.0.1:8765, env
BITMESH_GATEWAY_URL) and log in with the token in ``--token-file`` (default:
the file ``bitmesh gateway`` created in the user config dir).

Chat messages are application port 67 (``CHAT_APP``) with a JSON payload
``{"nick": ..., "text": ...}``; ``listen`` shows every message.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bitmesh.gateway.api import CATEGORIES
from bitmesh.gateway.apiclient import ApiClient
from bitmesh.gateway.store import read_token

CHAT_APP = 67
DEFAULT_URL = "ws://127.0.0.1:8765"
F = TypeVar("F", bound=Callable[..., Any])


def api_options(func: F) -> F:
    func = click.option("--token-file", type=click.Path(dir_okay=False, path_type=Path),
                        help="API token file (default: the one `bitmesh gateway` made).")(func)
    func = click.option("--url", default=DEFAULT_URL, show_default=True,
                        envvar="BITMESH_GATEWAY_URL", help="Gateway API address.")(func)
    return func


def register(group: click.Group) -> None:
    group.add_command(send_cmd)
    group.add_command(listen_cmd)
    group.add_command(chat_cmd)


def chat_payload(nick: str, text: str) -> str:
    return json.dumps({"nick": nick, "text": text}, separators=(",", ":"))


def format_message(ev: dict[str, Any]) -> str:
    """One readable line for a message event (chat messages by nick)."""
    src = str(ev.get("src", "?"))[:8]
    where = "all" if ev.get("broadcast") else "you"
    text = ev.get("text")
    if ev.get("app") == CHAT_APP and isinstance(text, str):
        try:
            doc = json.loads(text)
            return f"<{doc['nick']}@{src}> {doc['text']}"
        except (ValueError, KeyError, TypeError):
            pass
    body = text if isinstance(text, str) else f"[{len(str(ev.get('data', '')))} b64 chars]"
    return f"[{src} -> {where}, app {ev.get('app')}, {ev.get('hops')} hops] {body}"


async def chat_loop(client: ApiClient, lines: AsyncIterator[str], out: Callable[[str], None],
                    nick: str, to: str | None = None) -> int:
    """Send every input line as a chat message and print incoming ones until the
    input ends or the gateway goes away. ``/to NODE``, ``/all``, ``/quit``.
    Returns how many lines were sent."""
    sent = 0

    async def show() -> None:
        async for ev in client.iter_events():
            if ev.get("ev") == "message":
                out(format_message(ev))
        out("* gateway connection closed")

    shower = asyncio.create_task(show())
    try:
        async for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            if line.startswith("/to "):
                to = line[4:].strip()
                out(f"* now talking to {to}")
                continue
            if line == "/all":
                to = None
                out("* now talking to everyone")
                continue
            await client.send(text=chat_payload(nick, line), to=to, app=CHAT_APP)
            sent += 1
    finally:
        shower.cancel()
    return sent


async def _stdin_lines() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        raw = await reader.readline()
        if not raw:
            return
        yield raw.decode("utf-8", "replace")


def _connect(url: str, token_file: Path | None, events: list[str] | None) -> Any:
    return ApiClient.connect(url, read_token(token_file), events=events)


@click.command("send")
@click.argument("text")
@click.option("--to", "to", metavar="NODE", help="Unicast to this 16-hex node id.")
@click.option("--app", type=click.IntRange(0, 255), default=0, show_default=True)
@click.option("--ack", is_flag=True, help="Ask for an end-to-end acknowledgement.")
@click.option("--json", "as_json", is_flag=True, help="Print the reply as JSON.")
@api_options
def send_cmd(text: str, to: str | None, app: int, ack: bool, as_json: bool, url: str,
             token_file: Path | None) -> None:
    """Send TEXT into the mesh (broadcast unless --to) through the gateway."""
    async def run() -> dict[str, Any]:
        c = await _connect(url, token_file, None)
        try:
            reply: dict[str, Any] = await c.send(text=text, to=to, app=app, ack=ack)
            return reply
        finally:
            await c.close()
    reply = asyncio.run(run())
    if as_json:
        click.echo(json.dumps(reply))
    else:
        click.echo(f"sent message {reply['msg_id']} from {reply['src']} to {to or 'everyone'}")


@click.command("listen")
@click.option("--events", default="messages", show_default=True,
              help="Comma-separated categories: " + ", ".join(CATEGORIES) + ", or all.")
@click.option("--count", type=int, default=0, help="Stop after this many events (0: never).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@api_options
def listen_cmd(events: str, count: int, as_json: bool, url: str,
               token_file: Path | None) -> None:
    """Print messages (and other subscribed events) arriving at the gateway."""
    cats: Any = "all" if events == "all" else [e.strip() for e in events.split(",") if e.strip()]

    async def run() -> None:
        c = await _connect(url, token_file, None)
        await c.request("unsubscribe", events=["messages"])
        await c.request("subscribe", events=cats)
        n = 0
        try:
            async for ev in c.iter_events():
                if as_json:
                    click.echo(json.dumps(ev))
                elif ev.get("ev") == "message":
                    click.echo(format_message(ev))
                else:
                    rest = {k: v for k, v in ev.items() if k != "ev"}
                    click.echo(f"{ev.get('ev')}: {json.dumps(rest)}")
                n += 1
                if count and n >= count:
                    return
        finally:
            await c.close()
    asyncio.run(run())


@click.command("chat")
@click.option("--nick", default="laptop", show_default=True, help="Your name in the chat.")
@click.option("--to", "to", metavar="NODE", help="Talk to one node instead of everyone.")
@api_options
def chat_cmd(nick: str, to: str | None, url: str, token_file: Path | None) -> None:
    """Interactive chat through the gateway: type a line to send it; /to NODE,
    /all, /quit."""
    async def run() -> None:
        c = await _connect(url, token_file, ["messages"])
        click.echo(f"* chatting as {nick} via node {c.node} ({url}); /quit to leave")
        try:
            await chat_loop(c, _stdin_lines(), click.echo, nick, to)
        finally:
            await c.close()
    asyncio.run(run())
