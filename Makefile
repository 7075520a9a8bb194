# bitmesh: every target builds or refreshes .venv itself, so a fresh clone needs
# nothing but `make demo` or `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MPY := $(BIN)/micropython
# A plain ESP32 has about 110 KB of MicroPython heap: the core tests run in that.
# The issue-2 target is one node with full tables in 64wK. With every bounded
# table full (tests/mpy/budget.py) the node with the bitmesh router does NOT
# meet it: live it holds 197 KB with its code loaded as .mpy into RAM (96wK)
# and 158 KB with the code in flash, a ROMFS image (77wK). Collecting after
# every 8 KB allocated, as firmware/shell.py does, the runs pass from 109wK
# (RAM) and 90wK (ROMFS) (docs/ARCHITECTURE.md, "Memory budget"). The checks
# run at a plain ESP32's 110wK with the code in RAM (MPY_BUDGET_HEAP), and
# 5wK above the pass with the code in ROMFS (MPY_BUDGET_ROMFS_WK, plus the
# image, for tests/mpy/budget_romfs.py).
MPY_HEAP ?= 110wK
MPY_BUDGET_HEAP ?= 110wK
MPY_BUDGET_ROMFS_WK ?= 96
# The same node with the flood router (no bitmesh router tables) passes from
# 60wK with its code in flash: checked at the issue-2 target itself.
MPY_BUDGET_FLOOD_ROMFS_WK ?= 64
PYTEST := $(BIN)/python -m pytest

.PHONY: all demo test test-unit test-mpy test-sim test-vboard test-bridge test-hw lint bench flash clean venv firmware

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/bitmesh demo

test: lint test-unit test-mpy test-sim test-vboard test-bridge

test-unit: $(STAMP)
	$(PYTEST) -m "not mpy and not sim and not vboard and not bridge and not hw" -n 2 -q

test-mpy: $(STAMP)
	MPY_HEAP=$(MPY_HEAP) $(BIN)/python tests/mpy/run_all.py
	BITMESH_CORE_PATH=build/mpy-unix $(MPY) -X heapsize=$(MPY_BUDGET_HEAP) tests/mpy/budget.py
	$(BIN)/python tests/mpy/budget_romfs.py $(MPY_BUDGET_ROMFS_WK)
	BITMESH_BUDGET_ROUTER=flood $(BIN)/python tests/mpy/budget_romfs.py $(MPY_BUDGET_FLOOD_ROMFS_WK)
	$(BIN)/python tests/mpy/record_game.py build/game/honest.jsonl
	$(BIN)/python tests/mpy/record_game.py build/game/withhold.jsonl withhold_reveal 3
	BITMESH_CORE_PATH=build/mpy-unix $(MPY) -X heapsize=$(MPY_HEAP) tests/mpy/game_replay.py \
		build/game/honest.jsonl build/game/withhold.jsonl

test-sim: $(STAMP)
	$(PYTEST) -m sim -q

test-vboard: $(STAMP)
	$(PYTEST) -m vboard -q

test-bridge: $(STAMP)
	$(PYTEST) -m bridge -q

test-hw: $(STAMP)
	$(PYTEST) -m hw -q $(if $(PORT),--port $(PORT),)

lint: $(STAMP)
	$(BIN)/ruff check host shared firmware tests
	$(BIN)/mypy --strict host/bitmesh shared/bitmesh_core
	$(BIN)/mypy --config-file firmware/mypy.ini firmware

bench: $(STAMP)
	$(BIN)/bitmesh bench --out build/bench.json

firmware: $(STAMP)
	$(BIN)/bitmesh build --out build/firmware

# Flash, deploy and provision one board in one step:
#   make flash PORT=/dev/ttyUSB0 BOARD=esp32 NAME=table-1 NETWORK=home
flash: $(STAMP)
	@test -n "$(PORT)" || { echo "make flash: set PORT=/dev/ttyUSB0 (and BOARD, NAME, NETWORK)"; exit 2; }
	$(BIN)/bitmesh flash --port $(PORT) --board $(or $(BOARD),esp32)
	$(BIN)/bitmesh deploy --port $(PORT)
	$(BIN)/bitmesh provision --port $(PORT) --board $(or $(BOARD),esp32) --name $(NAME) --network $(NETWORK) $(if $(ROLE),--role $(ROLE),)

clean:
	rm -rf build .mypy_cache .pytest_cache .ruff_cache
