"""QMean: TFLite MEAN on int8 and int16 over any axes, bit-exact with TFLM: the sum of
(x - zp_in) requantized by s_in / (s_out * count), with 1/count folded into the multiplier as
TFLM does (older TFLM versions had other paths for same-quantization and 4-D spatial means; the
TFLM this is tested against uses this one for all).
attrs: axes (as the model lists them; negative counts from the end), keep_dims.
"""
from __future__ import annotations

import math

import numpy as np

from .. import quant
from ..registry import register
from .qbase import QOp


@register
class QMean(QOp):
    kernel = ("qfixed", "qmean")

    def axes(self, node, g) -> list[int]:
        rank = len(g[node.inputs[0]].shape)
        axes = sorted({a + rank if a < 0 else a for a in node.attrs["axes"]})
        if any(not 0 <= a < rank for a in axes):
            raise self.unsupported(node, f"axes {node.attrs['axes']} for rank {rank}")
        return axes

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("int8", "int16"))
        axes = self.axes(node, g)
        if node.attrs.get("keep_dims"):
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return [(shape, x.dtype)]

    def prepare(self, node, g) -> dict:
        self.quantized(node, g, 0)
        self.out_quant(node, g)
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        axes = self.axes(node, g)
        count = math.prod(x.shape[a] for a in axes)
        m, s = quant.quantize_multiplier(float(np.float64(quant.scale(x)) / np.float64(quant.scale(y))))
        # Fold 1/count into the multiplier, keeping the shift within MultiplyByQuantizedMultiplier's range.
        shift = min(int(count).bit_length() - 1, 32, 31 + s)
        return {"count": count, "multiplier": int((m << shift) // count), "shift": s - shift, "axes": axes,
                "in_zp": quant.zero_point(x), "out_zp": quant.zero_point(y)}

    def reference(self, node, g, xs):
        p = self.prepare(node, g)
        y = g[node.outputs[0]]
        total = xs[0].astype(np.int64).sum(axis=tuple(p["axes"])) - p["in_zp"] * p["count"]
        acc = quant.multiply_by_quantized_multiplier(quant.wrap32(total), p["multiplier"], p["shift"])
        lo, hi = quant.INT_RANGE[y.dtype]
        return [quant.clamp(acc + p["out_zp"], lo, hi).astype(y.dtype).reshape(y.shape)]

    def scratch(self, node, g):
        return 4 * max(g[node.outputs[0]].size, 1)

    def emit(self, node, g, ctx):
        p = self.prepare(node, g)
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        # Moving along input dim i moves the output position by out_strides[i] (0 if reduced).
        out_strides, step = [0] * len(x.shape), 1
        for i in reversed(range(len(x.shape))):
            if i not in p["axes"]:
                out_strides[i] = step
                step *= x.shape[i]
        lo, hi = quant.INT_RANGE[y.dtype]
        params = ctx.params("smelt_qmean_params", {
            "rank": max(len(x.shape), 1), "dims": list(x.shape) or [1], "out_strides": out_strides or [0],
            "in_size": x.size, "out_size": max(y.size, 1), "count": p["count"],
            "input_zero_point": p["in_zp"], "output_zero_point": p["out_zp"],
            "multiplier": p["multiplier"], "shift": p["shift"], "out_min": lo, "out_max": hi})
        ctx.call(f"smelt_qmean_{'i8' if x.dtype == 'int8' else 'i16'}", ctx.ptr(node.inputs[0]),
                 ctx.ptr(node.outputs[0]), ctx.scratch("int32_t"), params)
