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
    io_in_arena: bool = False   # inputs/outputs planned inside the arena
    placement: str = ""         # offset strategy kept, and every strategy's arena bytes
    placement_candidates: dict = field(default_factory=dict)
    order: str = "as given"     # how the operator order was chosen
    lower_bound: int = 0        # live-bytes peak: no placement of this order does better
    buffers: list[dict] = field(default_factory=list)   # the plan: name, offset, size, first, last
    stack_bytes: int | None = None   # peak stack of <model>_run on a target (see account())
    code_bytes: int | None = None    # code + params in flash on that target
    target: str | None = None

    @property
    def io_outside_bytes(self) -> int:
        return 0 if self.io_in_arena else self.input_bytes + self.output_bytes

    @property
    def activation_ram(self) -> int:
        """Arena + input/output buffers outside it: what TFLM's arena head compares with."""
        return self.arena_bytes + self.io_outside_bytes

    @property
    def ram(self) -> int | None:
        """All RAM: arena + I/O outside it + static RAM + peak stack (None until account())."""
        if self.stack_bytes is None:
            return None
        return self.activation_ram + self.static_ram_bytes + self.state_bytes + self.stack_bytes

    @property
    def flash(self) -> int | None:
        """Weights + code (None until account() measured the code on a target)."""
        return None if self.code_bytes is None else self.weight_bytes + self.code_bytes

    def timeline_png(self, path=None) -> bytes:
        from .timeline import png
        data = png(self)
        if path is not None:
            from pathlib import Path
            Path(path).write_bytes(data)
        return data

    def html(self) -> str:
        from .timeline import html
        return html(self)

    def files(self) -> dict:
        """report.html and memory.png for the output folder."""
        return {"report.html": self.html(), "memory.png": self.timeline_png()}

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
                (f"inputs / outputs (inside the arena): {self.input_bytes:,} B / {self.output_bytes:,} B"
                 if self.io_in_arena else
                 f"inputs / outputs (caller's buffers): {self.input_bytes:,} B / {self.output_bytes:,} B"),
                f"activation RAM (arena + I/O outside it): {self.activation_ram:,} B",
                f"memory plan: {self.placement} offsets (live-bytes bound {self.lower_bound:,} B), "
                f"order {self.order}"]
        if self.ram is not None:
            out.append(f"RAM on {self.target}: {self.ram:,} B (peak stack {self.stack_bytes:,} B included); "
                       f"flash: {self.flash:,} B (code {self.code_bytes:,} B)")
        if self.state_bytes:
            out.append(f"static RAM (recurrent state kept between calls): {self.state_bytes:,} B")
        if self.static_ram_bytes:
            out.append(f"static RAM (one-value constants expanded at init): {self.static_ram_bytes:,} B")
        out += self.notes
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


def account(art, target: str = "cortex-m4", inputs=None) -> "Report":
    """Fill art.report's stack and code bytes from a build for `target` (see accounting.py)."""
    from .accounting import account as _account
    return _account(art, target, inputs)


def describe_quant(node, g: Graph) -> str:
    """'s=0.0039 zp=-128, w per-channel(8)': the output's scale and zero point, and the weights'."""
    out = g[next(o for o in node.outputs if o)]
    parts = []
    if out.quant is not None and not out.quant.per_channel:
        parts.append(f"s={float(out.quant.scale.reshape(-1)[0]):.4g} zp={int(out.quant.zero_point.reshape(-1)[0])}")
    for i in node.inputs[1:2]:
        q = g[i].quant if i else None
        fmt = node.attrs.get("format")   # packed weight formats: smelt/compress.py
        if fmt and i and g[i].is_const:
            parts.append(f"w {fmt} {node.attrs.get('bits', 1 if fmt == 'xnor' else 16)}-bit {g[i].nbytes:,} B")
        elif q is not None and g[i].is_const:
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
    buffers = [{"name": b.name, "offset": b.offset, "size": b.size, "first": b.first, "last": b.last}
               for b in sorted(plan.buffers.values(), key=lambda b: (b.first, b.offset))]
    return Report(g.name, plan.arena_size, weight_bytes, sum(l.macs for l in layers),
                  sum(g[i].nbytes for i in g.inputs), sum(g[o].nbytes for o in g.outputs),
                  static_ram_bytes, state_bytes, layers, io_in_arena=plan.io_in_arena,
                  placement=plan.placement, placement_candidates=dict(plan.candidates),
                  order=plan.order, lower_bound=plan.lower_bound, buffers=buffers)
