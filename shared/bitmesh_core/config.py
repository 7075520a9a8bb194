"""Node configuration: one table of every knob with its default and bounds.

The table is the single source of truth: ``NodeConfig.from_dict`` validates a
board's ``/config.json`` ``node`` section or a scenario's ``node_defaults``
against it, and every bounded structure in the core takes its size from here.
Later subsystems add their rows to ``_TABLE``; ``fields()`` reads it.
"""

from .compat import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Iterator

# One row per knob: name, default, min, max. Times are milliseconds; sizes
# are entries. The table is one string constant rather than a dict of tuples:
# a board keeps a string constant in flash when the core is in ROMFS (and as a
# single object otherwise), where a dict of 56 tuples cost about 6 KB of heap.
_TABLE = """
#name                   default       min        max
ttl                           24         1         32  # first copies detour round lossy links: 24 keeps a 16-hop mesh whole
heartbeat_ms                5000       200     600000
peer_timeout_ms            15000       600    3600000
max_peers                     32         2        255  # more neighbours than this: broadcast.py counts copies (crowded)
dedup_capacity               512        16       8192
dedup_age_ms              120000      1000    3600000
replay_senders                64         4       1024
rate_per_s                    40         1      10000
rate_burst                    80         1      10000
stranger_rate_per_s           20         1      10000
max_reassembly                 2         1         64
reassembly_timeout_ms      10000       500     600000
max_message                 2048       200      16384
tx_queue_max                  24         4       1024  # sized for a board: the simulator's busiest node queues 19
events_max                    24         4       4096
acks_max                      16         1       1024  # messages awaiting an end-to-end ack
heartbeat_jitter_pct          10         0         50
# games, DHT, relay credits (docs/GAMES.md)
game_tables                    2         1         16
game_seats                     8         2          8
game_lobby_max                 8         1         64
game_retry_ms               1500       100      60000
game_lobby_ms              20000      1000     600000
game_commit_ms             45000      1000     600000
game_reveal_ms             30000      1000     600000
game_vote_ms               30000      1000     600000
game_rep_min                  20         0        100
game_flood_per_s               6         1       1000
game_flood_burst              60         4      10000
reputation_max                64         4       1024
dht_k                          4         1         16
dht_contacts                  32         4        512
dht_store_max                 32         1       1024
dht_value_ttl_ms          600000      1000   86400000
dht_refresh_ms            120000      1000   86400000
dht_rpc_ms                  2000       100      60000
dht_lookups                    4         1         64
credit_receipts               32         1       1024
credit_ledger                 64         1       4096
# bitmesh router (docs/ROUTING.md)
max_routes                    32         4       1024
route_paths                    3         1          4
route_stale_ms            300000      1000    3600000
bcast_window_ms               40         0       2000
bcast_cover                    2         1          4
pending_relays                 8         2        256
hop_ack_ms                    60         5      10000
hop_retries                    2         0          6
hop_pending                    8         2        256
flood_repair                   4         0          4  # floods kept to resend to a neighbour that missed one
flood_repair_ms            20000      1000     127000
flood_scope                    3         0         32  # discovery floods go this far past a known distance (0: full ttl)
hold_max                      12         1        256
hold_ms                    30000       100     600000
origin_rate_per_s             10         1      10000
origin_rate_burst             30         1      10000
origin_slots                  16         4       1024
msg_dedup                     32         8       1024
bitrate_bps              1000000      1000  100000000
airtime_window_ms           1000       100      60000
airtime_bulk_pct              25         1        100
airtime_data_pct              40         1        100
"""


def _rows() -> "Iterator[tuple[str, int, int, int]]":
    """(name, default, min, max) of every knob, parsed from the table as it is
    read (allocates: for construction and validation, never per frame)."""
    for line in _TABLE.split("\n"):
        w = line.split()
        if w and w[0][0] != "#":
            yield w[0], int(w[1]), int(w[2]), int(w[3])


def _row(key: str) -> "tuple[str, int, int, int] | None":
    """The row of knob ``key``, found in the table without parsing the rest."""
    i = _TABLE.find("\n" + key + " ") if key and key[0] != "#" else -1
    if i < 0:
        return None
    w = _TABLE[i + 1:_TABLE.find("\n", i + 1)].split()
    if w[0] != key:  # a key with blanks in it matched a row's padding
        return None
    return w[0], int(w[1]), int(w[2]), int(w[3])


def fields() -> "dict[str, tuple[int, int, int]]":
    """Every knob as ``{name: (default, min, max)}``, in table order."""
    d = {}  # type: dict[str, tuple[int, int, int]]
    for name, default, lo, hi in _rows():
        d[name] = (default, lo, hi)
    return d


ROLES = ("relay", "leaf", "gateway", "treasury")
ROUTER_NAMES = ("flood", "managed", "bitmesh")


class ConfigError(ValueError):
    """A config value failed validation; ``key`` names the offending field."""

    def __init__(self, key: str, expected: str) -> None:
        super().__init__("%s: expected %s" % (key, expected))
        self.key = key
        self.expected = expected


class NodeConfig:
    """Validated node settings. Attribute names are the knobs of ``fields()``
    plus ``role`` and ``name``; unknown keys are rejected."""

    def __init__(self, **overrides: object) -> None:
        for r in _rows():
            setattr(self, r[0], r[1])
        self.role = "relay"
        self.name = ""
        self.router = "bitmesh"
        for k in overrides:
            self.set(k, overrides[k])

    def set(self, key: str, value: object) -> None:
        """Validate and set one field; raises ConfigError."""
        if key == "role":
            if value not in ROLES:
                raise ConfigError(key, "one of " + ", ".join(ROLES))
        elif key == "router":
            if value not in ROUTER_NAMES:
                raise ConfigError(key, "one of " + ", ".join(ROUTER_NAMES))
        elif key == "name":
            if not isinstance(value, str) or len(value) > 31:
                raise ConfigError(key, "a string of at most 31 characters")
        else:
            row = _row(key) if isinstance(key, str) else None
            if row is None:
                raise ConfigError(key, "a known setting (unknown key)")
            if isinstance(value, bool) or not isinstance(value, int) or not row[2] <= value <= row[3]:
                raise ConfigError(key, "an integer in %d..%d" % (row[2], row[3]))
        setattr(self, key, value)

    @classmethod
    def from_dict(cls, d: "dict[str, object]") -> "NodeConfig":
        """Build from a mapping, validating every key."""
        if not isinstance(d, dict):
            raise ConfigError("node", "an object")
        c = cls()
        for k in d:
            c.set(k, d[k])
        return c

    def to_dict(self) -> "dict[str, object]":
        d = {"role": self.role, "name": self.name, "router": self.router}  # type: dict[str, object]
        for r in _rows():
            d[r[0]] = getattr(self, r[0])
        return d

    def __getattr__(self, name: str) -> int:  # for mypy: fields are dynamic ints
        raise AttributeError(name)
