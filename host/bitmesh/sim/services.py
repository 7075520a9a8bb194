"""Plug-in point for traffic and events that exercise services above routing.

The scenario format defines ``game`` and ``dht`` traffic and the
``forge_relay`` event (issue 8). The simulator validates their shape and then
looks them up here; while these registries are empty they are rejected with
"not yet supported (issue 8)".

To add one, register a class (for example at the bottom of its own module,
imported from ``bitmesh.sim.__init__``)::

    TRAFFIC_DRIVERS["dht"] = DhtDriver

Contract of a driver class:

- ``validate(spec, path, index)`` (static/classmethod): check ``spec`` (the
  traffic object from the file, keys already restricted to the format's
  keys) and raise ``ScenarioError(source, path + ".key", "expected ...")``;
  ``index`` maps node ids to node indices.
- ``__init__(spec, index)``: one instance per router run.
- ``start(engine)``: called once before the run. Use ``engine.at(t_us, fn)``
  to schedule callbacks, ``engine.nodes[i]`` (MeshNode or None when dead),
  ``engine.now_ms``, ``engine.register_service(ptype, handler)`` (applied to
  every node, also after a revive) and ``engine.on_event(fn)`` to observe
  every core Event as ``fn(node_index, event)``.
- ``metrics() -> (key, dict)``: the section it contributes to the metrics
  object (``"games"``, ``"dht"`` or ``"relay"``).

``EVENT_HANDLERS[action]`` takes ``(engine, event)`` at the event's time.
"""

from __future__ import annotations

from typing import Any, Protocol


class TrafficDriver(Protocol):
    @classmethod
    def validate(cls, spec: dict[str, Any], path: str, index: dict[str, int]) -> None: ...

    def __init__(self, spec: dict[str, Any], index: dict[str, int]) -> None: ...

    def start(self, engine: Any) -> None: ...

    def metrics(self) -> tuple[str, dict[str, Any]]: ...


TRAFFIC_DRIVERS: dict[str, type[TrafficDriver]] = {}
EVENT_HANDLERS: dict[str, Any] = {}
