"""Status LED on the board file's pin (config ``led_pin``, ``led_type``).

Patterns: unprovisioned = fast blink (5 Hz); running without peers = slow
blink (1 Hz); running with peers = short flash every 2 s. Boards without a
user LED (``led_pin`` null) and the unix port get a silent no-op.
"""


class StatusLed:
    def __init__(self, pin: "int | None", kind: "str | None" = "gpio") -> None:
        self.pin = None  # type: object
        self.np = None  # type: object
        self.on = False
        if pin is None:
            return
        try:
            import machine

            p = machine.Pin(pin, machine.Pin.OUT)
            if kind == "ws2812":
                import neopixel

                self.np = neopixel.NeoPixel(p, 1)
            else:
                self.pin = p
        except (ImportError, AttributeError, ValueError, OSError):
            self.pin = None  # no LED on this platform

    def _set(self, on: bool) -> None:
        if on == self.on:
            return
        self.on = on
        if self.np is not None:
            self.np[0] = (0, 8, 0) if on else (0, 0, 0)  # type: ignore[index]
            self.np.write()  # type: ignore[attr-defined]
        elif self.pin is not None:
            self.pin.value(1 if on else 0)  # type: ignore[attr-defined]

    def show(self, now: int, provisioned: bool, peers: int) -> None:
        """Drive the pattern from the current ticks; call every loop turn."""
        if self.pin is None and self.np is None:
            return
        if not provisioned:
            self._set((now // 100) % 2 == 0)
        elif peers == 0:
            self._set((now // 500) % 2 == 0)
        else:
            self._set(now % 2000 < 60)
