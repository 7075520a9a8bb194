"""Radio bring-up on a board: the radios the config's ``radios`` section asks for.

``start(sh, cfg, node_id, channel)`` starts them for the shell ``sh``
(firmware/shell.py) before its node is made: ESP-NOW (or, on a virtual board,
the UDP radio of the medium in ``vboard.medium`` or ``BITMESH_MEDIUM``), then
BLE. Each radio's ``start()`` runs inside its own try: one that fails is
logged as ``radio_failed`` and marked "failed" in ``sh.radio_state``, and the
node runs on the other. With no radio up only the host link works (one
``no_radio`` line).
"""

import gc
import os
import sys

from bitmesh_core.compat import TYPE_CHECKING

if TYPE_CHECKING:
    from shell import Shell


def start(sh: "Shell", cfg: "dict[str, object]", node_id: bytes, channel: int) -> None:
    want = cfg.get("radios") or {"espnow": True, "ble": False}
    vb = cfg.get("vboard") or {}
    medium = vb.get("medium") if isinstance(vb, dict) else None
    if medium is None and sys.platform != "esp32":
        medium = os.getenv("BITMESH_MEDIUM")
    if want.get("espnow", True):  # type: ignore[attr-defined]
        if medium:
            from udp_radio import UDPRadio

            label = os.getenv("BITMESH_VBOARD_LABEL") or str(cfg.get("name"))
            r = UDPRadio(str(medium), b"\x02" + node_id[:5], label)  # type: object
        else:
            from espnow_radio import ESPNowRadio

            r = ESPNowRadio(channel)
        _try_start(sh, "espnow", r)
    if want.get("ble", False):  # type: ignore[attr-defined]
        try:
            from ble_radio import BLERadio

            ble = BLERadio(str(cfg.get("name")), central=sh.radio_state["espnow"] != "up")
            if _try_start(sh, "ble", ble):
                sh.ble = ble
                sh.link.mirror = ble.send_host
        except ImportError as e:
            sh.radio_state["ble"] = "failed"
            sh.link.log("error", "radio_failed", radio="ble", error=repr(e))
    if not sh.radios:
        sh.link.log("error", "no_radio", detail="no radio is up; only the host link works")


def _try_start(sh: "Shell", name: str, r: object) -> bool:
    try:
        gc.collect()
        r.start()  # type: ignore[attr-defined]
    except Exception as e:  # noqa: BLE001 - e.g. OSError or MemoryError on a C3
        sh.radio_state[name] = "failed"
        other = "ble" if name == "espnow" else "espnow"
        sh.link.log("error", "radio_failed", radio=name, error=repr(e),
                    running_on=other if sh.radio_state[other] == "up" else "none")
        return False
    sh.radio_state[name] = "up"
    sh.radios.append(r)
    sh.by_iface[r.iface] = r  # type: ignore[attr-defined]
    return True
