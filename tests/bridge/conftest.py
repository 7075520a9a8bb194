"""The bridge tier: a REAL mosquitto (Debian package) per test, no MQTT mock.

``mosquitto`` starts /usr/sbin/mosquitto on a free loopback port with a
generated config (persistence on, so a restart keeps the gateways' sessions)
in the test's tmp dir, and stops it afterwards. ``stop()``/``start()`` restart it
on the same port to test broker outages.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

MOSQUITTO = os.environ.get("BITMESH_MOSQUITTO", "/usr/sbin/mosquitto")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """One broker process; ``url`` is mqtt://127.0.0.1:PORT."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.conf = workdir / "mosquitto.conf"
        # Run as ourselves: started as root, mosquitto would switch to the
        # "mosquitto" user, which cannot write the persistence file in tmp_path.
        self.conf.write_text(
            f"user {getpass.getuser()}\n"
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 10000\n"
            f"log_dest file {workdir}/mosquitto.log\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: see {self.dir}/mosquitto.log")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not listen within 10 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # SIGTERM: sessions are saved to disk
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    if not (os.path.exists(MOSQUITTO) or shutil.which("mosquitto")):
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Mosquitto(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
