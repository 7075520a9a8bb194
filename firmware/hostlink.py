"""Board side of the host link (spec: docs/PROTOCOL.md, "Host link").

Text lines only on the USB serial line, so the REPL and Ctrl-C keep working:
JSON log lines and ``@BM <base64(json)> <crc32(base64) hex>`` framed messages.
Input that is not a valid framed line is dropped with a counted reason and a
rate-limited log line; nothing here ever raises to the main loop.
"""

import binascii
import json
import sys
import time

PREFIX = b"@BM "
MAX_LINE = 4096
LEVELS = ("debug", "info", "warn", "error")


def encode(obj: "dict[str, object]") -> str:
    """One framed line (without the newline)."""
    b = binascii.b2a_base64(json.dumps(obj, separators=(",", ":")).encode(), newline=False)
    return "@BM " + b.decode() + " %08x" % (binascii.crc32(b) & 0xFFFFFFFF)


def decode(line: "bytes | bytearray") -> "tuple[dict[str, object] | None, str | None]":
    """(object, None) for a valid framed line, else (None, reason)."""
    if len(line) > MAX_LINE:
        return None, "too_long"
    if line[-1:] == b"\r":
        line = line[:-1]
    if line[:4] != PREFIX:
        return None, "not_framed"
    parts = bytes(line).split(b" ")
    if len(parts) != 3 or len(parts[2]) != 8:
        return None, "not_framed"
    b64 = parts[1]
    try:
        crc = int(parts[2], 16)
    except ValueError:
        return None, "crc"
    if crc != binascii.crc32(b64) & 0xFFFFFFFF:
        return None, "crc"
    try:
        raw = binascii.a2b_base64(b64)
    except ValueError:
        return None, "base64"
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeError):
        return None, "json"
    if not isinstance(obj, dict):
        return None, "not_object"
    return obj, None


class LineAssembler:
    """Bytes in, complete lines out, in one preallocated buffer (no growth on
    the hot path). A line over MAX_LINE is cut off and reported once as
    ``None`` (too long) when its newline finally arrives."""

    __slots__ = ("buf", "n", "overflow")

    def __init__(self) -> None:
        self.buf = bytearray(MAX_LINE)
        self.n = 0
        self.overflow = False

    def feed(self, data: "bytes | bytearray") -> "list[bytes | None]":
        out = []  # type: list[bytes | None]
        mv = memoryview(data)
        i = 0
        while i < len(data):
            j = data.find(b"\n", i)
            end = len(data) if j < 0 else j
            k = end - i
            if not self.overflow:
                if self.n + k > MAX_LINE:
                    self.overflow = True
                else:
                    self.buf[self.n:self.n + k] = mv[i:end]
                    self.n += k
            if j < 0:
                break
            if self.overflow:
                out.append(None)
            elif self.n:
                out.append(bytes(self.buf[:self.n]))
            self.n = 0
            self.overflow = False
            i = j + 1
        return out


class HostLink:
    """Writes log lines and framed messages to ``out`` and turns input lines
    into messages, counting every rejected line by reason."""

    def __init__(self, out: object = None) -> None:
        self.out = out if out is not None else sys.stdout
        self.asm = LineAssembler()
        self.rx_lines = 0
        self.bad = {}  # type: dict[str, int]
        self.tx_dropped = 0
        self.last_warn = 0
        self.min_level = 1
        self.mirror = None  # type: object  # e.g. BLERadio.send_host for BLE hosts

    def _write(self, s: str) -> None:
        try:
            self.out.write(s + "\n")  # type: ignore[attr-defined,union-attr]
        except Exception:  # noqa: BLE001 - a stuck or gone port must not stop the node
            self.tx_dropped += 1

    def log(self, lvl: str, msg: str, **fields: object) -> None:
        """One JSON log line: {"t": ticks, "lvl": lvl, "msg": msg, ...fields}."""
        if lvl in LEVELS and LEVELS.index(lvl) < self.min_level:
            return
        d = {"t": time.ticks_ms(), "lvl": lvl, "msg": msg}  # type: dict[str, object]
        for k in fields:
            d[k] = fields[k]
        try:
            self._write(json.dumps(d, separators=(",", ":")))
        except (TypeError, ValueError):
            self._write('{"t":%d,"lvl":"error","msg":"unloggable"}' % int(time.ticks_ms()))  # type: ignore[call-overload]

    def send(self, obj: "dict[str, object]") -> None:
        try:
            line = encode(obj)
        except (TypeError, ValueError):
            self.tx_dropped += 1
            return
        self._write(line)
        if self.mirror is not None:
            try:
                self.mirror(line.encode() + b"\n")  # type: ignore[operator]
            except Exception:  # noqa: BLE001
                self.tx_dropped += 1

    def reply(self, req: "dict[str, object]", ok: bool = True, error: "str | None" = None,
              **fields: object) -> None:
        if "id" not in req:
            return
        d = {"re": req["id"], "ok": ok}  # type: dict[str, object]
        if error is not None:
            d["error"] = error
        for k in fields:
            d[k] = fields[k]
        self.send(d)

    def reject(self, reason: str, detail: str = "") -> None:
        """Count a bad input line; log at most one warning per second."""
        self.bad[reason] = self.bad.get(reason, 0) + 1
        now = time.ticks_ms()  # type: int  # type: ignore[assignment]
        if time.ticks_diff(now, self.last_warn) >= 1000 or self.last_warn == 0:
            self.last_warn = now
            self.log("warn", "hostlink_bad_input", reason=reason, detail=detail[:60],
                     count=self.bad[reason])

    def feed(self, data: "bytes | bytearray") -> "list[dict[str, object]]":
        """Raw serial bytes in, valid request objects out."""
        msgs = []  # type: list[dict[str, object]]
        for line in self.asm.feed(data):
            if line is None:
                self.rx_lines += 1
                self.reject("too_long")
                continue
            if not line.strip():
                continue
            self.rx_lines += 1
            obj, reason = decode(line)
            if obj is None:
                self.reject(reason or "bad", "")
                continue
            if not isinstance(obj.get("op"), str):
                self.reject("bad_op", "")
                continue
            msgs.append(obj)
        return msgs

    def status(self) -> "dict[str, object]":
        return {"rx_lines": self.rx_lines, "bad": dict(self.bad), "tx_dropped": self.tx_dropped}
