"""firmware/framewriter.py writes exactly the line hostlink.encode builds
(the virtual-board runs check the same on the real VM: the host verifies the
CRC of every streamed status reply)."""

from __future__ import annotations

import importlib
import io
import sys
from pathlib import Path

import pytest

from bitmesh.hostlink import MAX_LINE, decode_line

pytestmark = pytest.mark.vboard
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "firmware"))

# the firmware's own modules (typed against MicroPython stubs, so loaded untyped here)
framewriter = importlib.import_module("framewriter")
hostlink = importlib.import_module("hostlink")
FRAME_CHUNK = int(framewriter.FRAME_CHUNK)


@pytest.mark.parametrize("size", [0, 1, 2, FRAME_CHUNK - 1, FRAME_CHUNK, FRAME_CHUNK + 1, 2500, 5000])
def test_streamed_line_equals_encoded_line(size: int) -> None:
    import json

    obj = {"re": 7, "ok": True, "status": {"blob": "x" * size, "peers": [{"id": "ab"}] * 3}}
    out = io.StringIO()
    out.write("@BM ")
    w = framewriter.FrameWriter(out)
    json.dump(obj, w, separators=(",", ":"))
    w.finish()
    line = out.getvalue()
    assert line == hostlink.encode(obj) + "\n"
    if len(line) <= MAX_LINE:  # longer lines are the protocol's to refuse
        assert decode_line(line.encode()) == obj
