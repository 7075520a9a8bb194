"""The mesh simulator behind ``bitmesh sim`` (docs/SIM.md).

scenario.py reads and validates scenario files, medium.py models the radio,
engine.py runs real bitmesh_core nodes on a virtual clock, metrics.py does
the accounting, reference.py the graph references, report.py the table and
plot.py the figure. services.py is the plug-in point for issue 8's traffic.
"""

from bitmesh.sim import services_games  # noqa: E402,F401  (issue 8: game/dht/forge_relay)
