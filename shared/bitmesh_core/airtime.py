"""Airtime budget: background traffic yields when the channel is busy.

In the spirit of Meshtastic's channel-utilisation rules: the node measures,
per fixed window (``airtime_window_ms``), the airtime of every frame it heard
plus every frame it sent (frame airtime = bits / ``bitrate_bps``, plus a fixed
per-frame preamble). When the channel is busier than ``airtime_bulk_pct`` the
BULK class waits for the next window; when this node's own transmissions
exceed ``airtime_data_pct`` of the window, DATA waits too. GAME and CONTROL
(consensus, heartbeats, acks, route control) always go: starving them would
break the mesh exactly when it is loaded.
"""

from .clock import add, diff
from .compat import const

# Per-frame fixed cost in bits (PHY preamble + MAC header) so tiny frames are
# not free.
_OVERHEAD_BITS = const(400)


class AirtimeBudget:
    __slots__ = ("bitrate", "window", "bulk_pct", "data_pct", "start", "chan_us", "own_us",
                 "max_util_pm", "deferred")

    def __init__(self, bitrate_bps: int, window_ms: int, bulk_pct: int, data_pct: int,
                 now: int) -> None:
        self.bitrate = bitrate_bps
        self.window = window_ms
        self.bulk_pct = bulk_pct
        self.data_pct = data_pct
        self.start = now
        self.chan_us = 0  # heard + sent airtime in this window, microseconds
        self.own_us = 0  # sent airtime in this window
        self.max_util_pm = 0  # highest channel utilisation seen, per mille
        self.deferred = 0  # times a class was held back

    def airtime_us(self, nbytes: int) -> int:
        """Airtime of one frame of ``nbytes`` in microseconds."""
        return (nbytes * 8 + _OVERHEAD_BITS) * 1000000 // self.bitrate

    def _roll(self, now: int) -> None:
        el = diff(now, self.start)
        if el >= self.window or el < 0:
            self._close()
            self.start = now
            self.chan_us = 0
            self.own_us = 0

    def _close(self) -> None:
        pm = self.chan_us // self.window  # us / ms = per mille
        if pm > self.max_util_pm:
            self.max_util_pm = pm

    def heard(self, nbytes: int, now: int) -> None:
        self._roll(now)
        self.chan_us += self.airtime_us(nbytes)

    def sent(self, nbytes: int, now: int) -> None:
        self._roll(now)
        us = self.airtime_us(nbytes)
        self.chan_us += us
        self.own_us += us

    def allowed(self, now: int) -> int:
        """The least urgent priority class that may transmit now (0..3)."""
        self._roll(now)
        budget_us = self.window * 10  # one percent of the window, in us
        if self.own_us >= budget_us * self.data_pct:
            return 1  # GAME and CONTROL only
        if self.chan_us >= budget_us * self.bulk_pct:
            return 2  # everything but BULK
        return 3

    def window_end(self) -> int:
        return add(self.start, self.window)

    def utilization(self) -> float:
        """Highest channel utilisation of a closed or current window (0..1)."""
        cur = self.chan_us // self.window
        return (cur if cur > self.max_util_pm else self.max_util_pm) / 1000.0
