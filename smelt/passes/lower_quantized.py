"""Lower quantized ONNX (QDQ format and QLinear ops) onto smelt's TFLM-exact integer ops.

QDQ (onnxruntime quantize_static, QuantFormat.QDQ): every quantized op reads its float inputs
through DequantizeLinear and its float output goes through QuantizeLinear:

    x_q -> DQ -> Conv(., DQ(w_q), DQ(b_q)) [-> Relu/Clip] -> Q -> y_q

becomes  x_q -> Transpose(NHWC) -> QConv2D / QDepthwiseConv2D -> Transpose(NCHW) -> y_q  with the
quantization parameters on the integer tensors; multipliers then come from smelt.quant exactly as
for a TFLite model, and the bias is int32 in units of s_x * s_w. Recognised ops: Conv, Gemm,
MatMul, Add, Mul, AveragePool, GlobalAveragePool (as TFLM's MEAN), MaxPool, Relu (standalone or fused into the
producer as its clamp, as is Clip to [0, 6] / [-1, 1] / [0, inf)), Softmax (TFLM's int8 kernel to scale
1/256, zero point -128, requantized when the output has other parameters), and data movement (Reshape, Flatten, Squeeze,
Unsqueeze, Transpose: run on the integers). QOperator form: QLinearConv, QLinearMatMul and
com.microsoft QLinearAdd map onto the same ops.

Activations: int8, and uint8 (converted exactly to int8 with zero point - 128 by a 256-entry
table at the boundaries: same scale, so no rounding). Weights: int8 symmetric (zero point 0),
per-tensor or per-output-channel; uint8 weights only with zero point 128 (then exactly int8,
symmetric). Anything else (asymmetric weights, per-channel activations, int16) is left as it is:
its Q/DQ nodes keep running in float, so the model still compiles, only that part is not integer.

Between two integer ops a DQ -> Q pair disappears when the parameters are equal and becomes a
QQuantize requantization otherwise. Window ops are NHWC: the Transposes inserted around them
cancel pairwise in the cancel_transposes pass, which must run right after this one.

This pass must run first in the pipeline (before fold_constants): it reads the integer weights
from the DequantizeLinear nodes that constant folding removes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import registry
from ..ir import Graph, Node, QuantParams, Tensor
from . import remove_dead

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]
DATA_MOVEMENT = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose")


def params(scale, zero_point, axis=None) -> QuantParams:
    return QuantParams(np.asarray(scale, np.float32).reshape(-1), np.asarray(zero_point, np.int64).reshape(-1), axis)


def same(a: QuantParams | None, b: QuantParams | None) -> bool:
    return (a is not None and b is not None and np.array_equal(a.scale, b.scale)
            and np.array_equal(a.zero_point, b.zero_point))


@dataclass
class Sink:
    """Where a lowered op's result goes: the integer tensor `name` with scale/zp of type dtype."""
    name: str
    quant: QuantParams
    dtype: str
    remove: list            # nodes replaced along with the op (QuantizeLinear, a fused Relu)
    activation: str = "NONE"

    @property
    def int8_quant(self) -> QuantParams:
        """The same values as int8 (uint8 zero point - 128)."""
        shift = 128 if self.dtype == "uint8" else 0
        return params(self.quant.scale, self.quant.zero_point - shift)


