"""Services above routing on a board: the craps bot (config ``"bot"``).

The shell starts them once its node runs and then, each turn, calls
``on_timer(now)`` and folds ``next_timer()`` into its wait. Game events are
core events (``ServiceEvent("game", ...)``), so the shell's event pump sends
them up the host link like any other (``{"ev": "service", "service": "game",
"name": "round_final", ...}``).

A bad ``bot`` section, or a bot that fails to start (a MemoryError while its
modules load, for one), never stops the board: one ``bot_disabled`` error
line is logged and the node runs without the bot.
"""

import gc

BOT_GC_THRESHOLD = 4096  # bytes allocated between collections while a bot plays


class Services:
    """The services a board runs next to its node (today: at most one bot)."""

    def __init__(self) -> None:
        self.bot = None  # type: object
        self.state = "off"  # off, running, disabled

    def start(self, node: object, cfg: "dict[str, object]", link: object, now: int) -> None:
        b = cfg.get("bot")
        if not b:  # absent, null or {}: no bot
            return
        import fwconfig

        reason = fwconfig.bot_error(b)
        if reason is not None:
            self._disable(link, reason)
            return
        try:
            gc.collect()
            from bitmesh_core.game.bot import Bot

            self.bot = Bot(node, b, now)  # type: ignore[arg-type]
        except Exception as e:  # noqa: BLE001 - MemoryError included: run without the bot
            self.bot = None
            gc.collect()
            self._disable(link, "bot failed to start: " + repr(e)[:80])
            return
        self.state = "running"
        # Signing makes big-int garbage by the thousand: collected early, it
        # leaves the session's long-lived moves packed instead of scattered
        # between holes (the heap then fragments far less).
        gc.threshold(BOT_GC_THRESHOLD)
        gc.collect()
        link.log("info", "bot_started", game="craps",  # type: ignore[attr-defined]
                 table=self.bot.table.hex(), host=self.bot.host,  # type: ignore[attr-defined]
                 heap_free=gc.mem_free())

    def _disable(self, link: object, reason: str) -> None:
        self.state = "disabled"
        link.log("error", "bot_disabled", reason=reason,  # type: ignore[attr-defined]
                 hint="fix the \"bot\" section of /config.json; the node runs without it")

    def on_timer(self, now: int) -> None:
        if self.bot is not None:
            self.bot.on_timer(now)  # type: ignore[attr-defined]

    def next_timer(self) -> "int | None":
        if self.bot is None:
            return None
        return self.bot.next_timer()  # type: ignore[attr-defined,no-any-return]

    def status(self) -> "dict[str, object]":
        d = {"bot": self.state}  # type: dict[str, object]
        bot = self.bot
        if bot is not None:
            s = bot.svc.tables.get(bot.table)  # type: ignore[attr-defined]
            d["table"] = bot.table.hex()  # type: ignore[attr-defined]
            d["joined"] = bot.joined  # type: ignore[attr-defined]
            if s is not None:
                d["state"] = s.state
                d["round"] = s.rnd
                d["rounds"] = s.rounds
        return d
