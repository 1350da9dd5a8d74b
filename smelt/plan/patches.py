"""Choose patch-based inference under a RAM budget: the split point and the n x n patch grid
(passes/patch.py does the rewrite) whose memory plan fits the budget with the fewest recomputed
MACs (the halos overlap, so patches recompute some of the prefix).

The budget counts activation RAM: the arena (activations + scratch) plus the input and output
buffers wherever they live (the caller's buffers when the plan keeps them out of the arena), the
figure TFLM's arena would have to hold.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

from .. import registry
from ..errors import SmeltError
from ..ir import Graph
from ..passes import patch
from . import memory

MAX_GRID = 8
ASSEMBLY = ("place", "concat")   # PlaceTile into the full tensor; Concat along W then H


class BudgetError(SmeltError):
    pass


@dataclass
class Patching:
    """One candidate (or the choice): prefix g.nodes[:split + 1] in grid x grid patches."""
    split: int
    node: str            # the last node of the prefix
    tensor: str          # its output, assembled whole from the patches
    shape: tuple
    grid: int
    assemble: str
    arena: int           # plan.arena_size of the patched graph
    ram: int             # arena + input/output buffers outside it
    macs: int            # of the patched graph
    extra_macs: int      # recomputed by the halos

    def describe(self) -> str:
        pct = 100.0 * self.extra_macs / max(self.macs - self.extra_macs, 1)
        return (f"patches: layers up to '{self.node}' (output {'x'.join(map(str, self.shape))}) run as "
                f"{self.grid}x{self.grid} patches ({self.assemble}); activation RAM {self.ram:,} B "
                f"(arena {self.arena:,} B + I/O); +{self.extra_macs:,} MACs recomputed ({pct:.1f}%)")


def macs(g: Graph) -> int:
    return sum(registry.get(n.op).macs(n, g) for n in g.nodes)


def _plan(g: Graph) -> memory.MemoryPlan:
    """The plan of one candidate, by the heuristics only: an exact solver can only shrink it,
    and costs seconds per candidate (api.compile plans the chosen graph in full)."""
    if "exact" in inspect.signature(memory.build).parameters:
        return memory.build(g, exact=False)
    return memory.build(g)


def splits(g: Graph) -> list[int]:
    """Indices of the nodes that can end a patched prefix."""
    out = []
    for k in range(len(g.nodes)):
        try:
            patch.check_prefix(g, k)
        except patch.PrefixError:
            continue
        out.append(k)
    return out


def _outside(g: Graph, plan: memory.MemoryPlan) -> set[str]:
    """The graph's inputs and outputs that the plan keeps out of the arena (the caller's buffers)."""
    return {t for t in g.inputs + g.outputs if plan.root(t) not in plan.buffers}


def activation_ram(g: Graph, plan: memory.MemoryPlan) -> int:
    """Arena bytes plus the graph's input and output buffers that the plan keeps outside it."""
    return plan.arena_size + sum(g[t].nbytes for t in _outside(g, plan))


def _need(g: Graph, n, outside: set[str]) -> int:
    """Bytes live while node n runs, at least: its inputs and outputs, except where the planner
    may share their memory (aliases, elementwise and depthwise ops in place, Concat inputs inside
    the output) or they are the caller's."""
    size = {t: g[t].nbytes for t in n.inputs + n.outputs if t and not g[t].is_const and t not in outside}
    ins = [size[t] for t in n.inputs if t in size]
    outs = [size[t] for t in n.outputs if t in size]
    op = registry.get(n.op)
    if op.alias or n.op == "QDepthwiseConv2D" or (n.op == "Conv" and n.attrs.get("group", 1) > 1):
        return max(ins + outs, default=0)
    if op.elementwise:
        return max([sum(ins), *outs])
    if n.op == "Concat":
        return sum(outs)
    return sum(ins) + sum(outs)


def _floor(g: Graph, k: int, outside: set[str], pg: Graph | None = None, grid: int = 0) -> int:
    """A lower bound of the activation RAM of patching g at split k, before planning it: the
    caller's I/O, plus the most of, each node after the split (it runs unpatched) and, with the
    patched graph pg, each node of the last patch next to the pieces of the split output made by
    the patches before it (they wait to be assembled)."""
    floor = max((_need(g, n, outside) for n in g.nodes[k + 1:]), default=0)
    if pg is not None:
        tag = f"_p{grid - 1}_{grid - 1}"
        last = [n for n in pg.nodes if n.name.endswith(tag) and n.op not in ("PlaceTile", "Concat")]
        done = g[g.nodes[k].outputs[0]].nbytes - pg[last[-1].outputs[0]].nbytes
        floor = max([floor, *(done + _need(pg, n, outside) for n in last)])
    return floor + sum(g[t].nbytes for t in outside)


