"""`bitmesh packet decode|encode`: inspect and build wire frames."""

from __future__ import annotations

import json
import sys

import click

from bitmesh.errors import UsageError
from bitmesh.packetjson import VECTOR_KEY, FieldsError, from_fields, to_fields
from bitmesh_core.auth import FrameAuth
from bitmesh_core.packet import DecodeError

_KEY_HELP = "network key (hex) to check or compute the tag; 'vector' = the test-vector key"


def _key(value: str | None) -> bytes | None:
    if value is None:
        return None
    if value == "vector":
        return VECTOR_KEY
    try:
        k = bytes.fromhex(value)
    except ValueError:
        raise UsageError("--key: not valid hex") from None
    if len(k) < 16:
        raise UsageError("--key: a network key has at least 16 bytes")
    return k


@click.group("packet")
def packet_group() -> None:
    """Decode and encode bitmesh v1 frames (see docs/PROTOCOL.md)."""


@packet_group.command("decode")
@click.argument("hex_frame", metavar="HEX")
@click.option("--key", help=_KEY_HELP)
def decode_cmd(hex_frame: str, key: str | None) -> None:
    """Print the frame HEX as JSON fields ('-' reads HEX from stdin)."""
    if hex_frame == "-":
        hex_frame = sys.stdin.read()
    try:
        frame = bytes.fromhex(hex_frame.strip())
    except ValueError:
        raise UsageError("decode: input is not valid hex") from None
    try:
        fields = to_fields(frame)
    except DecodeError as exc:
        raise UsageError(f"decode: malformed frame ({exc.reason})") from None
    k = _key(key)
    if k is not None:
        fields["auth"] = "ok" if FrameAuth(k).verify(frame) else "bad"
    click.echo(json.dumps(fields, indent=2))


@packet_group.command("encode")
@click.argument("fields_json", metavar="JSON")
@click.option("--key", help=_KEY_HELP)
def encode_cmd(fields_json: str, key: str | None) -> None:
    """Print the hex frame for JSON fields ('-' reads JSON from stdin).

    Without --key the JSON's "tag" is used as is."""
    if fields_json == "-":
        fields_json = sys.stdin.read()
    try:
        d = json.loads(fields_json)
    except json.JSONDecodeError as exc:
        raise UsageError(f"encode: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        click.echo(from_fields(d, _key(key)).hex())
    except FieldsError as exc:
        raise UsageError(f"encode: {exc}") from None


def register(group: click.Group) -> None:
    group.add_command(packet_group)
