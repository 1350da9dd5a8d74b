"""Several models (tasks) in one C library: shared layers once, weights once, one arena.

Each task is first compiled alone (api.compile): its optimized graph and memory plan are kept
as they are, so `<lib>_run_<task>()` issues exactly the kernel calls of the standalone model
(same kernels, same parameters, same order) and needs exactly its arena. What the tasks share:

- constants (weights, params structs, lookup tables) are deduplicated by content: the same bytes
  are declared once whatever the tensor was called in each model;
- kernels are included once (they are static: model.c is a unity build);
- one arena, sized for the largest entry point;
- `<lib>_run_all()` runs the union graph: the tasks' graphs merged by structural hashing (same
  op, same attributes, same inputs, same output dtype/shape/quantization; constants by content
  hash), so a backbone shared by several heads is computed once and its features feed every head.

The union graph is also what the report uses to name the shared layers.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import SmeltError
from ..ir import C_TYPES, Graph, Node, Tensor
from ..plan import memory, schedule
from . import c as cgen

_DECL = re.compile(r"static (const )?([A-Za-z_][\w ]*?) ([A-Za-z_]\w*)(\[\d+\])?(?: = (.*))?;\Z", re.S)
_ITEMSIZE = {ct: np.dtype(dt).itemsize for dt, ct in reversed(C_TYPES.items())}
_IDENT = re.compile(r"\b[A-Za-z_]\w*\b")


# ------------------------------------------------------------------ shared-layer detection

def _qkey(q) -> tuple | None:
    if q is None:
        return None
    return (np.asarray(q.scale, np.float64).tobytes(), np.asarray(q.zero_point, np.int64).tobytes(), q.axis)


def _canon(v):
    """Attribute values as hashable, order-independent data (arrays by content)."""
    if isinstance(v, dict):
        return tuple(sorted((str(k), _canon(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_canon(x) for x in v)
    if isinstance(v, np.ndarray):
        return ("nd", str(v.dtype), v.shape, hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest())
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    if isinstance(v, (int, float, str, bool, type(None), bytes)):
        return v
    return repr(v)


def _digest(*parts) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def const_key(t: Tensor) -> str:
    """A constant's identity: dtype, shape, quantization and a hash of its bytes."""
    data = np.ascontiguousarray(t.data)
    return _digest("const", t.dtype, tuple(t.shape), _qkey(t.quant), hashlib.sha256(data.tobytes()).hexdigest())


@dataclass
class UnionNode:
    node: Node                  # the node in the union graph
    tasks: list[str]            # the tasks whose graphs contain it
    weight_bytes: int           # bytes of its constant inputs


@dataclass
class Union:
    graph: Graph                # every task's nodes, identical ones once
    nodes: list[UnionNode]
    outputs: dict[str, list[str]] = field(default_factory=dict)   # task -> its outputs' union names
    inputs: dict[str, list[str]] = field(default_factory=dict)    # task -> its inputs' union names

    def shared(self) -> list[UnionNode]:
        return [u for u in self.nodes if len(u.tasks) > 1]


def merge(graphs: dict[str, Graph], name: str) -> Union:
    """Merge the tasks' graphs. Graph inputs are the same when name, shape, dtype and
    quantization agree; a node is the same when op, attributes, inputs and output types agree."""
    g = Graph(name)
    by_key: dict[str, str] = {}          # tensor key -> union tensor name
    nodes: dict[str, UnionNode] = {}     # node key -> union node
    u = Union(g, [])

    def adopt(t: Tensor, key: str, base: str) -> str:
        if key not in by_key:
            new = g.unique(base)
            g.add(Tensor(new, tuple(t.shape), t.dtype, t.data, t.quant))
            by_key[key] = new
        return by_key[key]

    for task, tg in graphs.items():
        local: dict[str, str] = {}       # task tensor -> key
        for i in tg.inputs:
            t = tg[i]
            local[i] = _digest("input", i, tuple(t.shape), t.dtype, _qkey(t.quant))
            if local[i] not in by_key:
                g.inputs.append(adopt(t, local[i], i))

        def key(name: str) -> str:
            if not name:
                return ""
            if name not in local:
                local[name] = const_key(tg[name])    # only constants are reached before being set
            return local[name]

        for node in tg.nodes:
            ins = [key(i) for i in node.inputs]
            outs = [(tg[o].dtype, tuple(tg[o].shape), _qkey(tg[o].quant)) if o else None for o in node.outputs]
            nk = _digest(node.op, _canon(node.attrs), tuple(ins), tuple(outs))
            for j, o in enumerate(node.outputs):
                if o:
                    local[o] = _digest("out", nk, j)
            if nk in nodes:
                if task not in nodes[nk].tasks:
                    nodes[nk].tasks.append(task)
                continue
            new_ins = [adopt(tg[i], key(i), i) if i else "" for i in node.inputs]
            new_outs = [adopt(tg[o], local[o], o) if o else "" for o in node.outputs]
            un = UnionNode(Node(node.op, _unique_node(g, node.name), new_ins, new_outs, dict(node.attrs)), [task],
                           sum(tg[i].nbytes for i in dict.fromkeys(node.inputs) if i and tg[i].is_const))
            g.nodes.append(un.node)
            nodes[nk] = un
            u.nodes.append(un)
        u.inputs[task] = [by_key[local[i]] for i in tg.inputs]
        produced = {o for n in tg.nodes for o in n.outputs if o}
        for o in tg.outputs:
            if o not in produced:
                raise SmeltError(f"task '{task}': output '{o}' is not computed by any layer (an input or a "
                                 "constant); a library entry point must compute its outputs")
        u.outputs[task] = [by_key[local[o]] for o in tg.outputs]
        g.outputs += u.outputs[task]
    g.validate()
    return u


