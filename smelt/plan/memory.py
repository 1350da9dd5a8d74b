"""Static memory plan: every intermediate tensor (and each node's scratch) gets an offset in
one arena, from liveness over the node order; the plan is verified before it is used.

Steps: aliases (Reshape family; Concat inputs written straight into their slice of the output;
elementwise ops over a dying input; convolutions whose output overlaps their dying input, the op
saying how far ahead it must start: `in_place_lead`) -> one Buffer per storage root with its lifetime -> offsets
(several heuristics, then an exact CP-SAT solve for small plans) -> verify.
With io_in_arena the graph inputs and outputs are planned like any tensor (inputs live from the
start, outputs until the end), as TFLM does; otherwise they are the caller's buffers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import registry
from ..errors import PlanError
from ..ir import Graph

ALIGN = 8
EXACT_MAX_BUFFERS = 60        # CP-SAT only for plans this small
EXACT_SECONDS = 2.0


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
    tie: tuple[str, int] | None = None   # (buffer, d): offset = that buffer's offset + d, overlapping it


@dataclass
class MemoryPlan:
    buffers: dict[str, Buffer] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)   # tensor -> tensor whose storage it shares
    arena_size: int = 0
    alias_offset: dict[str, int] = field(default_factory=dict)  # byte offset inside the alias target
    io_in_arena: bool = False      # graph inputs/outputs are arena buffers (else the caller's)
    elided: set[str] = field(default_factory=set)   # nodes with nothing to do (Concat in place)
    placement: str = "greedy-by-size"               # the strategy whose offsets were kept
    candidates: dict[str, int] = field(default_factory=dict)   # strategy -> arena bytes
    lower_bound: int = 0           # max over steps of the live bytes: no placement does better
    order: str = "as given"        # how the node order was chosen (plan/schedule.py)
    overlapped: set[str] = field(default_factory=set)      # nodes whose output overlaps their input
    ties: dict[str, tuple[str, int]] = field(default_factory=dict)   # input root -> (output, lead)
    node_tie: dict[str, str] = field(default_factory=dict)            # node -> its tied input root

    def root(self, tensor: str) -> str:
        while tensor in self.alias:
            tensor = self.alias[tensor]
        return tensor

    def byte_offset(self, tensor: str) -> int:
        """Bytes from the root's start to this tensor's first byte (non-zero for Concat slices)."""
        at = 0
        while tensor in self.alias:
            at += self.alias_offset.get(tensor, 0)
            tensor = self.alias[tensor]
        return at

    def offset(self, tensor: str) -> int | None:
        b = self.buffers.get(self.root(tensor))
        return None if b is None else b.offset + self.byte_offset(tensor)

    def scratch_offset(self, node_name: str) -> int | None:
        b = self.buffers.get(f"{node_name}#scratch")
        return None if b is None else b.offset

    def io_bytes_outside(self, g: Graph) -> int:
        """Bytes of the graph's inputs and outputs held by the caller (0 with io_in_arena)."""
        if self.io_in_arena:
            return 0
        return sum(g[n].nbytes for n in dict.fromkeys(g.inputs + g.outputs) if not g[n].is_const)


def build(g: Graph, in_place: bool = True, io_in_arena: bool = False, concat_in_place: bool = True,
          strategy: str = "best", exact: bool = True, overlap: bool = True) -> MemoryPlan:
    """The verified plan for the graph in its node order. strategy='greedy-by-size' keeps TFLM's
    heuristic alone; 'best' tries every heuristic (and CP-SAT when `exact`) and keeps the smallest.
    `overlap` (with in_place and exact): convolutions may write over their dying input (ops with
    `in_place_lead`): the input's buffer is tied to the output's, `lead` bytes above it. A tie
    constrains the placement, which can cost more at other steps than it saves at its own: each
    is kept only if the arena (heuristics alone) does not grow, largest saving first."""
    args = (g, in_place, io_in_arena, concat_in_place, strategy)
    plan = _build(*args, exact, set())
    if not (overlap and in_place and exact):
        return plan
    candidates = _overlap_candidates(g, plan, io_in_arena)
    if not candidates:
        return plan
    # Overlaps along a chain often pay only together: try all first, then drop those that do not
    # help; failing that, add them one by one.
    chosen, size = set(candidates), _build(*args, False, set(candidates)).arena_size
    if size <= _build(*args, False, set()).arena_size:
        for name in reversed(candidates):
            trial = _build(*args, False, chosen - {name}).arena_size
            if trial <= size:
                chosen.discard(name)
                size = trial
    else:
        chosen, size = set(), _build(*args, False, set()).arena_size
        for name in candidates:
            trial = _build(*args, False, chosen | {name}).arena_size
            if trial <= size:
                chosen.add(name)
                size = trial
    if chosen:
        overlapped = _build(*args, exact, chosen)
        if overlapped.arena_size < plan.arena_size:
            return overlapped
    return plan


