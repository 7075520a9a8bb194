"""Board config: load and validate ``/config.json``, write it atomically, count boots.

``load()`` never raises: it returns ``(config, None)`` or ``(None, reason)``
with a one-line reason, and main.py enters the unprovisioned safe mode on the
latter. Layout (docs/FIRMWARE.md is the reference)::

    {"name": str, "role": str,
     "network": {"name": str, "key": 64 hex, "channel": 1..13},
     "node_secret": 64 hex,
     "radios": {"espnow": bool, "ble": bool},
     "led_pin": int | null, "led_type": "gpio" | "ws2812" | null,
     "node": {NodeConfig overrides}, "bot": {...}, "vboard": {...}}

The ``bot`` section is checked apart (``bot_error``): ``load`` accepts a bad
one (the board then runs without the bot and says why, firmware/services.py)
while ``save`` refuses it, so provisioning reports the mistake at once.
"""

import json
import os

from bitmesh_core.config import ROLES, ConfigError, NodeConfig

CONFIG = "config.json"
CONFIG_TMP = "config.json.tmp"
BOOTS = "bootcount"
KNOWN = ("name", "role", "network", "node_secret", "radios", "led_pin", "led_type",
         "node", "bot", "vboard", "wdt_ms", "board")
# integer bot keys -> (lowest, highest)
BOT_INTS = {"seats": (2, 8), "rounds": (1, 65535), "bankroll": (1, 1000000000)}
BOT_KEYS = ("game", "table", "host", "seats", "rounds", "bankroll", "host_id")


def _exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _hex(v: object, n: int) -> bool:
    if not isinstance(v, str) or len(v) != n:
        return False
    for ch in v:
        if ch not in "0123456789abcdefABCDEF":
            return False
    return True


def validate(d: object) -> "str | None":
    """None when ``d`` is a usable config, else the first problem as one line."""
    if not isinstance(d, dict):
        return "config is not a JSON object"
    for k in d:
        if k not in KNOWN:
            return "unknown key " + str(k)
    name = d.get("name")
    if not isinstance(name, str) or not 0 < len(name) <= 31:
        return "name: expected a string of 1..31 characters"
    if d.get("role", "relay") not in ROLES:
        return "role: expected one of " + ", ".join(ROLES)
    net = d.get("network")
    if not isinstance(net, dict):
        return "network: expected an object"
    if not _hex(net.get("key"), 64):
        return "network.key: expected 64 hex digits"
    ch = net.get("channel", 1)
    if isinstance(ch, bool) or not isinstance(ch, int) or not 1 <= ch <= 14:
        return "network.channel: expected an integer in 1..14"
    if not _hex(d.get("node_secret"), 64):
        return "node_secret: expected 64 hex digits"
    radios = d.get("radios", {"espnow": True, "ble": False})
    if not isinstance(radios, dict):
        return "radios: expected an object"
    for k in radios:
        if k not in ("espnow", "ble") or not isinstance(radios[k], bool):
            return "radios: expected {\"espnow\": bool, \"ble\": bool}"
    pin = d.get("led_pin")
    if pin is not None and (isinstance(pin, bool) or not isinstance(pin, int)):
        return "led_pin: expected an integer or null"
    node = d.get("node", {})
    try:
        node_config(d if isinstance(node, dict) else {"node": node})
    except ConfigError as e:
        return "node." + e.key + ": expected " + e.expected
    vb = d.get("vboard")
    if vb is not None and (not isinstance(vb, dict) or not isinstance(vb.get("medium"), str)):
        return "vboard: expected {\"medium\": \"host:port\", ...}"
    return None


def _int_in(v: object, lo: int, hi: int) -> bool:
    return not isinstance(v, bool) and isinstance(v, int) and lo <= v <= hi


def bot_error(b: object) -> "str | None":
    """None when a ``bot`` section is usable (or empty), else the first
    problem as one line: ``{"game": "craps", "table": str, "host": bool,
    "seats": 2..8, "rounds": 1..65535, "bankroll": int, "host_id": 16 hex}``."""
    if b is None:
        return None
    if not isinstance(b, dict):
        return "bot: expected an object"
    for k in b:
        if k not in BOT_KEYS:
            return "bot: unknown key " + str(k) + " (known: " + ", ".join(BOT_KEYS) + ")"
    if b.get("game", "craps") != "craps":
        return "bot.game: expected \"craps\""
    t = b.get("table", "bitmesh")
    if not isinstance(t, str) or not 0 < len(t) <= 31:
        return "bot.table: expected a name of 1..31 characters"
    if not isinstance(b.get("host", False), bool):
        return "bot.host: expected true or false"
    for k in BOT_INTS:
        lo, hi = BOT_INTS[k]
        if k in b and not _int_in(b[k], lo, hi):
            return "bot." + k + ": expected an integer in " + str(lo) + ".." + str(hi)
    if "host_id" in b and not _hex(b["host_id"], 16):
        return "bot.host_id: expected 16 hex digits (the host's node id)"
    return None


def node_config(d: "dict[str, object]") -> NodeConfig:
    """The core's NodeConfig from a config dict (raises ConfigError)."""
    node = d.get("node", {})
    if not isinstance(node, dict):
        raise ConfigError("node", "an object")
    c = NodeConfig.from_dict(node)
    if "role" not in node:
        c.set("role", d.get("role", "relay"))
    if "name" not in node:
        c.set("name", d.get("name", ""))
    return c


def load(path: str = CONFIG) -> "tuple[dict[str, object] | None, str | None]":
    """(config, None) or (None, reason). Falls back to the temp file that a
    provisioning write left when a reset hit between remove and rename (FAT)."""
    src = path
    if not _exists(src):
        if path == CONFIG and _exists(CONFIG_TMP):
            src = CONFIG_TMP
        else:
            return None, "no " + path
    try:
        with open(src) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        return None, src + " unreadable: " + repr(e)
    except MemoryError:
        return None, src + " too large"
    reason = validate(d)
    if reason is not None:
        return None, src + ": " + reason
    return d, None


def write_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` via ``path.tmp`` and a rename. On LittleFS and
    POSIX the rename replaces atomically; FAT refuses to rename over a file, so
    the old one is removed first and ``load`` falls back to the temp file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    try:
        os.rename(tmp, path)
    except OSError:
        try:
            os.remove(path)
        except OSError:
            pass
        os.rename(tmp, path)


def save(d: "dict[str, object]", path: str = CONFIG) -> "str | None":
    """Validate and write a config; None on success, else the reason."""
    reason = validate(d)
    if reason is None and isinstance(d, dict):
        reason = bot_error(d.get("bot"))
    if reason is not None:
        return reason
    write_atomic(path, json.dumps(d))
    return None


def bump_boot_count(path: str = BOOTS) -> int:
    """Read, increment and persist the boot counter (its own small file, so a
    torn write can never damage the config). Returns the new count."""
    n = 0
    try:
        with open(path) as f:
            n = int(f.read().strip() or "0")
    except (OSError, ValueError):
        n = 0
    n = (n + 1) & 0xFFFFFF
    try:
        write_atomic(path, str(n))
    except OSError:
        pass  # a read-only or full filesystem must not stop the node
    return n
