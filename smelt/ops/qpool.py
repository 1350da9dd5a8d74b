"""QAveragePool2D and QMaxPool2D: TFLite AVERAGE_POOL_2D / MAX_POOL_2D on int8 and int16, NHWC,
bit-exact with TFLM (input and output share scale and zero point; only in-image taps count).

attrs: kernel (h, w), strides (h, w), pads (top, left, bottom, right), activation (the clamp).
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..registry import register
from .qbase import QOp, act_range, window_out


class _QPool(QOp):
    kernel = ("qfixed", "qpool")
    average = False

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("int8", "int16"))
        if len(x.shape) != 4:
            raise self.unsupported(node, f"needs a 4-D NHWC input, got {list(x.shape)}")
        (kh, kw), (sh, sw) = node.attrs["kernel"], node.attrs["strides"]
        top, left, bottom, right = node.attrs["pads"]
        return [((x.shape[0], window_out(x.shape[1], kh, sh, 1, top, bottom),
                  window_out(x.shape[2], kw, sw, 1, left, right), x.shape[3]), x.dtype)]

    def windows(self, node, g):
        """Per output row / column: the [start, end) of in-image input rows / columns."""
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        (kh, kw), (sh, sw) = node.attrs["kernel"], node.attrs["strides"]
        top, left = node.attrs["pads"][:2]
        rows = [(max(o * sh - top, 0), min(o * sh - top + kh, x.shape[1])) for o in range(y.shape[1])]
        cols = [(max(o * sw - left, 0), min(o * sw - left + kw, x.shape[2])) for o in range(y.shape[2])]
        return rows, cols

    def reference(self, node, g, xs):
        self.out_quant(node, g)
        x = xs[0].astype(np.int64)
        y = g[node.outputs[0]]
        lo, hi = act_range(node, g)
        rows, cols = self.windows(node, g)
        out = np.zeros(y.shape, np.int64)
        for i, (r0, r1) in enumerate(rows):
            for j, (c0, c1) in enumerate(cols):
                win = x[:, r0:r1, c0:c1, :]
                if self.average:
                    count = win.shape[1] * win.shape[2]
                    acc = win.sum(axis=(1, 2))
                    # TFLM: round half away from zero with C's truncating division.
                    out[:, i, j, :] = np.where(acc > 0, quant.trunc_div(acc + count // 2, count),
                                               quant.trunc_div(acc - count // 2, count))
                else:
                    out[:, i, j, :] = win.max(axis=(1, 2))
        return [quant.clamp(out, lo, hi).astype(y.dtype)]

    def emit(self, node, g, ctx):
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        lo, hi = act_range(node, g)
        (kh, kw), (sh, sw) = node.attrs["kernel"], node.attrs["strides"]
        params = ctx.params("smelt_qpool_params", {
            "batches": x.shape[0], "in_h": x.shape[1], "in_w": x.shape[2], "channels": x.shape[3],
            "out_h": y.shape[1], "out_w": y.shape[2], "k_h": kh, "k_w": kw, "stride_h": sh, "stride_w": sw,
            "pad_top": node.attrs["pads"][0], "pad_left": node.attrs["pads"][1], "act_min": lo, "act_max": hi})
        kind = "avgpool" if self.average else "maxpool"
        ctx.call(f"smelt_q{kind}_{'i8' if x.dtype == 'int8' else 'i16'}", ctx.ptr(node.inputs[0]),
                 ctx.ptr(node.outputs[0]), params)


@register
class QAveragePool2D(_QPool):
    average = True


@register
class QMaxPool2D(_QPool):
    pass
