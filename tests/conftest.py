"""Shared pytest set-up: the core package and tests/ on sys.path, --port for hw,
and the virtual-board fixtures (built firmware, a UDP medium, boards stopped
at the end) that the vboard and bridge tiers share."""

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))
sys.path.insert(0, str(ROOT / "tests"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--port", action="append", default=[],
                     help="serial port of a real board (hw tier); give twice for two boards")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The hw tier needs a board: skip it unless --port is given."""
    if config.getoption("--port"):
        return
    skip = pytest.mark.skip(reason="hw tier: no board attached (pass --port /dev/ttyUSB0)")
    for item in items:
        if "hw" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def firmware(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The firmware and core built to .mpy once per test module."""
    from bitmesh import build

    out = tmp_path_factory.mktemp("fw")
    build.build(out, build.host_arch() or None)
    return out


@pytest.fixture
def medium() -> Iterator[Any]:
    """A running UDP radio medium for virtual boards."""
    from bitmesh.vboard.medium import Medium

    m = Medium()
    m.start()
    yield m
    m.stop()


@pytest.fixture
def boards() -> Iterator[list[Path]]:
    """Board directories a test started; each is stopped at the end."""
    from bitmesh.vboard import manager

    made: list[Path] = []
    yield made
    for d in made:
        manager.stop(d)
