"""Identity and Dropout (inference: identity). The remove_identity pass drops them; when one
must stay (input straight to output) it is an alias op, i.e. a copy into the output buffer."""
from __future__ import annotations

import numpy as np

from ..registry import Example, Op, Rand, register


@register
class Identity(Op):
    alias = True
    examples = [Example([Rand((2, 3))])]

    def reference(self, node, g, xs):
        return [xs[0].copy()]


@register
class Dropout(Op):
    """Inference mode only: y = x, mask = all true."""
    alias = True
    examples = [Example([Rand((2, 3))], opset=12), Example([Rand((4,))], opset=7)]

    def infer(self, node, g):
        x = g[node.inputs[0]]
        outs = [(x.shape, x.dtype)]
        if len(node.outputs) > 1 and node.outputs[1]:
            outs.append((x.shape, "bool"))
        return outs

    def reference(self, node, g, xs):
        return [xs[0].copy(), np.ones(xs[0].shape, bool)][:len(self.infer(node, g))]
