"""Shared pieces of the quantized operators (smelt/ops/q*.py).

Each quantized op reads its tensors' QuantParams and computes TFLM's Prepare in `prepare()`
(multipliers, shifts, clamp ranges, tables: Python, at compile time); `reference()` is TFLM's
Eval in numpy int64 arithmetic; `emit()` passes the prepared integers to a C kernel.
They have no ONNX twin yet (onnx = ()): the TFLite front end creates them, and ONNX QLinear/QDQ
import will map onto the same ops.
"""
from __future__ import annotations

import numpy as np

from .. import quant, registry
from ..ir import Graph, Node, Tensor
from ..registry import Op

INT_TYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "uint8": "uint8_t"}


class QOp(Op):
    onnx = ()

    def quantized(self, node, g, *indices: int) -> None:
        """Every listed (present) input and output 0 carries quantization parameters."""
        names = [node.inputs[i] for i in indices if i < len(node.inputs) and node.inputs[i]]
        for n in names:
            if g[n].quant is None:
                raise self.unsupported(node, f"tensor '{n}' ({g[n].dtype}) has no quantization parameters")

    def out_quant(self, node, g) -> None:
        t = g[node.outputs[0]]
        if t.quant is None:
            raise self.unsupported(node, f"output '{t.name}' has no quantization parameters")

    def const_input(self, node, g, index: int, what: str) -> np.ndarray:
        t = g[node.inputs[index]]
        if t.data is None:
            raise self.unsupported(node, f"the {what} ('{t.name}') must be a constant")
        return t.data


class EncodedWeightsOp(QOp):
    """An int8 op whose weights (input 1) are stored encoded -- packed low-bit codes, sparse blocks --
    and that computes exactly what its `base` op computes on the decoded int8 weights."""
    base = ""                 # the int8 op whose arithmetic this one shares
    decoded_suffix = "/decoded"

    def dense_weights(self, node, g) -> np.ndarray | None:
        """The int8 weights, shaped attrs['w_shape'] (None when not constant)."""
        raise NotImplementedError

    def decoded(self, node, g) -> tuple[Node, Graph]:
        """The equivalent base node (weights decoded) in a view of g."""
        w = g[node.inputs[1]]
        view = Graph(g.name, dict(g.tensors), [], g.inputs, g.outputs)
        name = w.name + self.decoded_suffix
        view.tensors[name] = Tensor(name, tuple(node.attrs["w_shape"]), "int8", self.dense_weights(node, g), w.quant)
        return Node(self.base, node.name, [node.inputs[0], name, node.inputs[2]], node.outputs, node.attrs), view

    def reference(self, node, g, xs):
        n, view = self.decoded(node, g)
        return registry.get(self.base).reference(n, view, [xs[0], view[n.inputs[1]].data, xs[2]])


def act_range(node, g) -> tuple[int, int]:
    return quant.activation_range(node.attrs.get("activation", "NONE"), g[node.outputs[0]])


def window_out(size: int, k: int, stride: int, dilation: int, before: int, after: int) -> int:
    return (size + before + after - ((k - 1) * dilation + 1)) // stride + 1


def multiplier_arrays(ctx, m, s) -> tuple[str, str]:
    return ctx.array("int32_t", np.asarray(m, np.int64)), ctx.array("int32_t", np.asarray(s, np.int64))


def wide_multipliers(m, s) -> tuple[np.ndarray, np.ndarray]:
    """(16-bit multiplier, total right shift) of TFLM's int64 MultiplyByQuantizedMultiplier."""
    m, s = np.asarray(m, np.int64), np.asarray(s, np.int64)
    m16 = np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)
    return m16, 15 - s
