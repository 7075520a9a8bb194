"""The host gateway: a laptop joins a mesh through a board, meshes join over MQTT.

Modules:

* :mod:`.links`   link drivers (serial host link, BLE, in-process loopback)
                  behind one small interface, plus the reconnect supervisor;
* :mod:`.node`    :class:`HostNode`, the bitmesh_core MeshNode under asyncio;
* :mod:`.virtual` an in-process virtual mesh whose "board" a gateway attaches to;
* :mod:`.api`     the token-authenticated local WebSocket API;
* :mod:`.bridge`  MQTT bridging between meshes (aiomqtt);
* :mod:`.bench`, :mod:`.demo` for ``make bench`` and ``make demo``.

The wire schema and topic layout are documented in docs/GATEWAY.md.
"""