def _build(g: Graph, in_place: bool, io_in_arena: bool, concat_in_place: bool, strategy: str, exact: bool,
           overlaps: set) -> MemoryPlan:
    plan = MemoryPlan(io_in_arena=io_in_arena)
    external = set() if io_in_arena else set(g.inputs) | set(g.outputs)
    n = len(g.nodes)
    last_use = {i: step for step, node in enumerate(g.nodes) for i in node.inputs if i}
    for o in g.outputs:
        last_use[o] = n          # outputs are read after the last node
    if concat_in_place:
        _concat_in_place(g, plan, external)
    for step, node in enumerate(g.nodes):
        op = registry.get(node.op)
        out = node.outputs[0] if node.outputs else ""
        if not out or out in external or out in plan.alias:
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
        elif node.name in overlaps:
            _overlap_in_place(g, plan, node, op, step, last_use, external)
    plan.buffers = lifetimes(g, plan, external)
    clash = _group_clash(list(plan.buffers.values()))
    if clash:   # members of a chain live together beyond their tied pairs: drop that chain's ties
        return _build(g, in_place, io_in_arena, concat_in_place, strategy, exact,
                      {n for n in overlaps if plan.node_tie.get(n) not in clash})
    place(plan, strategy, exact)
    verify(plan, g)
    return plan


def _group_clash(bufs: list[Buffer]) -> set[str]:
    """Buffers of tied groups that overlap another member (not their tied pair) in time and memory."""
    tied = groups(bufs)
    bad = set()
    for a in bufs:
        for b in bufs:
            if a.name < b.name and a.name in tied and b.name in tied and tied[a.name][0] == tied[b.name][0] \
                    and overlaps_in_time(a, b) and not _tied(a, b):
                da, db = tied[a.name][1], tied[b.name][1]
                if da < db + b.size and db < da + a.size:
                    bad.update((a.name, b.name))
    return bad


def _overlap_candidates(g: Graph, plan: MemoryPlan, io_in_arena: bool) -> list[str]:
    """Nodes whose output could overlap their input, largest saving first."""
    found = []
    for node in g.nodes:
        op = registry.get(node.op)
        if not hasattr(op, "in_place_lead") or not node.outputs or node.outputs[0] in plan.alias:
            continue
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        if x.is_const or (not io_in_arena and (x.name in g.inputs or y.name in g.outputs)):
            continue
        lead = align(op.in_place_lead(node, g))
        saved = x.nbytes + y.nbytes - max(y.nbytes, lead + x.nbytes)
        if saved > 0:
            found.append((-saved, node.name))
    return [name for _, name in sorted(found)]


def lifetimes(g: Graph, plan: MemoryPlan, external: set) -> dict[str, Buffer]:
    """One Buffer per storage root: from the first write of any tensor sharing it to the last read."""
    n = len(g.nodes)
    spans: dict[str, list[int]] = {}
    sizes: dict[str, int] = {}

    def touch(name: str, step: int) -> None:
        if not name or g[name].is_const:
            return
        root = plan.root(name)
        if root in external:
            return
        span = spans.setdefault(root, [step, step])
        span[0], span[1] = min(span[0], step), max(span[1], step)
        sizes[root] = g[root].nbytes

    for name in g.inputs:
        touch(name, 0)                  # written by the caller before the first node
    bufs: dict[str, Buffer] = {}
    for step, node in enumerate(g.nodes):
        for name in list(node.outputs) + list(node.inputs):
            touch(name, step)
        scratch = registry.get(node.op).scratch(node, g)
        if scratch:
            key = f"{node.name}#scratch"
            bufs[key] = Buffer(key, align(scratch), step, step)
    for name in g.outputs:
        touch(name, max(n - 1, 0))      # read by the caller after the last node
    for root, (first, last) in spans.items():
        bufs[root] = Buffer(root, align(sizes[root]), first, last)
    for x, (y, lead) in plan.ties.items():
        if x in bufs and y in bufs:
            bufs[x].tie = (y, lead)
    return bufs