def candidates(g: Graph, ks: list[int] | None = None) -> list[tuple[int, int, Graph]]:
    """(split, grid, patched graph with the "place" assembly) for the splits `ks` (default: all)
    and every grid, unplanned."""
    out = []
    for k in splits(g) if ks is None else ks:
        shape = g[g.nodes[k].outputs[0]].shape
        ha, wa = patch.AXES[patch.check_prefix(g, k)]
        for grid in range(2, min(MAX_GRID, shape[ha], shape[wa]) + 1):
            out.append((k, grid, patch.run(g, k, grid, "place")))
    return out


def _evaluate(g: Graph, k: int, grid: int, placed: Graph, base_macs: int) -> Patching:
    """Plan both assemblies of one candidate; the one with the lower activation RAM."""
    best = None
    for assemble in ASSEMBLY:
        pg = placed if assemble == "place" else patch.run(g, k, grid, assemble)
        plan = _plan(pg)
        m = macs(pg)
        c = Patching(k, g.nodes[k].name, g.nodes[k].outputs[0], g[g.nodes[k].outputs[0]].shape, grid, assemble,
                     plan.arena_size, activation_ram(pg, plan), m, m - base_macs)
        if best is None or c.ram < best.ram:
            best = c
    return best


def search(g: Graph, budget: int) -> Patching | None:
    """The patching that fits `budget` bytes of activation RAM with the fewest extra MACs; None
    when the unpatched graph fits already. Raises BudgetError when nothing fits."""
    base = _plan(g)
    base_ram = activation_ram(g, base)
    if base_ram <= budget:
        return None
    base_macs = macs(g)
    outside = _outside(g, base)
    floors = {k: _floor(g, k, outside) for k in splits(g)}
    seen = {}
    # Candidates that may fit, fewest MACs first: the first that fits is the answer.
    for k, grid, placed in sorted(candidates(g, [k for k, f in floors.items() if f <= budget]),
                                  key=lambda c: (macs(c[2]), c[0], c[1])):
        if _floor(g, k, outside, placed, grid) > budget:
            continue
        c = seen[k, grid] = _evaluate(g, k, grid, placed, base_macs)
        if c.ram <= budget:
            return c
    # Nothing fits: the smallest RAM reachable, for the error (splits with a low floor first).
    best = None
    for k in sorted(floors, key=floors.get):
        if best is not None and floors[k] >= best.ram:
            break
        for _, grid, placed in candidates(g, [k]):
            if best is not None and _floor(g, k, outside, placed, grid) >= best.ram:
                continue
            c = seen.get((k, grid)) or _evaluate(g, k, grid, placed, base_macs)
            if best is None or c.ram < best.ram:
                best = c
    smallest = min(base_ram, best.ram) if best else base_ram
    how = (f"with {best.grid}x{best.grid} patches up to '{best.node}'" if best and best.ram < base_ram
           else "(patches do not help this graph)")
    raise BudgetError(f"model '{g.name}' needs {base_ram:,} B of activation RAM (arena + I/O); the smallest "
                      f"reachable is {smallest:,} B {how}: it misses the budget of {budget:,} B by "
                      f"{smallest - budget:,} B. Raise --ram-budget to at least {smallest:,} B")


def apply(g: Graph, budget: int) -> tuple[Graph, Patching | None]:
    """(graph to compile, the patching chosen or None) under `budget` bytes of activation RAM."""
    choice = search(g, budget)
    if choice is None:
        return g, None
    return patch.run(g, choice.split, choice.grid, choice.assemble), choice


def best_under_budget(graph: Graph, budget: int) -> tuple[int, str]:
    """For bench/memory.py: (arena bytes, description) of the optimized graph (pipeline.optimize)
    compiled under `budget` bytes of activation RAM (arena + I/O). Raises BudgetError when
    nothing fits."""
    g, choice = apply(graph, budget)
    if choice is None:
        return memory.build(g).arena_size, "no patches needed"
    return choice.arena, choice.describe()


def parse_bytes(text: str) -> int:
    """'32K', '32KiB', '0.5M', '32768' -> bytes (K = 1024)."""
    s = str(text).strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1024, "M": 1024 ** 2}.get(s[-1:], 1)
    num = s[:-1] if mult > 1 else s
    try:
        value = float(num)
    except ValueError:
        raise SmeltError(f"RAM budget '{text}' is not a size: use bytes or a K/KiB/M suffix, e.g. 32K") from None
    if value <= 0:
        raise SmeltError(f"RAM budget '{text}' must be positive")
    return int(value * mult)
