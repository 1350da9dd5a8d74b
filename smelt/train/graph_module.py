"""A float smelt Graph as a trainable torch module, and back.

Training works on smelt's IR rather than on the user's original torch module: the same code then
fine-tunes, distils and quantization-aware-trains any model smelt imports (ONNX, torch, float
TFLite) and a graph that smelt.prune has already cut, and the trained weights go straight back
into the Graph that compiles. The module runs the graph's nodes in order with torch functional
ops; every constant weight/bias of a Conv / Gemm / MatMul is an nn.Parameter.

    gm = GraphModule(float_graph)          # float_graph: smelt.pipeline.optimize(smelt.load(...))
    ... train gm like any nn.Module ...
    trained = gm.to_graph()                # a copy of the Graph with the trained weights
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UnsupportedOpError
from ..ir import Graph, Tensor

WEIGHTED = ("Conv", "Gemm", "MatMul")


def _key(name: str) -> str:
    return "p" + "".join(c if c.isalnum() else "_" for c in name)


def _act(y, act):
    """The activation a fuse pass folded into a node ('act': (op, min, max))."""
    if not act:
        return y
    kind, lo, hi = act
    if kind == "Relu":
        return F.relu(y)
    if kind == "Clip":
        return torch.clamp(y, lo, hi)
    raise UnsupportedOpError(f"fused activation {kind} is not trainable")


def _pads2d(x, pads, value=0.0):
    top, left, bottom, right = pads
    if top == bottom and left == right:
        return x, (top, left)
    return F.pad(x, (left, right, top, bottom), value=value), (0, 0)


class GraphModule(torch.nn.Module):
    """Runs a float ir.Graph (NCHW, the importer's layout) in torch; weights are parameters.

    Hooks for quantization-aware training (smelt.train.qat): `weight_hook(node, w)` transforms a
    weight before use, `act_hook(tensor name, y)` every activation the graph produces."""

    def __init__(self, g: Graph):
        super().__init__()
        self.graph = g.copy()
        self.params = torch.nn.ParameterDict()
        for n in self.graph.nodes:
            if n.op not in OPS:
                raise UnsupportedOpError(f"node '{n.name}' ({n.op}) cannot be trained: trainable ops are "
                                         f"{sorted(OPS)}", n.name)
            if n.op in WEIGHTED:
                for i in n.inputs[1:3]:
                    if i and self.graph[i].is_const and _key(i) not in self.params:
                        self.params[_key(i)] = torch.nn.Parameter(torch.tensor(
                            np.asarray(self.graph[i].data, np.float32)))
        self.weight_hook = None
        self.act_hook = None
        self.bias_hook = None

    def value(self, name: str, env: dict):
        if name in env:
            return env[name]
        k = _key(name)
        if k in self.params:
            return self.params[k]
        t = self.graph[name]
        return torch.as_tensor(np.asarray(t.data))

    def weight(self, node, index: int, env):
        w = self.value(node.inputs[index], env)
        return self.weight_hook(node, w) if self.weight_hook is not None else w

    def forward(self, *xs):
        g = self.graph
        env = {}
        for name, x in zip(g.inputs, xs):
            env[name] = self._act(name, x)
        for n in g.nodes:
            outs = OPS[n.op](self, n, env)
            for o, y in zip(n.outputs, outs if isinstance(outs, tuple) else (outs,)):
                env[o] = self._act(o, y)
        res = [env[o] for o in g.outputs]
        return res[0] if len(res) == 1 else tuple(res)

    def _act(self, name, y):
        return self.act_hook(name, y) if self.act_hook is not None else y

    def to_graph(self) -> Graph:
        """A copy of the graph with the trained float weights."""
        g = self.graph.copy()
        for name, t in list(g.tensors.items()):
            k = _key(name)
            if t.is_const and k in self.params:
                data = self.params[k].detach().cpu().numpy().astype(np.float32)
                g.tensors[name] = Tensor(name, tuple(data.shape), "float32", data)
        return g


# ---------------------------------------------------------------- one function per op
def _conv(m, n, env):
    a = n.attrs
    x = m.value(n.inputs[0], env)
    w = m.weight(n, 1, env)
    b = m.value(n.inputs[2], env) if len(n.inputs) > 2 and n.inputs[2] else None
    if b is not None and m.bias_hook is not None:
        b = m.bias_hook(n, b, env)
    if len(a["kernel_shape"]) == 1:
        x, w = x.unsqueeze(2), w.unsqueeze(2)
        pads = (0, a["pads"][0], 0, a["pads"][1])
        strides, dil = (1, a["strides"][0]), (1, a["dilations"][0])
    else:
        pads, strides, dil = a["pads"], a["strides"], a["dilations"]
    x, pad = _pads2d(x, pads)
    y = F.conv2d(x, w, b, tuple(strides), pad, tuple(dil), a["group"])
    if len(a["kernel_shape"]) == 1:
        y = y.squeeze(2)
    return _act(y, a.get("act"))


def _gemm(m, n, env):
    a = n.attrs
    x = m.value(n.inputs[0], env)
    w = m.weight(n, 1, env)
    if a.get("transA"):
        x = x.t()
    y = x @ (w.t() if a.get("transB") else w) * a.get("alpha", 1.0)
    if len(n.inputs) > 2 and n.inputs[2]:
        b = m.value(n.inputs[2], env)
        if m.bias_hook is not None:
            b = m.bias_hook(n, b, env)
        y = y + a.get("beta", 1.0) * b
    return _act(y, a.get("act"))


def _matmul(m, n, env):
    x, w = m.value(n.inputs[0], env), (m.weight(n, 1, env) if m.graph[n.inputs[1]].is_const
                                       else m.value(n.inputs[1], env))
    return _act(x @ w, n.attrs.get("act"))


def _pool(m, n, env):
    a = n.attrs
    x = m.value(n.inputs[0], env)
    if n.op == "GlobalAveragePool":
        return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)
    if n.op == "GlobalMaxPool":
        return x.amax(dim=tuple(range(2, x.dim())), keepdim=True)
    if n.op == "MaxPool":
        x, pad = _pads2d(x, a["pads"], float("-inf"))
        return F.max_pool2d(x, a["kernel_shape"], a["strides"], pad, a["dilations"], bool(a["ceil_mode"]))
    x, pad = _pads2d(x, a["pads"])
    return F.avg_pool2d(x, a["kernel_shape"], a["strides"], pad, bool(a["ceil_mode"]),
                        bool(a["count_include_pad"]))


def _shape(n, m):
    return tuple(m.graph[n.outputs[0]].shape)


def _reshape(m, n, env):
    x = m.value(n.inputs[0], env)
    return x.reshape((x.shape[0],) + _shape(n, m)[1:])   # any batch size


def _flatten(m, n, env):
    x = m.value(n.inputs[0], env)
    return x.reshape(x.shape[0], -1) if n.attrs.get("axis", 1) == 1 else x.reshape(_shape(n, m))


def _binary(fn):
    return lambda m, n, env: _act(fn(m.value(n.inputs[0], env), m.value(n.inputs[1], env)), n.attrs.get("act"))


def _bn(m, n, env):
    x, s, b, mean, var = (m.value(i, env) for i in n.inputs[:5])
    return F.batch_norm(x, mean, var, s, b, False, 0.0, n.attrs.get("epsilon", 1e-5))


OPS = {
    "Conv": _conv, "Gemm": _gemm, "MatMul": _matmul,
    "Relu": lambda m, n, env: F.relu(m.value(n.inputs[0], env)),
    "Clip": lambda m, n, env: torch.clamp(m.value(n.inputs[0], env), n.attrs["min"], n.attrs["max"]),
    "Sigmoid": lambda m, n, env: torch.sigmoid(m.value(n.inputs[0], env)),
    "Tanh": lambda m, n, env: torch.tanh(m.value(n.inputs[0], env)),
    "Softmax": lambda m, n, env: torch.softmax(m.value(n.inputs[0], env), n.attrs["axis"]),
    "MaxPool": _pool, "AveragePool": _pool, "GlobalAveragePool": _pool, "GlobalMaxPool": _pool,
    "Flatten": _flatten, "Reshape": _reshape, "Squeeze": _reshape, "Unsqueeze": _reshape,
    "Add": _binary(torch.add), "Mul": _binary(torch.mul), "Sub": _binary(torch.sub),
    "Concat": lambda m, n, env: torch.cat([m.value(i, env) for i in n.inputs], n.attrs["axis"]),
    "BatchNormalization": _bn,
}