def _concat_in_place(g: Graph, plan: MemoryPlan, external: set) -> None:
    """A Concat whose inputs are contiguous slices of its output (everything before the axis is
    1: e.g. NCHW channels with batch 1) needs no copy: each producer writes into its slice."""
    producers = {o: node for node in g.nodes for o in node.outputs if o}
    claimed: set[str] = set()
    for node in g.nodes:
        if node.op != "Concat" or not node.outputs or not node.inputs:
            continue
        y = g[node.outputs[0]]
        if math.prod(y.shape[:node.attrs["axis"]]) != 1 or y.size == 0:
            continue
        ins = list(node.inputs)
        ok = len(set(ins)) == len(ins) and all(
            i and not g[i].is_const and i not in external and i not in g.inputs and i not in g.outputs
            and i in producers and i not in plan.alias and i not in claimed
            and not registry.get(producers[i].op).alias and len(producers[i].outputs) == 1
            for i in ins)
        if not ok:
            continue
        at = 0
        for i in ins:
            plan.alias[i] = y.name
            plan.alias_offset[i] = at
            at += g[i].nbytes
        claimed.update(ins)
        plan.elided.add(node.name)


def _overlap_in_place(g: Graph, plan: MemoryPlan, node, op, step: int, last_use: dict, external) -> None:
    """The output starts op.in_place_lead bytes before its input, which dies here (TinyEngine's
    in-place depthwise; also a stride-2 or widening layer whose output outruns its input): the
    input's storage root is tied to the output's buffer at that offset."""
    x, y = node.inputs[0], node.outputs[0]
    root = plan.root(x)
    if not x or g[x].is_const or root in external or plan.byte_offset(x) or g[root].nbytes != g[x].nbytes \
            or root in plan.ties:
        return
    sharing = [t for t in [root, *plan.alias] if plan.root(t) == root]
    if any(last_use.get(t, -1) > step for t in sharing):
        return
    lead = align(op.in_place_lead(node, g))
    if lead >= g[y].nbytes:
        return                        # no overlap: nothing saved
    plan.ties[root] = (y, lead)
    plan.node_tie[node.name] = root
    plan.overlapped.add(node.name)


def _can_overwrite(g: Graph, plan: MemoryPlan, x: str, y: str, step: int, last_use: dict, external) -> bool:
    root = plan.root(x)
    if g[x].is_const or root in external or g[x].shape != g[y].shape or g[x].dtype != g[y].dtype:
        return False
    if plan.byte_offset(x) or x in plan.alias_offset:
        return False
    sharing = [t for t in [root, *plan.alias] if plan.root(t) == root]
    return all(last_use.get(t, -1) <= step for t in sharing)


