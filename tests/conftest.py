"""Shared pytest set-up: the core package and tests/ on sys.path, and --port for hw."""

import sys
from pathlib import Path

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