class Lowering:
    def __init__(self, g: Graph):
        self.g = g
        self.pos = 0
        self.int8_of: dict[str, str] = {}
        self.count = 0

    # ---------------------------------------------------------------- building
    def temp(self, base: str) -> str:
        return self.g.unique(f"{base}_q")

    def emit(self, op: str, inputs: list[str], attrs: dict, out: str, quant: QuantParams | None = None) -> str:
        """Insert node `op` at the current position writing `out` (created if new)."""
        self.count += 1
        node = Node(op, f"{out}/{op}", list(inputs), [out], dict(attrs))
        shape, dtype = registry.get(op).infer(node, self.g)[0]
        if out in self.g.tensors:
            t = self.g[out]
            assert t.shape == tuple(shape) and t.dtype == dtype, (op, out, t.shape, shape, t.dtype, dtype)
        else:
            t = self.g.add(Tensor(out, tuple(int(d) for d in shape), dtype))
        if quant is not None:
            t.quant = quant
        self.g.nodes.insert(self.pos, node)
        self.pos += 1
        return out

    def transpose(self, x: str, perm: list[int]) -> str:
        return self.emit("Transpose", [x], {"perm": perm}, self.temp(x + ("_nhwc" if perm == TO_NHWC else "_nchw")),
                         self.g[x].quant)

    def finish(self, op: str, inputs: list[str], attrs: dict, sink: Sink, nhwc: bool = False,
               op_quant: QuantParams | None = None) -> None:
        """Emit `op` and what takes its int8 result to the sink: a requantization when the op's
        output parameters (op_quant, default: the sink's) differ, the NCHW transpose, and the
        int8 -> uint8 step for a uint8 sink; then drop the replaced nodes."""
        q8 = sink.int8_quant
        op_quant = op_quant or q8
        final8 = sink.name if sink.dtype == "int8" else self.temp(sink.name + "_i8")
        steps = [("op", op_quant)]
        if not same(op_quant, q8):
            steps.append(("requantize", q8))
        if nhwc:
            steps.append(("transpose", q8))
        cur = None
        for k, (kind, q) in enumerate(steps):
            last = k == len(steps) - 1
            out = final8 if last else self.temp(sink.name + "_" + kind)
            if kind == "op":
                cur = self.emit(op, inputs, attrs, out, q)
            elif kind == "requantize":
                cur = self.emit("QQuantize", [cur], {"dtype": "int8"}, out, q)
            else:
                cur = self.emit("Transpose", [cur], {"perm": TO_NCHW}, out, q)
        if sink.dtype == "uint8":
            self.emit("QQuantize", [cur], {"dtype": "uint8"}, sink.name, sink.quant)
        else:
            self.g[sink.name].quant = q8
        for n in sink.remove:
            self.g.nodes.remove(n)

    # ---------------------------------------------------------------- reading the pattern
    def dq(self, f: str) -> Node | None:
        p = self.g.producer(f)
        return p if p is not None and p.op == "DequantizeLinear" else None

    def int8(self, q: str, qp: QuantParams) -> str | None:
        """The integer tensor q (with parameters qp) as int8: itself, or converted from uint8."""
        t = self.g[q]
        if t.quant is not None and not same(t.quant, qp):
            return None   # read with two different parameter sets: leave it alone
        t.quant = qp
        if t.dtype == "int8":
            return q
        if t.dtype != "uint8" or qp.per_channel:
            return None
        if q not in self.int8_of:
            q8 = params(qp.scale, qp.zero_point - 128)
            if t.is_const:
                name = self.g.add_const(q + "_i8", (t.data.astype(np.int16) - 128).astype(np.int8)).name
                self.g[name].quant = q8
            else:
                name = self.emit("QQuantize", [q], {"dtype": "int8"}, self.temp(q + "_i8"), q8)
            self.int8_of[q] = name
        return self.int8_of[q]

    def source(self, f: str) -> str | None:
        """The int8 tensor a float activation was dequantized from (per-tensor), or None."""
        d = self.dq(f)
        if d is None or d.attrs["axis"] is not None:
            return None
        return self.int8(d.inputs[0], params(d.attrs["scale"], d.attrs["zero_point"]))

    def weights(self, f: str, axis: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(int8 symmetric weights, scales) of a constant dequantized along `axis` or per tensor."""
        d = self.dq(f)
        if d is None or self.g[d.inputs[0]].data is None or d.attrs["axis"] not in (None, axis):
            return None
        w, zp = self.g[d.inputs[0]].data, d.attrs["zero_point"]
        if w.dtype == np.uint8 and np.all(zp == 128):
            w = (w.astype(np.int16) - 128).astype(np.int8)
        elif w.dtype != np.int8 or np.any(zp != 0):
            return None
        return w, d.attrs["scale"]

    def sink(self, y: str, fuse: bool = True) -> Sink | None:
        """The QuantizeLinear nodes (all with equal per-tensor int8/uint8 parameters) that read
        the float result y, possibly through one Relu/Clip fused as the op's clamp."""
        g = self.g
        users = g.consumers(y)
        if fuse and len(users) == 1 and y not in g.outputs and users[0].op in ("Relu", "Clip"):
            act = activation_name(users[0])
            s = self.sink(users[0].outputs[0], fuse=False) if act else None
            if s is not None:
                s.activation, s.remove = act, s.remove + [users[0]]
                return s
        if y in g.outputs or not users or any(u.op != "QuantizeLinear" or u.attrs["axis"] is not None
                                               for u in users):
            return None
        first = users[0].attrs
        if first["dtype"] not in ("int8", "uint8") or any(
                u.attrs["dtype"] != first["dtype"] or not np.array_equal(u.attrs["scale"], first["scale"])
                or not np.array_equal(u.attrs["zero_point"], first["zero_point"]) for u in users):
            return None
        name = users[0].outputs[0]
        for u in users[1:]:   # equal quantizations of the same value: one tensor
            if u.outputs[0] in g.outputs:
                return None
            for c in g.consumers(u.outputs[0]):
                c.inputs = [name if i == u.outputs[0] else i for i in c.inputs]
        return Sink(name, params(first["scale"], first["zero_point"]), first["dtype"], list(users))

    # ---------------------------------------------------------------- the ops
    def conv(self, node: Node, x: str, w: np.ndarray, w_scale: np.ndarray, bias_f: np.ndarray | None,
             sink: Sink, bias_int: np.ndarray | None = None) -> bool:
        """A 2-D Conv (ONNX attrs, OIHW int8 weights) as QConv2D / QDepthwiseConv2D in NHWC."""
        a = node.attrs
        xt = self.g[x]
        if len(xt.shape) != 4 or len(a["kernel_shape"]) != 2:
            return False
        cin, cout, group = xt.shape[1], w.shape[0], a["group"]
        depthwise = group == cin and group > 1 and w.shape[1] == 1
        sx = float(xt.quant.scale[0])
        ws = np.broadcast_to(w_scale, (cout,)).astype(np.float32)
        if bias_int is None:
            bias_int = (np.zeros(cout) if bias_f is None
                        else np.rint(bias_f.astype(np.float64) / (sx * ws.astype(np.float64))))
        if np.abs(bias_int).max(initial=0) >= 2**31:
            return False
        if depthwise:
            wq = np.ascontiguousarray(w.transpose(1, 2, 3, 0))       # [1, kh, kw, C*M]
            op, axis, extra = "QDepthwiseConv2D", 3, {"depth_multiplier": cout // cin}
        else:
            wq = np.ascontiguousarray(w.transpose(0, 2, 3, 1))       # OHWI
            op, axis, extra = "QConv2D", 0, {}
        wname = self.g.add_const(f"{node.name}_w_q", wq).name
        self.g[wname].quant = params(w_scale, np.zeros(w_scale.size), axis if w_scale.size > 1 else None)
        bname = self.g.add_const(f"{node.name}_b_q", bias_int.astype(np.int32)).name
        pads = a["pads"]
        attrs = {"strides": tuple(a["strides"]), "dilations": tuple(a["dilations"]),
                 "pads": (pads[0], pads[1], pads[2], pads[3]), "activation": sink.activation, **extra}
        self.finish(op, [self.transpose(x, TO_NHWC), wname, bname], attrs, sink, nhwc=True)
        return True

    def fully_connected(self, x: str, w: np.ndarray, w_scale: np.ndarray, bias_f, sink: Sink,
                        keep: bool, bias_int=None) -> bool:
        """x [.., K] times int8 weights [N, K] (+ bias) as QFullyConnected."""
        n = w.shape[0]
        sx = float(self.g[x].quant.scale[0])
        ws = np.broadcast_to(w_scale, (n,)).astype(np.float64)
        if bias_int is None:
            bias_int = np.zeros(n) if bias_f is None else np.rint(np.broadcast_to(
                bias_f.astype(np.float64).reshape(-1), (n,)) / (sx * ws))
        if np.abs(bias_int).max(initial=0) >= 2**31:
            return False
        wname = self.g.add_const(f"{sink.name}_w_q", np.ascontiguousarray(w)).name
        self.g[wname].quant = params(w_scale, np.zeros(w_scale.size), 0 if w_scale.size > 1 else None)
        bname = self.g.add_const(f"{sink.name}_b_q", bias_int.astype(np.int32)).name
        self.finish("QFullyConnected", [x, wname, bname],
                    {"activation": sink.activation, "keep_num_dims": keep}, sink)
        return True

    def window(self, node: Node, x: str, sink: Sink, op: str, kernel, strides, pads) -> bool:
        """A 2-D pool as QAveragePool2D / QMaxPool2D (output parameters = input's), NHWC."""
        attrs = {"kernel": tuple(kernel), "strides": tuple(strides), "pads": tuple(pads),
                 "activation": sink.activation}
        self.finish(op, [self.transpose(x, TO_NHWC)], attrs, sink, nhwc=True, op_quant=self.g[x].quant)
        return True


def activation_name(node: Node) -> str | None:
    if node.op == "Relu":
        return "RELU"
    lo, hi = node.attrs["min"], node.attrs["max"]
    return {(0.0, math.inf): "RELU", (0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1"}.get((lo, hi))


def _bias(g: Graph, node: Node, index: int):
    if len(node.inputs) <= index or not node.inputs[index]:
        return None
    return g[node.inputs[index]].data   # None when computed at run time


# ---------------------------------------------------------------- one handler per float op
def _conv(L: Lowering, n: Node) -> bool:
    x, sink = L.source(n.inputs[0]), L.sink(n.outputs[0])
    wq = L.weights(n.inputs[1], 0)
    if x is None or sink is None or wq is None:
        return False
    b = _bias(L.g, n, 2)
    if len(n.inputs) > 2 and n.inputs[2] and b is None:
        return False
    return L.conv(n, x, wq[0], wq[1], b, sink)


def _gemm(L: Lowering, n: Node) -> bool:
    a = n.attrs
    if a["transA"] or a["alpha"] != 1.0 or len(L.g[n.inputs[0]].shape) != 2:
        return False
    x, sink = L.source(n.inputs[0]), L.sink(n.outputs[0])
    wq = L.weights(n.inputs[1], 0 if a["transB"] else 1)
    if x is None or sink is None or wq is None:
        return False
    w = wq[0] if a["transB"] else wq[0].T
    b = _bias(L.g, n, 2)
    if len(n.inputs) > 2 and n.inputs[2]:
        if b is None or b.size not in (1, w.shape[0]) or b.size != max(b.shape, default=1):
            return False
        b = b * a["beta"]
    return L.fully_connected(x, w, wq[1], b, sink, keep=False)


def _matmul(L: Lowering, n: Node) -> bool:
    x, sink = L.source(n.inputs[0]), L.sink(n.outputs[0])
    wq = L.weights(n.inputs[1], 1)
    if x is None or sink is None or wq is None or wq[0].ndim != 2 or len(L.g[x].shape) < 2:
        return False
    return L.fully_connected(x, np.ascontiguousarray(wq[0].T), wq[1], None, sink, keep=True)


def _binary(L: Lowering, n: Node) -> bool:
    a, b, sink = L.source(n.inputs[0]), L.source(n.inputs[1]), L.sink(n.outputs[0])
    if a is None or b is None or sink is None:
        return False
    if n.op == "Mul" and sink.activation != "NONE":
        return False
    g = L.g
    op = "QAdd" if n.op == "Add" else "QMul"
    # Both operands leave NHWC ops: stay NHWC (the transposes then cancel).
    nhwc = all(_from_nhwc(g, v) for v in (a, b)) and g[a].shape == g[b].shape
    ins = [L.transpose(v, TO_NHWC) for v in (a, b)] if nhwc else [a, b]
    L.finish(op, ins, {"activation": sink.activation}, sink, nhwc=nhwc)
    return True


def _from_nhwc(g: Graph, v: str) -> bool:
    p = g.producer(v)
    return p is not None and p.op == "Transpose" and p.attrs["perm"] == TO_NCHW


def _pool(L: Lowering, n: Node) -> bool:
    x, sink = L.source(n.inputs[0]), L.sink(n.outputs[0])
    if x is None or sink is None or len(L.g[x].shape) != 4:
        return False
    if n.op == "GlobalAveragePool":
        if sink.activation == "NONE":   # TFLM MEAN: one rounding, straight to the output scale
            L.finish("QMean", [L.transpose(x, TO_NHWC)], {"axes": [1, 2], "keep_dims": True}, sink, nhwc=True)
            return True
        h, w = L.g[x].shape[2:]
        return L.window(n, x, sink, "QAveragePool2D", (h, w), (1, 1), (0, 0, 0, 0))
    a = n.attrs
    if a["ceil_mode"] or any(d != 1 for d in a["dilations"]) or (len(n.outputs) > 1 and n.outputs[1]):
        return False
    if n.op == "AveragePool" and a["count_include_pad"] and any(a["pads"]):
        return False   # TFLM averages over in-image taps only
    op = "QAveragePool2D" if n.op == "AveragePool" else "QMaxPool2D"
    return L.window(n, x, sink, op, a["kernel_shape"], a["strides"], a["pads"])


def _relu(L: Lowering, n: Node) -> bool:
    if n.op == "Clip":
        return False   # fused into its producer when that is lowered
    x, sink = L.source(n.inputs[0]), L.sink(n.outputs[0], fuse=False)
    if x is None or sink is None:
        return False
    L.finish("QRelu", [x], {}, sink)
    return True


def _softmax(L: Lowering, n: Node) -> bool:
    x, sink = L.source(n.inputs[0]), L.sink(n.outputs[0], fuse=False)
    rank = len(L.g[n.inputs[0]].shape)
    if x is None or sink is None or n.attrs["axis"] not in (-1, rank - 1):
        return False
    # TFLM's int8 softmax writes scale 1/256, zero point -128 only; other output parameters
    # (onnxruntime picks 1/255) get one requantization after it: integer all the way, no libm.
    L.finish("QSoftmax", [x], {"beta": 1.0, "dtype": "int8"}, sink, op_quant=params(1 / 256, -128))
    return True


def _movement(L: Lowering, n: Node) -> bool:
    x, sink = L.source(n.inputs[0]), L.sink(n.outputs[0], fuse=False)
    if x is None or sink is None:
        return False
    L.finish(n.op, [x], n.attrs, sink, op_quant=L.g[x].quant)
    return True


# ---------------------------------------------------------------- QOperator form
def _qparams(pair) -> QuantParams:
    return params(pair[0], pair[1])


def _qlinear_sink(L: Lowering, n: Node) -> Sink:
    y = n.attrs["y"]
    return Sink(n.outputs[0], _qparams(y), n.attrs["dtype"], [n])


def _int_weights(data: np.ndarray, pair) -> tuple[np.ndarray, np.ndarray] | None:
    scale, zp = pair
    if data.dtype == np.uint8 and np.all(zp == 128):
        return (data.astype(np.int16) - 128).astype(np.int8), scale
    if data.dtype == np.int8 and np.all(zp == 0):
        return data, scale
    return None


def _qlinear_conv(L: Lowering, n: Node) -> bool:
    a = n.attrs
    w = L.g[n.inputs[1]].data
    if w is None or a["x"][0].size != 1:
        return False
    wq = _int_weights(w, a["w"])
    x = L.int8(n.inputs[0], _qparams(a["x"]))
    b = _bias(L.g, n, 2)
    if wq is None or x is None or (len(n.inputs) > 2 and b is None):
        return False
    bias = None if b is None else b.astype(np.int64)
    return L.conv(n, x, wq[0], wq[1], None, _qlinear_sink(L, n),
                  bias_int=bias if bias is not None else np.zeros(w.shape[0]))


def _qlinear_matmul(L: Lowering, n: Node) -> bool:
    a = n.attrs
    w = L.g[n.inputs[1]].data
    if w is None:
        return False
    wq = _int_weights(w, a["b"])
    x = L.int8(n.inputs[0], _qparams(a["a"]))
    if wq is None or x is None or len(L.g[x].shape) < 2:
        return False
    return L.fully_connected(x, np.ascontiguousarray(wq[0].T), wq[1], None, _qlinear_sink(L, n), keep=True,
                             bias_int=np.zeros(w.shape[1]))


def _qlinear_add(L: Lowering, n: Node) -> bool:
    a = n.attrs
    x, y = L.int8(n.inputs[0], _qparams(a["a"])), L.int8(n.inputs[1], _qparams(a["b"]))
    if x is None or y is None:
        return False
    L.finish("QAdd", [x, y], {"activation": "NONE"}, _qlinear_sink(L, n))
    return True


HANDLERS = {"Conv": _conv, "Gemm": _gemm, "MatMul": _matmul, "Add": _binary, "Mul": _binary,
            "AveragePool": _pool, "MaxPool": _pool, "GlobalAveragePool": _pool, "Relu": _relu, "Clip": _relu,
            "Softmax": _softmax, **{op: _movement for op in DATA_MOVEMENT},
            "QLinearConv": _qlinear_conv, "QLinearMatMul": _qlinear_matmul, "QLinearAdd": _qlinear_add}


def _requantize_pairs(L: Lowering) -> None:
    """DQ -> Q between integer tensors: nothing when the parameters are equal, else QQuantize."""
    g = L.g
    for q in [n for n in g.nodes if n.op == "QuantizeLinear"]:
        d = L.dq(q.inputs[0])
        if d is None or d.attrs["axis"] is not None or q.attrs["axis"] is not None:
            continue
        src, dst = d.inputs[0], q.outputs[0]
        if g[src].dtype not in ("int8", "uint8") or q.attrs["dtype"] not in ("int8", "uint8") or g[src].is_const:
            continue
        sq, dq = params(d.attrs["scale"], d.attrs["zero_point"]), params(q.attrs["scale"], q.attrs["zero_point"])
        if (g[src].quant is not None and not same(g[src].quant, sq)) or \
                (g[dst].quant is not None and not same(g[dst].quant, dq)):
            continue
        g[src].quant, g[dst].quant = sq, dq
        if same(sq, dq) and g[src].dtype == q.attrs["dtype"] and dst not in g.outputs:
            g.nodes.remove(q)
            for c in g.consumers(dst):
                c.inputs = [src if i == dst else i for i in c.inputs]
            continue
        L.pos = g.nodes.index(q)
        g.nodes.remove(q)
        L.emit("QQuantize", [src], {"dtype": q.attrs["dtype"]}, dst, dq)


def run(g: Graph) -> Graph:
    if not any(n.op in ("DequantizeLinear", "QLinearConv", "QLinearMatMul", "QLinearAdd") for n in g.nodes):
        return g
    L = Lowering(g)
    for node in list(g.nodes):
        handler = HANDLERS.get(node.op)
        if handler is None or node not in g.nodes or all(g[o].is_const for o in node.outputs if o):
            continue
        L.pos = g.nodes.index(node)
        if handler(L, node) and node in g.nodes:
            g.nodes.remove(node)
    _requantize_pairs(L)
    return remove_dead.run(g)
