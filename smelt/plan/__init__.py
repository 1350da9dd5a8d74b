"""The memory plan of an optimized graph: operator order (schedule.py), then offsets (memory.py)."""
from __future__ import annotations

from ..ir import Graph
from . import memory, schedule


def make(g: Graph, io_in_arena: bool = False, planner: str = "best", exact: bool = True):
    """(graph in its execution order, verified MemoryPlan). planner="best": the order of least
    peak, Concat in place, every offset heuristic and CP-SAT; "greedy-by-size": the node order as
    given and TFLM's heuristic alone (the baseline)."""
    order = "as given"
    if planner == "best":
        g, order = schedule.run(g, io_in_arena=io_in_arena, exact=exact)
    plan = memory.build(g, io_in_arena=io_in_arena, strategy=planner, concat_in_place=planner == "best",
                        exact=exact)
    if plan.elided:
        # A Concat in place reserves its whole output from its first input on: rarely, copying is smaller.
        copying = memory.build(g, io_in_arena=io_in_arena, strategy=planner, concat_in_place=False, exact=exact)
        if copying.arena_size < plan.arena_size:
            plan = copying
    plan.order = order
    return g, plan
