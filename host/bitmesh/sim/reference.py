"""Graph references that do not depend on any router (networkx).

``cds_greedy``: the size of a greedy connected dominating set (Guha and
Khuller's first algorithm: start at the highest-degree node, then repeatedly
turn black the grey node that covers the most still-white nodes) of the
connected component that contains the first broadcast's origin. It is a
near-floor for how many transmissions one network-wide broadcast needs.

``etx_from``: the expected transmissions (ETX, De Couto et al.) of the best
acknowledged path from one node to every other. A relay is acked passively:
the hop before it hears it forward the frame, so a relay hop costs
1 / (P(the frame arrives) x P(the forward is heard back)). The destination
has no forward to be heard by, so it sends an ack frame for every copy it
receives, and the last hop costs (1 + P(arrives)) / (P(arrives) x P(the ack
comes back)): 2.35 at 10% loss each way. With hop-by-hop acks no router can
do better on average, so the mean of this per shortest-path hop is the
floor for the known-route cost.
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
    """Expected transmissions of the best acknowledged path from ``src`` to
    every node it reaches, over the links of ``nbrs`` with the loss of
    ``link_loss``: relay hops acked passively, the last hop by an ack frame."""
    best = {src: 0.0}  # relay hops only: the cost of getting a frame to u
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
    out: dict[int, float] = {}
    for u, c in best.items():
        for j, _thr, _r in nbrs[u]:
            if j == src or not alive[j]:
                continue
            arrives = 1.0 - loss[(u, j)]
            ok = arrives * (1.0 - loss.get((j, u), 1.0))
            if ok > 0.0:
                nc = c + (1.0 + arrives) / ok
                if nc < out.get(j, float("inf")):
                    out[j] = nc
    return out
