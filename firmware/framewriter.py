"""Streamed framing of one large host-link message (docs/PROTOCOL.md, "Host link").

``hostlink.encode`` builds a framed line in one piece: the JSON, its bytes,
its base64 and the line are each one allocation as long as the message. A
status reply of a few KB then needs several contiguous blocks of that size,
which a board heap fragmented by hours of traffic often no longer has
(measured on a virtual board with the bitmesh router: "allocating 1994 bytes"
failed with 58 KB free). ``FrameWriter`` produces the very same line with
allocations of at most ``FRAME_CHUNK`` bytes.
"""

import binascii
import io

FRAME_CHUNK = 96  # bytes of JSON per base64 piece (a multiple of 3)


class FrameWriter(io.IOBase):
    """``json.dump`` target that writes one framed host-link line
    (docs/PROTOCOL.md) in small pieces: base64 of 3-byte-aligned chunks
    concatenates to the base64 of the whole, and CRC-32 updates incrementally,
    so no allocation grows with the message. A long status reply then never
    needs one contiguous block, which a fragmented board heap often lacks."""

    def __init__(self, out: object) -> None:
        self.out = out
        self.buf = bytearray(FRAME_CHUNK)
        self.n = 0
        self.crc = 0

    def write(self, b: "bytes | str") -> int:  # type: ignore[override]
        data = b.encode() if isinstance(b, str) else b
        k = len(data)
        i = 0
        while i < k:
            room = FRAME_CHUNK - self.n
            take = min(room, k - i)
            self.buf[self.n:self.n + take] = data[i:i + take]
            self.n += take
            i += take
            if self.n == FRAME_CHUNK:
                self._emit(FRAME_CHUNK)
        return k

    def _emit(self, m: int) -> None:
        chunk = binascii.b2a_base64(memoryview(self.buf)[:m],  # type: ignore[arg-type]
                                    newline=False)
        self.crc = binascii.crc32(chunk, self.crc)
        self.out.write(chunk.decode())  # type: ignore[attr-defined]
        rest = self.n - m
        if rest:
            self.buf[0:rest] = self.buf[m:self.n]
        self.n = rest

    def finish(self) -> None:
        """Flush the tail (base64 padding only here) and end the line."""
        self._emit(self.n)
        self.out.write(" %08x\n" % (self.crc & 0xFFFFFFFF))  # type: ignore[attr-defined]
