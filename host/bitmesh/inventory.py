"""The inventory: every mesh network this machine knows, with keys and nodes.

One JSON file, by default ``user_config_dir("bitmesh")/inventory.json``;
``BITMESH_INVENTORY`` or an explicit path picks another. Its layout is in
docs/HOST.md, section "network": ``{"bitmesh_inventory": 1, "networks":
{NAME: {"key", "channel", "radio", "created", "nodes": {NAME: {...}}}}}``.

Contracts:

* The file holds secrets: it is only ever written whole, through a temporary
  file in the same folder (fsync, ``os.replace``), created with mode 0600
  (bitmesh.privatefile).
* A file that is not valid JSON or breaks the schema is never overwritten:
  loading it raises UsageError (exit 2) naming the file and the first fault.
* Unknown keys in networks and nodes are kept and written back, so a newer
  toolkit's fields survive an older one's save.
* ``load`` then ``save`` is not atomic across processes; use
  :meth:`Inventory.locked` where several processes may write at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bitmesh.errors import UsageError
from bitmesh.privatefile import ensure_dir, write_private

INVENTORY_ENV = "BITMESH_INVENTORY"
FORMAT_VERSION = 1
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}\Z")
ROLE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,30}\Z")
_HEX16 = re.compile(r"^[0-9a-f]{16}\Z")
_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
DEFAULT_BITRATE = 1_000_000


class SchemaError(ValueError):
    """A field is missing or wrong; the message names the field's path."""


@dataclass
class Radio:
    """Which radios the mesh uses and the ESP-NOW PHY rate."""

    espnow: bool = True
    ble: bool = True
    bitrate_bps: int = DEFAULT_BITRATE


@dataclass
class Node:
    """A provisioned board; ``node_id`` and ``secret`` are lowercase hex."""

    node_id: str
    role: str
    port: str | None
    board: str | None
    provisioned: str
    secret: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def secret_bytes(self) -> bytes:
        return bytes.fromhex(self.secret)


@dataclass
class Network:
    """One mesh: its 32-byte key (hex), WiFi channel, radios and nodes."""

    name: str
    key: str
    channel: int
    radio: Radio
    created: str
    nodes: dict[str, Node] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key_bytes(self) -> bytes:
        return bytes.fromhex(self.key)

    @property
    def key_fingerprint(self) -> str:
        """12 hex digits that identify the key without revealing it."""
        return fingerprint(self.key)


def fingerprint(secret_hex: str) -> str:
    """A short, non-secret tag of a secret, for comparing keys across machines."""
    return hashlib.sha256(bytes.fromhex(secret_hex)).hexdigest()[:12]


