"""The compile report: per-layer table and totals (arena, weights, MACs)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .. import registry
from ..ir import Graph
from ..plan.memory import MemoryPlan


@dataclass
class Layer:
    name: str
    op: str
    inputs: list
    outputs: list
    params: int          # constant elements read by the node
    param_bytes: int
    macs: int
    activation_bytes: int  # bytes of the node's outputs
    scratch_bytes: int
    dtype: str
    quant: str = ""        # output scale/zero point, weight quantization (quantized layers)


@dataclass
class Report:
    model: str
    arena_bytes: int
    weight_bytes: int       # constant data in flash
    macs: int
    input_bytes: int
    output_bytes: int
    static_ram_bytes: int = 0   # constants of one repeated value, expanded into RAM at init
    state_bytes: int = 0        # persistent state of recurrent layers (static RAM)
    layers: list[Layer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    def table(self) -> str:
        quantized = any(l.quant for l in self.layers)
        rows = [("layer", "op", "output shape", "params", "MACs", "act bytes")
                + (("dtype", "quantization") if quantized else ())]
        for l in self.layers:
            rows.append((l.name[:28], l.op, " ".join("x".join(map(str, s)) for s in l.outputs),
                         f"{l.params:,}", f"{l.macs:,}", f"{l.activation_bytes:,}")
                        + ((l.dtype, l.quant) if quantized else ()))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        left = {0, 1, 2, 6, 7}
        out = ["  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
               for r in rows]
        out.insert(1, "-" * len(out[0]))
        out += ["", f"model {self.model}: {len(self.layers)} layers, {self.macs:,} MACs",
                f"arena (activations + scratch): {self.arena_bytes:,} B",
                f"weights (flash): {self.weight_bytes:,} B",
                f"inputs / outputs (caller's buffers): {self.input_bytes:,} B / {self.output_bytes:,} B"]
        if self.state_bytes:
            out.append(f"static RAM (recurrent state kept between calls): {self.state_bytes:,} B")
        if self.static_ram_bytes:
            out.append(f"static RAM (one-value constants expanded at init): {self.static_ram_bytes:,} B")
        out += self.notes
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


def describe_quant(node, g: Graph) -> str:
    """'s=0.0039 zp=-128, w per-channel(8)': the output's scale and zero point, and the weights'."""
    out = g[next(o for o in node.outputs if o)]
    parts = []
    if out.quant is not None and not out.quant.per_channel:
        parts.append(f"s={float(out.quant.scale.reshape(-1)[0]):.4g} zp={int(out.quant.zero_point.reshape(-1)[0])}")
    for i in node.inputs[1:2]:
        q = g[i].quant if i else None
        if q is not None and g[i].is_const:
            parts.append(f"w {g[i].dtype} " + (f"per-channel({q.scale.size})" if q.per_channel
                                               else f"s={float(q.scale.reshape(-1)[0]):.4g}"))
    return ", ".join(parts)


def build(g: Graph, plan: MemoryPlan, weight_bytes: int | None = None, static_ram_bytes: int = 0,
          state_bytes: int = 0) -> Report:
    layers, seen_consts = [], set()
    for node in g.nodes:
        op = registry.get(node.op)
        consts = [g[i] for i in node.inputs if i and g[i].is_const]
        layers.append(Layer(
            node.name, node.op,
            [list(g[i].shape) for i in node.inputs if i and not g[i].is_const],
            [list(g[o].shape) for o in node.outputs if o],
            sum(t.size for t in consts), sum(t.nbytes for t in consts),
            int(op.macs(node, g)),
            sum(g[o].nbytes for o in node.outputs if o),
            op.scratch(node, g),
            g[next(o for o in node.outputs if o)].dtype,
            describe_quant(node, g)))
        seen_consts.update(t.name for t in consts)
    if weight_bytes is None:
        weight_bytes = sum(g[n].nbytes for n in seen_consts)
    return Report(g.name, plan.arena_size, weight_bytes, sum(l.macs for l in layers),
                  sum(g[i].nbytes for i in g.inputs), sum(g[o].nbytes for o in g.outputs),
                  static_ram_bytes, state_bytes, layers)
