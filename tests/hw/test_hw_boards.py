"""Real boards (skipped unless --port is given):

    pytest -m hw --port /dev/ttyUSB0 [--port /dev/ttyUSB1]

Each board must run the firmware (``bitmesh deploy``) and be provisioned on one
network (``bitmesh provision``). Opening a port never resets the board (DTR
and RTS are held low), so the tests reset it themselves through the host link
where they need a fresh boot.
"""

from __future__ import annotations

import time

import pytest

from bitmesh.hostlink import HostLink, b64

pytestmark = pytest.mark.hw


@pytest.fixture
def ports(request: pytest.FixtureRequest) -> list[str]:
    return list(request.config.getoption("--port"))


def test_boot_and_status(ports: list[str]) -> None:
    with HostLink(ports[0]) as h:
        st = h.request("status", timeout=5)["status"]
        assert st["state"] == "running", st.get("reason")
        assert st["platform"].startswith("esp32")
        assert st["heap"]["free"] > 20000
        assert "up" in st["radios"].values()


def test_host_link_survives_garbage_and_ctrl_c_free_traffic(ports: list[str]) -> None:
    with HostLink(ports[0]) as h:
        h.write_raw(b"not a frame\n@BM zz 00000000\n" + b"q" * 5000 + b"\n")
        assert h.request("ping", timeout=5)["ok"]
        bad = h.request("status")["status"]["hostlink"]["bad"]
        assert bad.get("not_framed", 0) >= 1 and bad.get("too_long", 0) >= 1


def test_two_boards_find_each_other_and_deliver(ports: list[str]) -> None:
    if len(ports) < 2:
        pytest.skip("needs two boards: --port A --port B")
    with HostLink(ports[0]) as a, HostLink(ports[1]) as b:
        sa = a.request("status")["status"]
        sb = b.request("status")["status"]
        hb = max(sa["config"]["heartbeat_ms"], sb["config"]["heartbeat_ms"]) / 1000
        end = time.monotonic() + 3 * hb + 2
        while time.monotonic() < end:
            ids = {p["id"] for p in a.request("status")["status"]["peers"]}
            if sb["node_id"] in ids:
                break
            time.sleep(0.5)
        else:
            pytest.fail("board A never saw board B as a peer")
        a.request("send", dst=sb["node_id"], data=b64(b"hello over the air"), ack=True)
        kind, ev = b.wait_for(lambda k, v: k == "msg" and v.get("ev") == "delivered",
                              timeout=10)
        assert ev["src"] == sa["node_id"]
