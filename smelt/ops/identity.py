"""Identity and Dropout (inference: identity). The remove_identity pass drops them; when one
must stay (input straight to output) it is an alias op, i.e. a copy into the output buffer."""
from __future__ import annotations

import numpy as np

from ..ir import Tensor
from ..registry import Example, Op, Rand, register


@register
class Identity(Op):
    alias = True
    examples = [Example([Rand((2, 3))])]

    def reference(self, node, g, xs):
        return [xs[0].copy()]


@register
class Dropout(Op):
    """Inference: y = x. Training with ratio > 0 is random, hence unsupported. The mask output
    becomes a constant (all true), so the op itself stays a pure alias."""
    alias = True
    examples = [Example([Rand((2, 3))], opset=12), Example([Rand((4,))], opset=7),
                Example([Rand((3, 4)), np.float32(0.3), np.bool_(False)], outputs=2, opset=13)]

    def from_onnx(self, node, g, opset):
        ratio = self.const(node, g, 1) if opset >= 12 else node.attrs.get("ratio", 0.5)
        training = self.const(node, g, 2) if opset >= 12 else not node.attrs.get("is_test", 1) and opset < 7
        if training is not None and bool(training) and float(0.5 if ratio is None else ratio) > 0:
            raise self.unsupported(node, "training mode (a random mask) is not supported")
        if len(node.outputs) > 1 and node.outputs[1]:
            shape = g[node.inputs[0]].shape
            g.add(Tensor(node.outputs[1], shape, "bool", np.ones(shape, bool)))
        node.inputs, node.outputs, node.attrs = node.inputs[:1], node.outputs[:1], {}
        return node

    def reference(self, node, g, xs):
        return [xs[0].copy()]