def now_iso() -> str:
    """The current UTC time, to the second, in ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_name(name: str, what: str = "network") -> str:
    """Return ``name`` if it is a valid network or node name, else raise UsageError."""
    if not NAME_RE.match(name):
        raise UsageError(
            f"bad {what} name {name!r}: use 1-31 of a-z, 0-9, '_' and '-', "
            "starting with a letter or digit"
        )
    return name


def parse_key(text: str) -> str:
    """Normalize a 32-byte key given as hex; UsageError if it is not one."""
    key = text.strip().lower()
    if not _HEX64.match(key):
        raise UsageError("a network key is 32 bytes written as 64 hex digits")
    if key == "0" * 64:
        raise UsageError("the all-zero network key is refused")
    return key


def default_path() -> Path:
    """``$BITMESH_INVENTORY``, else ``user_config_dir("bitmesh")/inventory.json``."""
    env = os.environ.get(INVENTORY_ENV)
    if env:
        return Path(env)
    from platformdirs import user_config_dir

    return Path(user_config_dir("bitmesh")) / "inventory.json"


class Inventory:
    """The networks of one inventory file; mutate, then :meth:`save`."""

    def __init__(self, path: Path, networks: dict[str, Network] | None = None) -> None:
        self.path = path
        self.networks: dict[str, Network] = networks if networks is not None else {}

    @classmethod
    def load(cls, path: Path | str | None = None) -> Inventory:
        """Read the inventory at ``path`` (or the default); a missing file is empty."""
        where = Path(path) if path is not None else default_path()
        try:
            text = where.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(where)
        except IsADirectoryError:
            raise UsageError(f"inventory {where} is a directory, not a file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read inventory {where}: {exc}") from exc
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"inventory {where} is corrupt: not valid JSON ({exc.msg} at line "
                f"{exc.lineno}, column {exc.colno}); fix it or move it away"
            ) from exc
        try:
            networks = _parse_inventory(raw)
        except SchemaError as exc:
            raise UsageError(
                f"inventory {where} is corrupt: {exc}; fix it or move it away"
            ) from exc
        return cls(where, networks)

    @classmethod
    @contextlib.contextmanager
    def locked(cls, path: Path | str | None = None) -> Iterator[Inventory]:
        """Load under an exclusive lock, yield, and save if the block succeeds.

        The lock is ``<inventory>.lock`` held with flock (POSIX only; elsewhere
        this is load and save without a lock).
        """
        where = Path(path) if path is not None else default_path()
        ensure_dir(where.parent)
        lock_fd = os.open(f"{where}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                import fcntl

                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            except ImportError:  # Windows: no flock; single-writer use only
                pass
            inventory = cls.load(where)
            yield inventory
            inventory.save()
        finally:
            os.close(lock_fd)  # closing releases the flock

    def network(self, name: str) -> Network:
        """The network called ``name``; UsageError naming the known ones if absent."""
        try:
            return self.networks[name]
        except KeyError:
            known = ", ".join(sorted(self.networks)) or "none"
            raise UsageError(f"no network {name!r} in {self.path} (known: {known})") from None

    def create_network(
        self,
        name: str,
        channel: int = 1,
        key: str | bytes | None = None,
        radio: Radio | None = None,
    ) -> Network:
        """Add a new network with a fresh random key unless ``key`` is given."""
        check_name(name)
        if name in self.networks:
            raise UsageError(f"network {name!r} already exists in {self.path}")
        if not 1 <= channel <= 13:
            raise UsageError("channel must be 1..13")
        if key is None:
            key_hex = secrets.token_bytes(32).hex()
        else:
            key_hex = parse_key(key.hex() if isinstance(key, bytes) else key)
        network = Network(name, key_hex, channel, radio or Radio(), now_iso())
        self.networks[name] = network
        return network

    def put_network(self, network: Network, replace: bool = False) -> None:
        """Store ``network`` under its name; refuse to replace one unless ``replace``."""
        check_name(network.name)
        if network.name in self.networks and not replace:
            raise UsageError(
                f"network {network.name!r} already exists in {self.path}; "
                "use --force to replace it or --name to import it under another name"
            )
        self.networks[network.name] = network

    def add_node(
        self,
        network: str,
        name: str,
        node_id: str | bytes,
        secret: str | bytes,
        role: str,
        port: str | None,
        board: str | None,
        *,
        replace: bool = False,
    ) -> Node:
        """Record a provisioned node in ``network`` (call :meth:`save` after).

        ``node_id`` is 8 bytes (or 16 hex digits), ``secret`` 32 bytes (or 64
        hex digits). Refuses a node name already present unless ``replace``,
        and a node id that another node of the network already has.
        """
        net = self.network(network)
        check_name(name, "node")
        if not ROLE_RE.match(role):
            raise UsageError(f"bad role {role!r}: use a-z, 0-9, '_' and '-'")
        nid = node_id.hex() if isinstance(node_id, bytes) else node_id.lower()
        if not _HEX16.match(nid):
            raise UsageError("a node id is 8 bytes written as 16 hex digits")
        sec = secret.hex() if isinstance(secret, bytes) else secret.lower()
        if not _HEX64.match(sec):
            raise UsageError("a node secret is 32 bytes written as 64 hex digits")
        if name in net.nodes and not replace:
            raise UsageError(f"node {name!r} already exists in network {network!r}")
        for other_name, other in net.nodes.items():
            if other.node_id == nid and other_name != name:
                raise UsageError(
                    f"node id {nid} is already used by {other_name!r} in network {network!r}"
                )
        node = Node(nid, role, port, board, now_iso(), sec)
        net.nodes[name] = node
        return node

    def save(self) -> None:
        """Write the whole inventory atomically with mode 0600."""
        networks = {name: network_to_json(self.networks[name]) for name in sorted(self.networks)}
        doc = {"bitmesh_inventory": FORMAT_VERSION, "networks": networks}
        write_private(self.path, json.dumps(doc, indent=2) + "\n")


def network_to_json(network: Network) -> dict[str, Any]:
    """A network as stored in the inventory (without its name); extras first."""
    body = {k: v for k, v in asdict(network).items() if k not in ("name", "extra", "nodes")}
    body["nodes"] = {
        name: {**node.extra, **{k: v for k, v in asdict(node).items() if k != "extra"}}
        for name, node in sorted(network.nodes.items())
    }
    return {**network.extra, **body}


def _parse_inventory(raw: Any) -> dict[str, Network]:
    if not isinstance(raw, dict):
        raise SchemaError("the top level must be a JSON object")
    version = raw.get("bitmesh_inventory")
    if version != FORMAT_VERSION:
        raise SchemaError(f"bitmesh_inventory is {version!r}, expected {FORMAT_VERSION}")
    networks = raw.get("networks")
    if not isinstance(networks, dict):
        raise SchemaError("networks must be an object")
    out: dict[str, Network] = {}
    for name, body in networks.items():
        if not NAME_RE.match(name):
            raise SchemaError(f"network name {name!r} is not valid")
        out[name] = parse_network(name, body, f"networks.{name}")
    return out


def parse_network(name: str, raw: Any, where: str) -> Network:
    """Validate one network body (inventory or export); SchemaError on a fault."""
    if not isinstance(raw, dict):
        raise SchemaError(f"{where} must be an object")
    key = _match(raw, "key", _HEX64, where, "64 lowercase hex digits")
    channel = raw.get("channel")
    if type(channel) is not int or not 1 <= channel <= 13:
        raise SchemaError(f"{where}.channel must be an integer 1..13")
    radio_raw = raw.get("radio")
    if not isinstance(radio_raw, dict):
        raise SchemaError(f"{where}.radio must be an object")
    for flag in ("espnow", "ble"):
        if type(radio_raw.get(flag)) is not bool:
            raise SchemaError(f"{where}.radio.{flag} must be true or false")
    bitrate = radio_raw.get("bitrate_bps")
    if type(bitrate) is not int or bitrate <= 0:
        raise SchemaError(f"{where}.radio.bitrate_bps must be a positive integer")
    if not (radio_raw["espnow"] or radio_raw["ble"]):
        raise SchemaError(f"{where}.radio must enable espnow or ble")
    created = _time(raw, "created", where)
    nodes_raw = raw.get("nodes", {})
    if not isinstance(nodes_raw, dict):
        raise SchemaError(f"{where}.nodes must be an object")
    nodes: dict[str, Node] = {}
    seen_ids: dict[str, str] = {}
    for node_name, node_raw in nodes_raw.items():
        if not NAME_RE.match(node_name):
            raise SchemaError(f"{where}.nodes: node name {node_name!r} is not valid")
        node = _parse_node(node_raw, f"{where}.nodes.{node_name}")
        if node.node_id in seen_ids:
            raise SchemaError(
                f"{where}.nodes: {node_name!r} and {seen_ids[node.node_id]!r} "
                f"share node id {node.node_id}"
            )
        seen_ids[node.node_id] = node_name
        nodes[node_name] = node
    known = {"key", "channel", "radio", "created", "nodes"}
    extra = {k: v for k, v in raw.items() if k not in known}
    radio = Radio(radio_raw["espnow"], radio_raw["ble"], bitrate)
    return Network(name, key, channel, radio, created, nodes, extra)


def _parse_node(raw: Any, where: str) -> Node:
    if not isinstance(raw, dict):
        raise SchemaError(f"{where} must be an object")
    node_id = _match(raw, "node_id", _HEX16, where, "16 lowercase hex digits")
    secret = _match(raw, "secret", _HEX64, where, "64 lowercase hex digits")
    role = _match(raw, "role", ROLE_RE, where, "a role name (a-z, 0-9, '_', '-')")
    for opt in ("port", "board"):
        if raw.get(opt) is not None and not isinstance(raw[opt], str):
            raise SchemaError(f"{where}.{opt} must be a string or null")
    provisioned = _time(raw, "provisioned", where)
    known = {"node_id", "role", "port", "board", "provisioned", "secret"}
    extra = {k: v for k, v in raw.items() if k not in known}
    return Node(node_id, role, raw.get("port"), raw.get("board"), provisioned, secret, extra)


def _match(raw: dict[str, Any], key: str, pattern: re.Pattern[str], where: str, what: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not pattern.match(value):
        raise SchemaError(f"{where}.{key} must be {what}")
    return value


def _time(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            datetime.fromisoformat(value)
            return value
    raise SchemaError(f"{where}.{key} must be an ISO 8601 time")
