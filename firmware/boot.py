"""Runs first at every boot: keep it tiny so a broken main.py never blocks the REPL."""

import gc

gc.collect()
