"""Quantization-aware training on smelt's IR, and export of the result into smelt's IR.

    from smelt.train import qat
    fg = qat.float_graph("model.onnx")                  # BN folded, activations unfused
    qm = qat.QATModule(fg, weights="int4")              # "int8" | "int4" | "ternary" | "binary"
    qat.calibrate(qm, x_train[:256])                    # first activation ranges
    qat.fit(qm, x_train, y_train, epochs=10, teacher=GraphModule(fg))   # QAT + distillation
    g = qat.export(qm)                                  # optimized int8 Graph (QConv2D, QFullyConnected, ...)
    g4 = qat.export_format(qm)                          # ... with the int4 / ternary / binary weights packed

Fake quantization follows the integer graph smelt compiles, tensor for tensor: int8 activations
asymmetric per tensor with EMA min/max ranges at every tensor the lowered graph keeps in int8
(graph inputs, each Conv/Gemm/Add/pool result after its fused ReLU; Flatten/Reshape/MaxPool share
their input's parameters); weights symmetric per output channel; the bias rounded to int32 in units
of s_x * s_w. Gradients pass rounding by the straight-through estimator, clipped to the
quantization range (int8/int4) or to |w| <= 3 * mean|w| (binary, ternary: sign + per-channel
scale mean|w|, as in XNOR-Net / TWN). The first and last weighted layers stay int8 for binary and
ternary by default (first_last="int8").

export() writes the trained weights as integers with their scales and the observed activation
parameters into the Graph as QuantizeLinear/DequantizeLinear pairs and runs smelt's pipeline on it:
the lower_quantized pass turns it into the same TFLM-exact QConv2D / QDepthwiseConv2D /
QFullyConnected / QMean ... graph a QDQ ONNX file gives, with QuantParams on every int8 tensor.
Low-bit weights are then exactly on their grid (|q| <= 7, {-1, 0, 1}, {-1, 1}) and
smelt.compress packs them bit for bit (export_format).
"""
from __future__ import annotations

import numpy as np
import torch

from .. import pipeline
from ..errors import SmeltError
from ..ir import Graph, Node, Tensor
from ..quantize import qparams
from .graph_module import WEIGHTED, GraphModule
from .distill import fit  # noqa: F401  (re-exported: qat.fit)

FORMATS = ("int8", "int4", "ternary", "binary")
QMAX = {"int8": 127, "int4": 7}
SHARES_INPUT = ("Flatten", "Reshape", "Squeeze", "Unsqueeze", "MaxPool", "GlobalMaxPool")
ACTIVATIONS = ("Relu", "Clip")


def float_graph(model, **load_options) -> Graph:
    """A float model as the Graph QAT trains: constants folded, BatchNorm folded into the convs,
    activations left as their own nodes (the QDQ lowering fuses them back)."""
    from .. import api
    return pipeline.optimize(api.load(model, **load_options), skip=("fuse_activation",))


def weight_axis(node: Node) -> int:
    """The output-channel axis of a weighted node's weights."""
    if node.op == "Gemm":
        return 0 if node.attrs.get("transB") else 1
    return 1 if node.op == "MatMul" else 0


# ---------------------------------------------------------------- weights
def _per_channel(w, axis, fn):
    """fn over each output channel's weights, broadcast back to w's shape."""
    wc = w.movedim(axis, 0).reshape(w.shape[axis], -1)
    v = fn(wc)
    shape = [1] * w.dim()
    shape[axis] = -1
    return v.reshape(shape)


def quantize_weight(w: torch.Tensor, fmt: str, axis: int):
    """(fake-quantized w with a straight-through gradient, integer values, per-channel scales)."""
    if fmt in QMAX:
        qmax = QMAX[fmt]
        scale = (_per_channel(w, axis, lambda c: c.abs().amax(1)) / qmax).clamp_min(1e-12).detach()
        u = w / scale
        uc = u.clamp(-qmax, qmax)                            # zero gradient outside the range
        q = uc + (torch.round(uc) - uc).detach()
    else:
        mean_abs = _per_channel(w, axis, lambda c: c.abs().mean(1)).clamp_min(1e-12).detach()
        if fmt == "binary":
            t = torch.where(w >= 0, 1.0, -1.0)
            scale = mean_abs
        elif fmt == "ternary":
            mask = (w.abs() > 0.7 * mean_abs).float()
            t = torch.sign(w) * mask
            scale = (_per_channel(w.abs() * mask, axis, lambda c: c.sum(1))
                     / _per_channel(mask, axis, lambda c: c.sum(1)).clamp_min(1)).clamp_min(1e-12).detach()
        else:
            raise SmeltError(f"unknown weight format '{fmt}' (use one of {', '.join(FORMATS)})")
        u = w / scale
        inside = w.abs() <= 3 * mean_abs
        uc = torch.where(inside, u, u.detach())              # STE clipped to |w| <= 3 mean|w|
        q = uc + (t - uc).detach()
    return q * scale, q.detach(), scale.detach().reshape(-1)


