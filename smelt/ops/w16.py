"""Float layers with IEEE half weights (fp16 weight storage, float32 compute): ConvW16 (2-D Conv,
NCHW, any group) and FullyConnectedW16 (y = act(alpha * x W^T + beta * bias), W [N, K]).

Weights are uint16 half bit patterns (w_shape: their float shape); the kernels convert them with
integer bit manipulation (no _Float16, no libm) one output channel at a time into scratch, then
compute in float32. The reference converts them with numpy (exact: every half is a float32) and runs
Conv's / Gemm's float reference, so C and reference differ by float summation order only.
"""
from __future__ import annotations

import numpy as np

from .. import activation, registry
from ..ir import Graph, Node, Tensor
from ..registry import Op, register


def to_float(bits: np.ndarray) -> np.ndarray:
    return np.asarray(bits, np.uint16).view(np.float16).astype(np.float32)


class _W16(Op):
    onnx = ()            # produced by passes/fp16_weights.py, not by a front end
    kernel = "w16"
    fusable_activation = True

    def check(self, node, g):
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        self.check_dtype(node, x.dtype, ("float32",))
        self.check_dtype(node, w.dtype, ("uint16",))
        if w.size != int(np.prod(node.attrs["w_shape"])):
            raise self.unsupported(node, f"{w.size} half weights for shape {node.attrs['w_shape']}")

    def scratch(self, node, g):
        return 4 * int(np.prod(node.attrs["w_shape"][1:]))   # one output channel's weights


@register
class ConvW16(_W16):
    def decoded(self, node, g) -> tuple[Node, Graph]:
        w = g[node.inputs[1]]
        view = Graph(g.name, dict(g.tensors), [], g.inputs, g.outputs)
        name = w.name + "/float"
        view.tensors[name] = Tensor(name, tuple(node.attrs["w_shape"]), "float32",
                                    None if w.data is None else to_float(w.data).reshape(node.attrs["w_shape"]))
        return Node("Conv", node.name, [node.inputs[0], name] + node.inputs[2:], node.outputs, node.attrs), view

    def infer(self, node, g):
        self.check(node, g)
        if len(g[node.inputs[0]].shape) != 4:
            raise self.unsupported(node, "2-D convolutions only (NCHW input)")
        return registry.get("Conv").infer(*self.decoded(node, g))

    def reference(self, node, g, xs):
        n, view = self.decoded(node, g)
        return registry.get("Conv").reference(n, view, [xs[0], view[n.inputs[1]].data] + xs[2:])

    def emit(self, node, g, ctx):
        x, y, a = g[node.inputs[0]], g[node.outputs[0]], node.attrs
        w = a["w_shape"]
        params = ctx.params("smelt_w16_conv_params", {
            "batches": x.shape[0], "in_c": x.shape[1], "in_h": x.shape[2], "in_w": x.shape[3],
            "out_c": y.shape[1], "out_h": y.shape[2], "out_w": y.shape[3], "k_h": w[2], "k_w": w[3],
            "group": a["group"], "stride_h": a["strides"][0], "stride_w": a["strides"][1],
            "dil_h": a["dilations"][0], "dil_w": a["dilations"][1], "pad_top": a["pads"][0],
            "pad_left": a["pads"][1], "act": activation.c_struct(a.get("act"))})
        bias = node.inputs[2] if len(node.inputs) > 2 else ""
        ctx.call("smelt_w16_conv_f32", ctx.ptr(x.name), ctx.ptr(node.inputs[1]), ctx.ptr(bias), ctx.ptr(y.name),
                 ctx.scratch("float"), params)

    def macs(self, node, g):
        return g[node.outputs[0]].size * int(np.prod(node.attrs["w_shape"][1:]))


@register
class FullyConnectedW16(_W16):
    def infer(self, node, g):
        self.check(node, g)
        x, (n, k) = g[node.inputs[0]], node.attrs["w_shape"]
        if not x.shape or x.shape[-1] != k:
            raise self.unsupported(node, f"input {list(x.shape)} does not end in {k}")
        return [(x.shape[:-1] + (n,), "float32")]

    def reference(self, node, g, xs):
        a = node.attrs
        w = to_float(xs[1]).reshape(a["w_shape"])
        y = np.float32(a["alpha"]) * (xs[0] @ w.T)
        if len(xs) > 2 and xs[2] is not None:
            y = y + np.float32(a["beta"]) * xs[2]
        return [activation.apply(y.astype(np.float32), a.get("act"))]

    def emit(self, node, g, ctx):
        a, x = node.attrs, g[node.inputs[0]]
        n, k = a["w_shape"]
        params = ctx.params("smelt_w16_fc_params", {
            "batches": x.size // k, "in_depth": k, "out_depth": n, "alpha": a["alpha"], "beta": a["beta"],
            "act": activation.c_struct(a.get("act"))})
        bias = node.inputs[2] if len(node.inputs) > 2 else ""
        ctx.call("smelt_w16_fc_f32", ctx.ptr(x.name), ctx.ptr(node.inputs[1]), ctx.ptr(bias),
                 ctx.ptr(node.outputs[0]), ctx.scratch("float"), params)

    def macs(self, node, g):
        return g[node.outputs[0]].size * node.attrs["w_shape"][1]
