"""Operator order: among the topological orders of a graph with branches (residual blocks,
inception, multi-head) pick one whose peak of live bytes is smallest.

Exact for small graphs: dynamic programming over the sets of nodes already run (each set is one
state; its live bytes do not depend on the order that reached it), within a budget of states.
Otherwise a greedy order (run the ready node that leaves the fewest live bytes). The order kept
is the one whose real memory plan is smallest, the original order winning ties, so a graph
without branches is returned as it was. Only the order changes: outputs stay identical.
"""
from __future__ import annotations

from .. import registry
from ..ir import Graph
from . import memory

STATE_BUDGET = 5000


class _Model:
    """Bytes of each storage (Reshape-family outputs share their input's) and who uses it."""

    def __init__(self, g: Graph, io_in_arena: bool):
        self.n = len(g.nodes)
        storage: dict[str, str] = {}
        for node in g.nodes:
            if registry.get(node.op).alias and node.inputs and node.inputs[0] and not g[node.inputs[0]].is_const:
                storage[node.outputs[0]] = storage.get(node.inputs[0], node.inputs[0])
        external = set() if io_in_arena else set(g.inputs) | set(g.outputs)
        producer = {o: k for k, node in enumerate(g.nodes) for o in node.outputs if o}
        self.size: dict[str, int] = {}
        self.writer: dict[str, int] = {}        # storage -> node writing it (-1: a graph input)
        self.readers: dict[str, int] = {}       # storage -> bitmask of nodes reading it
        self.pinned: set[str] = set()           # read by the caller at the end
        for name in {t for node in g.nodes for t in [*node.inputs, *node.outputs] if t} | set(g.inputs):
            if g[name].is_const or name in external:
                continue
            root = storage.get(name, name)
            self.size[root] = memory.align(g[root].nbytes)
            self.writer.setdefault(root, producer.get(root, -1))
            self.readers.setdefault(root, 0)
        for k, node in enumerate(g.nodes):
            for t in node.inputs:
                if t in self.size or storage.get(t) in self.size:
                    root = storage.get(t, t)
                    self.readers[root] |= 1 << k
        for o in g.outputs:
            if storage.get(o, o) in self.size:
                self.pinned.add(storage.get(o, o))
        self.preds = [0] * self.n
        for k, node in enumerate(g.nodes):
            for t in node.inputs:
                if t in producer:
                    self.preds[k] |= 1 << producer[t]
        self.scratch = [memory.align(registry.get(node.op).scratch(node, g) or 0) for node in g.nodes]
        self.new = [sum(self.size[r] for r, w in self.writer.items() if w == k) for k in range(self.n)]

    def live(self, done: int) -> int:
        """Bytes alive once the nodes in `done` have run."""
        total = 0
        for r, size in self.size.items():
            w = self.writer[r]
            if (w < 0 or done >> w & 1) and (r in self.pinned or self.readers[r] & ~done):
                total += size
        return total

    def ready(self, done: int):
        for k in range(self.n):
            if not done >> k & 1 and self.preds[k] & ~done == 0:
                yield k

    def step_peak(self, done: int, k: int, live: int) -> int:
        return live + self.new[k] + self.scratch[k]

    def peak(self, order: list[int]) -> int:
        done, peak = 0, self.live(0)
        for k in order:
            peak = max(peak, self.step_peak(done, k, self.live(done)))
            done |= 1 << k
        return peak


def exact_order(m: _Model, budget: int = STATE_BUDGET) -> list[int] | None:
    """The order of least peak, by DP over the sets of nodes run; None past `budget` states."""
    layer = {0: (m.live(0), None, None)}      # done-set -> (peak so far, previous set, node)
    history = []
    for _ in range(m.n):
        nxt: dict[int, tuple] = {}
        for done, (peak, _, _) in layer.items():
            live = m.live(done)
            for k in m.ready(done):
                p = max(peak, m.step_peak(done, k, live))
                key = done | 1 << k
                if key not in nxt or p < nxt[key][0]:
                    nxt[key] = (p, done, k)
        history.append(layer)
        layer = nxt
        if sum(len(h) for h in history) + len(layer) > budget:
            return None
    (full, _), = [(d, v) for d, v in layer.items()]
    order, done = [], full
    for h in reversed(history + [layer]):
        _, prev, k = h[done]
        if k is None:
            break
        order.append(k)
        done = prev
    return order[::-1]


def greedy_order(m: _Model) -> list[int]:
    """Run next the ready node with the lowest peak now, then the fewest live bytes after."""
    done, order = 0, []
    for _ in range(m.n):
        live = m.live(done)
        k = min(m.ready(done), key=lambda k: (m.step_peak(done, k, live), m.live(done | 1 << k), k))
        order.append(k)
        done |= 1 << k
    return order


def run(g: Graph, io_in_arena: bool = False, exact: bool = True) -> tuple[Graph, str]:
    """(graph with its nodes in the chosen order, how the order was chosen)."""
    if len(g.nodes) < 3:
        return g, "as given"
    m = _Model(g, io_in_arena)
    candidates = {"as given": list(range(m.n))}
    order = exact_order(m) if exact else None
    if order is not None:
        candidates["exact (least live peak)"] = order
    candidates["greedy"] = greedy_order(m)

    def arena(order: list[int]) -> int:
        h = g.copy()
        h.nodes = [h.nodes[k] for k in order]
        return memory.build(h, io_in_arena=io_in_arena, exact=False).arena_size

    best, best_size = "as given", None
    for name, order in candidates.items():
        if name != "as given" and order == candidates["as given"]:
            continue
        size = arena(order)
        if best_size is None or size < best_size:
            best, best_size = name, size
    if best == "as given":
        return g, best
    h = g.copy()
    h.nodes = [h.nodes[k] for k in candidates[best]]
    return h, best
