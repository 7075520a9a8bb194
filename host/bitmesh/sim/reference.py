"""Graph references that do not depend on any router (networkx).

``cds_greedy``: the size of a greedy connected dominating set (Guha and
Khuller's first algorithm: start at the highest-degree node, then repeatedly
turn black the grey node that covers the most still-white nodes) of the
connected component that contains the first broadcast's origin. It is a
near-floor for how many transmissions one network-wide broadcast needs.
"""

from __future__ import annotations

import networkx as nx  # type: ignore[import-untyped]


def graph(edges: list[tuple[int, int]], nodes: list[int]) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    return g


def cds_greedy(g: nx.Graph, origin: int) -> int:
    """Greedy connected dominating set size of ``origin``'s component."""
    if origin not in g:
        return 0
    comp = g.subgraph(nx.node_connected_component(g, origin))
    if comp.number_of_nodes() <= 2:
        return 1
    adj = {u: set(comp.adj[u]) for u in comp.nodes}
    white = set(adj)
    start = max(sorted(adj), key=lambda u: len(adj[u]))
    black = {start}
    white.discard(start)
    white -= adj[start]
    grey = set(adj[start])
    while white:
        # ties broken by the smallest index so the result is reproducible
        best = min(grey, key=lambda u: (-len(adj[u] & white), u))
        grey.discard(best)
        black.add(best)
        new = adj[best] & white
        white -= new
        grey |= new
    return len(black)
