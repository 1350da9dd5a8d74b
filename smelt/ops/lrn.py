"""LRN: local response normalization across channels (float32, ONNX layout N, C, spatial...)."""
from __future__ import annotations

import numpy as np

from ..registry import Example, Op, Rand, register


@register
class LRN(Op):
    kernel = "lrn"

    def from_onnx(self, node, g, opset):
        a = node.attrs
        if "size" not in a:
            raise self.unsupported(node, "no size attribute")
        node.attrs = {"size": int(a["size"]), "alpha": float(a.get("alpha", 1e-4)),
                      "beta": float(a.get("beta", 0.75)), "bias": float(a.get("bias", 1.0))}
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("float32",))
        if len(x.shape) < 3:
            raise self.unsupported(node, f"input rank {len(x.shape)} (needs N, C and spatial dims)")
        return [(x.shape, x.dtype)]

    def _window(self, node) -> tuple[int, int]:
        """Channels summed before and after each channel."""
        n = node.attrs["size"]
        return (n - 1) // 2, n // 2

    def reference(self, node, g, xs):
        x, a = xs[0], node.attrs
        before, after = self._window(node)
        sq = np.pad(x.astype(np.float32) ** 2, [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))
        total = sum(sq[:, i:i + x.shape[1]] for i in range(before + after + 1))
        scale = np.float32(a["bias"]) + np.float32(a["alpha"] / a["size"]) * total
        return [(x * scale ** np.float32(-a["beta"])).astype(np.float32)]

    def emit(self, node, g, ctx):
        x, a = g[node.inputs[0]], node.attrs
        before, after = self._window(node)
        ctx.call("smelt_lrn_f32", ctx.ptr(x.name), ctx.ptr(node.outputs[0]), ctx.params("smelt_lrn_params", {
            "batch": x.shape[0], "channels": x.shape[1], "size": int(np.prod(x.shape[2:])),
            "before": before, "after": after, "alpha_over_n": a["alpha"] / a["size"], "beta": a["beta"],
            "bias": a["bias"]}))

    def macs(self, node, g):
        return g[node.inputs[0]].size * node.attrs["size"]

    examples = [
        Example([Rand((2, 7, 5, 4))], {"size": 3}, name="defaults"),
        Example([Rand((1, 10, 6, 6), low=-3, high=3)], {"size": 5, "alpha": 0.02, "beta": 0.6, "bias": 2.0},
                name="alexnet_like"),
        Example([Rand((1, 6, 1, 9))], {"size": 1, "alpha": 0.5, "beta": 1.1, "bias": 1.5}, name="size1",
                opset=13),
        Example([Rand((1, 3, 3, 4))], {"size": 7, "alpha": 0.3}, name="window_wider_than_channels"),
    ]