def overlaps_in_time(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


# ------------------------------------------------------------------ offset assignment

def groups(buffers: list[Buffer]) -> dict[str, tuple[str, int]]:
    """Tied buffers (chains of overlapped inputs and outputs) -> (group, offset from the group's
    lowest member); untied buffers are not listed."""
    by_name = {b.name: b for b in buffers}
    rel: dict[str, tuple[str, int]] = {}

    def resolve(b: Buffer) -> tuple[str, int]:
        if b.name not in rel:
            rel[b.name] = (b.name, 0)
            if b.tie and b.tie[0] in by_name:
                head, d = resolve(by_name[b.tie[0]])
                rel[b.name] = (head, d + b.tie[1])
        return rel[b.name]

    for b in buffers:
        resolve(b)
    low: dict[str, int] = {}
    for head, d in rel.values():
        low[head] = min(low.get(head, 0), d)
    sizes: dict[str, int] = {}
    for head, _ in rel.values():
        sizes[head] = sizes.get(head, 0) + 1
    return {n: (head, d - low[head]) for n, (head, d) in rel.items() if sizes[head] > 1}


def _tied(a: Buffer, b: Buffer) -> bool:
    return (a.tie is not None and a.tie[0] == b.name) or (b.tie is not None and b.tie[0] == a.name)


def _clash(a: Buffer, a_off: int, b: Buffer) -> bool:
    return (overlaps_in_time(a, b) and not _tied(a, b)
            and a_off < b.offset + b.size and b.offset < a_off + a.size)


def _first_fit(buffers: list[Buffer], best_fit: bool = False) -> None:
    """Place buffers in the given order, each in a gap free during its lifetime: the lowest
    (first fit) or the tightest that fits (best fit; the top of the arena otherwise). A group of
    tied buffers is placed whole, at the lowest offset where every member fits."""
    placed: list[Buffer] = []
    done: set[str] = set()
    tied = groups(buffers)
    members: dict[str, list[tuple[Buffer, int]]] = {}
    for b in buffers:
        if b.name in tied:
            members.setdefault(tied[b.name][0], []).append((b, tied[b.name][1]))
    for buf in buffers:
        if buf.name in done:
            continue
        if buf.name in tied:
            group = members[tied[buf.name][0]]
            starts = sorted({0} | {p.offset + p.size - d for m, d in group for p in placed
                                   if overlaps_in_time(p, m) and p.offset + p.size >= d})
            base = next(s for s in starts
                        if not any(_clash(m, s + d, p) for m, d in group for p in placed))
            for m, d in group:
                m.offset = base + d
                placed.append(m)
                done.add(m.name)
            continue
        live = sorted((p for p in placed if overlaps_in_time(p, buf)), key=lambda p: p.offset)
        offset, choice, slack = 0, None, None
        for p in live:
            gap = p.offset - offset
            if gap >= buf.size:
                if not best_fit:
                    choice = offset
                    break
                if slack is None or gap - buf.size < slack:
                    choice, slack = offset, gap - buf.size
            offset = max(offset, p.offset + p.size)
        buf.offset = offset if choice is None else choice
        placed.append(buf)


def place_greedy_by_size(buffers: list[Buffer]) -> None:
    """TFLM's planner: largest first, each at the lowest offset free during its lifetime."""
    _first_fit(sorted(buffers, key=lambda b: (-b.size, b.first, b.name)))


def _conflict_weight(buffers: list[Buffer]) -> dict[str, int]:
    return {b.name: sum(o.size for o in buffers if o is not b and overlaps_in_time(o, b)) for b in buffers}


def heuristics(buffers: list[Buffer]) -> dict:
    """name -> function placing the buffers in place."""
    def ordered(key, best_fit=False):
        return lambda bufs: _first_fit(sorted(bufs, key=key), best_fit)

    def by_conflict(bufs, best_fit=False):
        w = _conflict_weight(bufs)
        _first_fit(sorted(bufs, key=lambda b: (-(w[b.name] + b.size), -b.size, b.name)), best_fit)

    return {
        "greedy-by-size": place_greedy_by_size,
        "greedy-by-size best-fit": ordered(lambda b: (-b.size, b.first, b.name), True),
        "greedy-by-start": ordered(lambda b: (b.first, -b.size, b.name)),
        "greedy-by-area": ordered(lambda b: (-b.size * (b.last - b.first + 1), b.name)),
        "greedy-by-lifetime": ordered(lambda b: (-(b.last - b.first), -b.size, b.name)),
        "greedy-by-conflict": by_conflict,
        "greedy-by-conflict best-fit": lambda bufs: by_conflict(bufs, True),
    }


def peak_live(buffers: list[Buffer]) -> int:
    """Max over steps of the bytes alive together (less what tied pairs share): a lower bound on
    any arena."""
    if not buffers:
        return 0
    by_name = {b.name: b for b in buffers}
    events = sorted({b.first for b in buffers})

    def shared(b: Buffer, s: int) -> int:
        o = by_name.get(b.tie[0]) if b.tie else None
        if o is None or not o.first <= s <= o.last:
            return 0
        lo, hi = b.tie[1], b.tie[1] + b.size   # b relative to o's start
        return max(0, min(hi, o.size) - max(lo, 0))

    return max(sum(b.size - shared(b, s) for b in buffers if b.first <= s <= b.last) for s in events)


def _extent(buffers) -> int:
    return max((b.offset + b.size for b in buffers), default=0)


def place(plan: MemoryPlan, strategy: str = "best", exact: bool = True) -> None:
    bufs = list(plan.buffers.values())
    plan.lower_bound = peak_live(bufs)
    funcs = heuristics(bufs)
    names = list(funcs) if strategy == "best" else [strategy]
    if strategy not in funcs and strategy != "best":
        raise PlanError(f"unknown placement strategy '{strategy}'; choose one of {['best', *funcs]}")
    best, best_size = None, None
    for name in names:
        funcs[name](bufs)
        size = _extent(bufs)
        plan.candidates[name] = size
        if best_size is None or size < best_size:
            best, best_size = (name, {b.name: b.offset for b in bufs}), size
        if size == plan.lower_bound:
            break                      # optimal: nothing can beat the live peak
    name, offsets = best if best else ("none", {})
    if strategy == "best" and exact and best_size is not None and best_size > plan.lower_bound \
            and len(bufs) <= EXACT_MAX_BUFFERS:
        solved = solve_exact(bufs, best_size, offsets)
        if solved is not None:
            label, sol = solved
            plan.candidates[label] = _extent_of(bufs, sol)
            if plan.candidates[label] < best_size:
                name, offsets = label, sol
            elif label == "cp-sat optimal":
                name += " (optimal: cp-sat)"
    for b in bufs:
        b.offset = offsets.get(b.name, 0)
    plan.placement = name
    plan.arena_size = _extent(bufs)


def _extent_of(bufs, offsets) -> int:
    return max((offsets[b.name] + b.size for b in bufs), default=0)


def solve_exact(bufs: list[Buffer], upper: int, hint: dict, seconds: float = EXACT_SECONDS):
    """Minimal arena by CP-SAT (no two time-overlapping buffers overlap in memory), in units of
    ALIGN; returns (label, offsets) or None when OR-tools is missing or found nothing."""
    try:
        from ortools.sat.python import cp_model
    except ImportError:
        return None
    m = cp_model.CpModel()
    top = upper // ALIGN
    height = m.NewIntVar(peak_live(bufs) // ALIGN, top, "height")
    xs, ys, off = [], [], {}
    names = {b.name for b in bufs}
    tied_out = {b.tie[0] for b in bufs if b.tie and b.tie[0] in names}
    for b in bufs:
        units = b.size // ALIGN
        o = m.NewIntVar(0, max(top - units, 0), b.name)
        off[b.name] = o
        m.AddHint(o, hint[b.name] // ALIGN)
        # Time in half steps: a tied input ends, and its output starts, halfway through their node,
        # so that the pair may overlap while both still meet everything else live there.
        start = 2 * b.first + (b.name in tied_out)
        end = 2 * b.last + 2 - (b.tie is not None and b.tie[0] in names)
        xs.append(m.NewFixedSizeIntervalVar(start, end - start, ""))
        ys.append(m.NewFixedSizeIntervalVar(o, units, ""))
        m.Add(o + units <= height)
    for b in bufs:
        if b.tie and b.tie[0] in names:
            m.Add(off[b.name] == off[b.tie[0]] + b.tie[1] // ALIGN)
    m.AddNoOverlap2D(xs, ys)
    m.Minimize(height)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 1
    status = solver.Solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    label = "cp-sat optimal" if status == cp_model.OPTIMAL else "cp-sat (time limit)"
    return label, {name: solver.Value(v) * ALIGN for name, v in off.items()}


def verify(plan: MemoryPlan, g: Graph | None = None) -> None:
    """No two buffers live at the same time share a byte; every offset is aligned; (given the
    graph) every aliased tensor, a Concat slice included, lies inside its root's buffer."""
    for t in plan.alias if g is not None else ():
        root = plan.buffers.get(plan.root(t))
        if root is not None and plan.byte_offset(t) + g[t].nbytes > root.size:
            raise PlanError(f"tensor '{t}' ({g[t].nbytes} B at +{plan.byte_offset(t)}) overflows the buffer "
                            f"of '{root.name}' ({root.size} B)")
    bufs = sorted((b for b in plan.buffers.values() if b.size), key=lambda b: b.offset)
    for b in bufs:
        if b.tie and b.tie[0] in plan.buffers and b.offset != plan.buffers[b.tie[0]].offset + b.tie[1]:
            raise PlanError(f"buffer '{b.name}' is not {b.tie[1]} B above '{b.tie[0]}', its overlapped output")
    for i, a in enumerate(bufs):
        if a.offset < 0 or a.offset % ALIGN:
            raise PlanError(f"buffer '{a.name}' has a bad offset {a.offset}")
        if a.offset + a.size > plan.arena_size:
            raise PlanError(f"buffer '{a.name}' ends past the arena")
        for b in bufs[i + 1:]:
            if b.offset >= a.offset + a.size:
                break
            if overlaps_in_time(a, b) and not _tied(a, b):
                raise PlanError(f"memory plan overlap: '{a.name}' [{a.offset}, {a.offset + a.size}) "
                                f"and '{b.name}' [{b.offset}, {b.offset + b.size}) are live together")
