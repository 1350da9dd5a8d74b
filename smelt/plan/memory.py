"""Static memory plan: every intermediate tensor (and each node's scratch) gets an offset in
one arena, from liveness over the node order; the plan is verified before it is used."""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import registry
from ..errors import PlanError
from ..ir import Graph

ALIGN = 8


def align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class Buffer:
    """A region of the arena: a tensor, or a node's scratch (name '<node>#scratch')."""
    name: str
    size: int          # bytes, aligned
    first: int         # index of the node that writes it
    last: int          # index of the last node that reads it
    offset: int = -1


@dataclass
class MemoryPlan:
    buffers: dict[str, Buffer] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)   # tensor -> tensor whose storage it shares
    arena_size: int = 0

    def root(self, tensor: str) -> str:
        while tensor in self.alias:
            tensor = self.alias[tensor]
        return tensor

    def offset(self, tensor: str) -> int | None:
        b = self.buffers.get(self.root(tensor))
        return None if b is None else b.offset

    def scratch_offset(self, node_name: str) -> int | None:
        b = self.buffers.get(f"{node_name}#scratch")
        return None if b is None else b.offset


def build(g: Graph, in_place: bool = True) -> MemoryPlan:
    plan = MemoryPlan()
    external = set(g.inputs) | set(g.outputs)
    last_use = {i: step for step, node in enumerate(g.nodes) for i in node.inputs if i}
    for step, node in enumerate(g.nodes):
        op = registry.get(node.op)
        out = node.outputs[0] if node.outputs else ""
        if not out or out in external:
            continue
        if op.alias and not g[node.inputs[0]].is_const:
            # Reshape, Flatten, Squeeze, ...: the output is the input's storage.
            plan.alias[out] = node.inputs[0]
        elif op.elementwise and in_place:
            # Write over an input of the same shape and dtype that dies here.
            for i in node.inputs:
                if i and _can_overwrite(g, plan, i, out, step, last_use, external):
                    plan.alias[out] = i
                    break
    for step, node in enumerate(g.nodes):
        for name in node.outputs:
            if name and name not in external and name not in plan.alias and not g[name].is_const:
                plan.buffers[name] = Buffer(name, align(g[name].nbytes), step, step)
        for name in node.inputs:
            if name:
                root = plan.root(name)
                if root in plan.buffers:
                    plan.buffers[root].last = max(plan.buffers[root].last, step)
        scratch = registry.get(node.op).scratch(node, g)
        if scratch:
            key = f"{node.name}#scratch"
            plan.buffers[key] = Buffer(key, align(scratch), step, step)
    place_greedy_by_size(list(plan.buffers.values()))
    plan.arena_size = max((b.offset + b.size for b in plan.buffers.values()), default=0)
    verify(plan)
    return plan


def _can_overwrite(g: Graph, plan: MemoryPlan, x: str, y: str, step: int, last_use: dict, external) -> bool:
    root = plan.root(x)
    if g[x].is_const or root in external or g[x].shape != g[y].shape or g[x].dtype != g[y].dtype:
        return False
    sharing = [t for t in [root, *plan.alias] if plan.root(t) == root]
    return all(last_use.get(t, -1) <= step for t in sharing)


def overlaps_in_time(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def place_greedy_by_size(buffers: list[Buffer]) -> None:
    """TFLM's planner: largest first, each at the lowest offset free during its lifetime."""
    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first, b.name)):
        live = sorted((p for p in placed if overlaps_in_time(p, buf)), key=lambda p: p.offset)
        offset = 0
        for p in live:
            if p.offset - offset >= buf.size:
                break
            offset = max(offset, p.offset + p.size)
        buf.offset = offset
        placed.append(buf)


def verify(plan: MemoryPlan) -> None:
    """No two buffers live at the same time share a byte; every offset is aligned."""
    bufs = sorted((b for b in plan.buffers.values() if b.size), key=lambda b: b.offset)
    for i, a in enumerate(bufs):
        if a.offset < 0 or a.offset % ALIGN:
            raise PlanError(f"buffer '{a.name}' has a bad offset {a.offset}")
        if a.offset + a.size > plan.arena_size:
            raise PlanError(f"buffer '{a.name}' ends past the arena")
        for b in bufs[i + 1:]:
            if b.offset >= a.offset + a.size:
                break
            if overlaps_in_time(a, b):
                raise PlanError(f"memory plan overlap: '{a.name}' [{a.offset}, {a.offset + a.size}) "
                                f"and '{b.name}' [{b.offset}, {b.offset + b.size}) are live together")
