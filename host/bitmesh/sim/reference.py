"""Graph references that do not depend on any router (networkx).

``cds_greedy``: the size of a greedy connected dominating set (Guha and
Khuller's first algorithm: start at the highest-degree node, then repeatedly
turn black the grey node that covers the most still-white nodes) of the
connected component that contains the first broadcast's origin. It is a
near-floor for how many transmissions one network-wide broadcast needs.

``etx_from``: the two-way expected transmission count (ETX, De Couto et al.)
of the best path from one node to every other: per hop 1 / (P(the frame
arrives) x P(the ack comes back)). With hop-by-hop acks no router can do
better on average, so the mean ETX per shortest-path hop is the floor for
the known-route cost.
"""

from __future__ import annotations

import heapq

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


def link_loss(nbrs: list[list[tuple[int, int, int]]], one: int) -> dict[tuple[int, int], float]:
    """Loss probability of every link u -> j. ``nbrs[u]``: (j, loss threshold,
    rssi) per link, where the loss probability is threshold / ``one``."""
    loss: dict[tuple[int, int], float] = {}
    for u, lst in enumerate(nbrs):
        for j, thr, _r in lst:
            loss[(u, j)] = thr / one
    return loss


def etx_from(nbrs: list[list[tuple[int, int, int]]], loss: dict[tuple[int, int], float],
             alive: list[bool], src: int) -> dict[int, float]:
    """Two-way ETX of the best path from ``src`` to every node it reaches,
    over the links of ``nbrs`` with the loss of ``link_loss``."""
    best = {src: 0.0}
    todo = [(0.0, src)]
    while todo:
        c, u = heapq.heappop(todo)
        if c > best[u]:
            continue
        for j, _thr, _r in nbrs[u]:
            if not alive[j]:
                continue
            ok = (1.0 - loss[(u, j)]) * (1.0 - loss.get((j, u), 1.0))
            if ok <= 0.0:
                continue
            nc = c + 1.0 / ok
            if nc < best.get(j, float("inf")):
                best[j] = nc
                heapq.heappush(todo, (nc, j))
    return best