def _unique_node(g: Graph, base: str) -> str:
    names = {n.name for n in g.nodes}
    name, i = base, 1
    while name in names:
        name, i = f"{base}_{i}", i + 1
    return name


# ------------------------------------------------------------------ C generation

@dataclass
class Entry:
    """One entry point: its C function, graph and plan (io outside the arena)."""
    func: str                   # e.g. "lib_run_a"
    task: str                   # task name, or "all"
    graph: Graph
    plan: memory.MemoryPlan


@dataclass
class Emitted:
    header: str
    source: str
    kernels: list[str]
    weight_bytes: int           # unique constants in flash (tensors' data, as the report counts)
    static_ram_bytes: int
    float_model: bool
    constants: int = 0          # unique constant declarations (weights + params structs)
    deduplicated: int = 0       # declarations that were found identical to an earlier one


def plan_union(g: Graph) -> tuple[Graph, memory.MemoryPlan]:
    """The union graph's order and plan, chosen as api.compile chooses a single model's."""
    g, order = schedule.run(g, io_in_arena=False)
    plan = memory.build(g, io_in_arena=False, strategy="best", concat_in_place=True)
    plan.order = order
    return g, plan


def generate(entries: list[Entry], lib: str) -> Emitted:
    """model.h/model.c of the library: every entry's kernel calls, the constants once."""
    canon: dict[tuple, str] = {}          # declaration content -> symbol
    used: set[str] = set()
    decls, init, kernels, funcs = [], [], [], []
    weight_bytes = static_ram = deduplicated = 0
    float_model = False
    for e in entries:
        _, _, ctx = cgen.generate(e.graph, e.plan, lib)
        if ctx.state_bytes:
            raise SmeltError(f"task '{e.task}' has recurrent state ({ctx.state_bytes} B); a library shares "
                             "layers between entry points, so stateful models must be compiled alone")
        float_model |= cgen.is_float_model(e.graph)
        for k in ctx.kernels:
            if k not in kernels:
                kernels.append(k)
        weight_syms = set(ctx.weights.values())
        init_of = {}
        for line in ctx.init:
            for tok in _IDENT.findall(line):
                init_of.setdefault(tok, []).append(line)
        ren: dict[str, str] = {}

        def rename(text: str) -> str:
            return _IDENT.sub(lambda m: ren.get(m.group(0), m.group(0)), text)

        for d in ctx.decls:
            m = _DECL.match(d)
            if m is None:
                raise SmeltError(f"library: cannot parse the declaration '{d[:80]}'")
            const, ctype, sym, dim, value = m.groups()
            is_weight = sym.startswith(f"{lib}_w_")
            value = value if (value is None or is_weight) else rename(value)
            lines = [] if const else [re.sub(rf"\b{sym}\b", "@", ln) for ln in init_of.get(sym, [])]
            content = (bool(const), ctype, dim, value, tuple(lines))
            if content in canon:
                ren[sym] = canon[content]
                deduplicated += 1
                continue
            new = sym
            k = 1
            while new in used:
                new, k = f"{sym}_{k}", k + 1
            used.add(new)
            canon[content] = ren[sym] = new
            init_value = "" if value is None else f" = {value}"
            decls.append(f"static {const or ''}{ctype} {new}{dim or ''}{init_value};")
            if sym in weight_syms:
                nbytes = int(dim[1:-1]) * _ITEMSIZE[ctype] if dim else _ITEMSIZE[ctype]
                if const:
                    weight_bytes += nbytes
                else:
                    static_ram += nbytes
        for ln in map(rename, ctx.init):     # a deduplicated buffer's fill reads the same after renaming
            if ln not in init:
                init.append(ln)
        funcs.append((e, [rename(s) for s in ctx.body]))
    header = _header(entries, lib)
    return Emitted(header, _source(funcs, lib, decls, init, kernels, float_model), kernels,
                   weight_bytes, static_ram, float_model, len(decls), deduplicated)