# ---------------------------------------------------------------- activations
class Observer(torch.nn.Module):
    """EMA min/max of one tensor; fake-quantizes it to asymmetric int8 (smelt.quantize.qparams)."""

    def __init__(self, momentum: float = 0.9):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("lo", torch.tensor(0.0))
        self.register_buffer("hi", torch.tensor(0.0))
        self.register_buffer("seen", torch.tensor(False))
        self.enabled = True

    def params(self) -> tuple[np.float32, int]:
        return qparams(float(self.lo), float(self.hi))

    def forward(self, x):
        if self.training or not bool(self.seen):
            lo, hi = float(x.detach().min()), float(x.detach().max())
            if bool(self.seen):
                m = self.momentum
                lo, hi = m * float(self.lo) + (1 - m) * lo, m * float(self.hi) + (1 - m) * hi
            self.lo.fill_(lo)
            self.hi.fill_(hi)
            self.seen.fill_(True)
        if not self.enabled:
            return x
        scale, zp = self.params()
        return torch.fake_quantize_per_tensor_affine(x, float(scale), int(zp), -128, 127)


class QATModule(torch.nn.Module):
    """A float Graph with fake quantization; `weights` is the format of the weighted layers
    (first/last ones get `first_last`, default int8 for binary/ternary, the same format otherwise)."""

    def __init__(self, g: Graph, weights: str = "int8", first_last: str | None = None):
        super().__init__()
        if weights not in FORMATS:
            raise SmeltError(f"unknown weight format '{weights}' (use one of {', '.join(FORMATS)})")
        if any(n.attrs.get("act") for n in g.nodes):
            raise SmeltError("QAT needs the activations as their own nodes: build the graph with "
                             "smelt.train.qat.float_graph(model)")
        self.gm = GraphModule(g)
        g = self.gm.graph
        first_last = first_last or ("int8" if weights in ("binary", "ternary") else weights)
        layers = [n for n in g.nodes if n.op in WEIGHTED and g[n.inputs[1]].is_const]
        self.formats = {n.name: (first_last if n in (layers[0], layers[-1]) else weights) for n in layers}
        self.weights_format = weights
        # Which tensor each int8 tensor's parameters come from (itself, or the input it aliases).
        self.owner: dict[str, str] = {x: x for x in g.inputs}
        for n in g.nodes:
            o = n.outputs[0]
            users = g.consumers(o)
            if n.op in SHARES_INPUT and n.inputs[0] in self.owner:
                self.owner[o] = self.owner[n.inputs[0]]
            elif len(users) == 1 and users[0].op in ACTIVATIONS and o not in g.outputs and n.op not in ACTIVATIONS:
                continue                                        # fused: quantized after the ReLU
            else:
                self.owner[o] = o
        self.observers = torch.nn.ModuleDict({_k(t): Observer() for t in set(self.owner.values())})
        self._wscale: dict[str, torch.Tensor] = {}
        self.gm.weight_hook = self._weight
        self.gm.act_hook = self._act
        self.gm.bias_hook = self._bias

    def _weight(self, node, w):
        fmt = self.formats.get(node.name)
        if fmt is None:
            return w
        wq, _, scale = quantize_weight(w, fmt, weight_axis(node))
        self._wscale[node.name] = scale
        return wq

    def _bias(self, node, b, env):
        x = self.owner.get(node.inputs[0])
        if x is None or node.name not in self._wscale:
            return b
        s = float(self.observers[_k(x)].params()[0]) * self._wscale[node.name]
        return b + (torch.round(b / s) * s - b).detach()

    def _act(self, name, y):
        owner = self.owner.get(name)
        return y if owner is None else self.observers[_k(owner)](y)

    def forward(self, *xs):
        return self.gm(*xs)

    def act_params(self) -> dict[str, tuple[np.float32, int]]:
        return {t: self.observers[_k(o)].params() for t, o in self.owner.items()}

    def int_weights(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{weight tensor: (int8 values on the format's grid, per-channel scales)}."""
        out = {}
        g = self.gm.graph
        for n in g.nodes:
            if n.name in self.formats:
                w = self.gm.params[_pkey(n.inputs[1])].detach()
                _, q, s = quantize_weight(w, self.formats[n.name], weight_axis(n))
                out[n.inputs[1]] = (q.numpy().astype(np.int8), s.numpy().astype(np.float32))
        return out


def _k(name: str) -> str:
    return "t" + "".join(c if c.isalnum() else "_" for c in name)


def _pkey(name: str) -> str:
    from .graph_module import _key
    return _key(name)


def calibrate(qm: QATModule, x, batch: int = 128) -> None:
    """Set the activation ranges from data (EMA over batches) before training."""
    qm.train()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            qm(torch.as_tensor(np.asarray(x[i:i + batch], np.float32)))
    qm.eval()


# ---------------------------------------------------------------- export
def qdq_graph(qm: QATModule) -> Graph:
    """The trained graph with its quantization as QuantizeLinear/DequantizeLinear nodes (smelt IR)."""
    g = qm.gm.to_graph()
    ints = qm.int_weights()
    acts = qm.act_params()
    nodes = []

    renamed = {}
    for x in g.inputs:
        new, renamed[x] = _qdq(g, x, acts[x])
        nodes += new
    for n in g.nodes:
        n.inputs = [renamed.get(i, i) for i in n.inputs]
        if n.name in qm.formats:
            q, s = ints[n.inputs[1]]
            axis = weight_axis(n)
            wi = g.add_const(n.inputs[1] + "_int", q).name
            wd = g.unique(n.inputs[1] + "_dq")
            g.add(Tensor(wd, q.shape, "float32"))
            nodes.append(Node("DequantizeLinear", wd, [wi], [wd], {
                "scale": s, "zero_point": np.zeros(s.size, np.int64), "axis": axis if s.size > 1 else None,
                "dtype": "int8"}))
            n.inputs = [n.inputs[0], wd] + n.inputs[2:]
        nodes.append(n)
        o = n.outputs[0]
        if o in acts:
            if o in g.outputs:   # the graph output keeps its name: the op writes a new float tensor
                pre = g.unique(o + "_float")
                g.add(Tensor(pre, g[o].shape, "float32"))
                n.outputs[0] = pre
                new, d = _qdq(g, pre, acts[o])
                new[-1].outputs = [o]
                del g.tensors[d]
                nodes += new
            else:
                new, renamed[o] = _qdq(g, o, acts[o])
                nodes += new
    g.nodes = nodes
    g.validate()
    return g


def _qdq(g: Graph, t: str, params) -> tuple[list[Node], str]:
    """QuantizeLinear -> DequantizeLinear of float tensor t: (the two nodes, the DQ output)."""
    s, z = params
    attrs = {"scale": np.array([s], np.float32), "zero_point": np.array([z], np.int64), "axis": None, "dtype": "int8"}
    q, d = g.unique(t + "_qat_q"), g.unique(t + "_qat_dq")
    g.add(Tensor(q, g[t].shape, "int8"))
    g.add(Tensor(d, g[t].shape, "float32"))
    return [Node("QuantizeLinear", q, [t], [q], dict(attrs)), Node("DequantizeLinear", d, [q], [d], dict(attrs))], d


def export(qm: QATModule) -> Graph:
    """The trained model as smelt's optimized int8 Graph (QConv2D, QFullyConnected, ... with
    QuantParams); its weights lie on each layer's format grid, stored as int8."""
    g = pipeline.optimize(qdq_graph(qm))
    left = [n for n in g.nodes if n.op in WEIGHTED]
    if left:
        raise SmeltError(f"QAT export left float layers {[n.name for n in left]}: their pattern is not lowered")
    return g


def export_format(qm: QATModule) -> Graph:
    """export(), with the low-bit layers packed by smelt.compress (int4 / ternary / binary)."""
    from .. import compress
    g = export(qm)
    fmt = qm.weights_format
    if fmt == "int8":
        return g
    keep = qm.formats[next(iter(qm.formats))] != fmt
    return {"int4": compress.to_int4, "ternary": compress.to_ternary,
            "binary": compress.to_binary_weights}[fmt](g, keep_first_last=keep)
