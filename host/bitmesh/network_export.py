"""Network exports: one network, secrets included, as a document to carry to another machine.

The layout is the inventory's network body (docs/HOST.md, section "network")
plus ``"bitmesh_network": 1`` and the network's ``name``. An import is
validated exactly like a network in the inventory file.
"""

from __future__ import annotations

from typing import Any

from bitmesh.inventory import NAME_RE, Network, SchemaError, network_to_json, parse_network

EXPORT_VERSION = 1


def export_network(network: Network) -> dict[str, Any]:
    """A self-contained document holding everything, secrets included."""
    return {"bitmesh_network": EXPORT_VERSION, "name": network.name, **network_to_json(network)}


def import_network(doc: Any, name: str | None = None) -> Network:
    """Validate an export document; ``name`` overrides the name it carries.

    Raises SchemaError naming the faulty field.
    """
    if not isinstance(doc, dict):
        raise SchemaError("the document must be a JSON object")
    version = doc.get("bitmesh_network")
    if version != EXPORT_VERSION:
        raise SchemaError(
            f"not a bitmesh network export (bitmesh_network is {version!r}, "
            f"expected {EXPORT_VERSION})"
        )
    body = {k: v for k, v in doc.items() if k not in ("bitmesh_network", "name")}
    final = name if name is not None else doc.get("name")
    if not isinstance(final, str) or not NAME_RE.match(final):
        raise SchemaError(f"name {final!r} is not a valid network name")
    return parse_network(final, body, final)