def arena_size(entries: list[Entry]) -> int:
    return max((e.plan.arena_size for e in entries), default=0)


def _args(g: Graph) -> list[str]:
    return [f"const {g[n].ctype} *in{i}" for i, n in enumerate(g.inputs)] + \
           [f"{g[n].ctype} *out{i}" for i, n in enumerate(g.outputs)]


def _header(entries: list[Entry], lib: str) -> str:
    P = lib.upper()
    lines = [cgen.HEADER_NOTE, f"#ifndef {P}_H", f"#define {P}_H", "", "#include <stdint.h>", "",
             "/* A library of several tasks sharing layers. <lib>_run_<task>() computes what that task",
             "   needs (the same kernel calls as the task compiled alone); <lib>_run_all() computes the",
             "   shared layers once and every task's outputs from them. One arena serves every entry. */",
             f"#define {P}_ARENA_SIZE {arena_size(entries)}",
             f"#define {P}_NUM_TASKS {sum(e.task != 'all' for e in entries)}", ""]
    for e in entries:
        g, E = e.graph, e.func.upper()
        lines += [f"/* {e.func}: arena {e.plan.arena_size} B */", f"#define {E}_ARENA_SIZE {e.plan.arena_size}"]
        for kind, names in (("INPUT", g.inputs), ("OUTPUT", g.outputs)):
            for i, n in enumerate(names):
                t, m = g[n], f"{E}_{kind}{i}"
                lines += [f'#define {m}_NAME "{n}"', f'#define {m}_DTYPE "{t.dtype}"',
                          f"#define {m}_SHAPE {{{', '.join(map(str, t.shape)) or '1'}}}",
                          f"#define {m}_SIZE {t.size}", f"#define {m}_BYTES {t.nbytes}"]
                if t.quant is not None and not t.quant.per_channel:
                    lines += [f"#define {m}_SCALE {float(t.quant.scale.reshape(-1)[0]):.9g}f",
                              f"#define {m}_ZERO_POINT {int(t.quant.zero_point.reshape(-1)[0])}"]
        lines.append("")
    lines += ["#ifdef __cplusplus", 'extern "C" {', "#endif", ""]
    for e in entries:
        args = ", ".join(_args(e.graph))
        lines += [f"int {e.func}_with_arena(void *arena_, {args});", f"int {e.func}({args});"]
    lines += ["", "/* Refill init-time constants before the next run. */", f"void {lib}_reset(void);", "",
              "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {P}_H */", ""]
    return "\n".join(lines)


def _source(funcs, lib: str, decls, init, kernels, float_model: bool) -> str:
    P = lib.upper()
    lines = [cgen.HEADER_NOTE, f'#include "{lib}.h"', ""]
    if float_model or any("NAN" in d or "INFINITY" in d for d in decls):
        lines.append("#define SMELT_FLOAT 1  /* float model: kernels may use libm */")
    lines.append('#include "smelt_kernels/smelt_common.h"')
    lines += [f'#include "smelt_kernels/{k}.c"' for k in kernels]
    lines += [""] + decls + [""]
    if init:
        lines += [f"static int {lib}_initialized = 0;", "", f"static void {lib}_init(void)", "{", "    long i;"]
        lines += ["    " + s for s in init]
        lines += [f"    {lib}_initialized = 1;", "}", "",
                  f"void {lib}_reset(void)", "{", f"    {lib}_initialized = 0;", "}", ""]
    else:
        lines += [f"void {lib}_reset(void)", "{", "}", ""]
    lines += [f"#ifndef {P}_NO_STATIC_ARENA",
              f"static uint64_t {lib}_arena[({P}_ARENA_SIZE + 7) / 8 + ({P}_ARENA_SIZE == 0)];", "#endif", ""]
    for e, body in funcs:
        g = e.graph
        args = _args(g)
        names = [a.rsplit("*", 1)[1] for a in args]
        lines += [f"int {e.func}_with_arena(void *arena_, {', '.join(args)})", "{",
                  "    uint8_t *arena = (uint8_t *)arena_;"]
        if init:
            lines.append(f"    if (!{lib}_initialized) {lib}_init();")
        lines.append("    " + " ".join(f"(void){p};" for p in ["arena"] + names) + "  /* some may be unused */")
        lines += ["    " + s for s in body]
        lines += ["    return 0;", "}", "", f"#ifndef {P}_NO_STATIC_ARENA",
                  f"int {e.func}({', '.join(args)})", "{",
                  f"    return {e.func}_with_arena({', '.join([lib + '_arena'] + names)});", "}", "#endif", ""]
    return "\n".join(lines)
