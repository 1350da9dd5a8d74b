"""QBatchMatMul: TFLite BATCH_MATMUL on int8 and int16 (ranks 2..5, broadcast batch dims),
bit-exact with TFLM: sum_k (x - zp_x)(y - zp_y) requantized by s_x s_y / s_out (int16: 64-bit
accumulator). attrs: adj_x, adj_y (transpose the last two dims of x / y).
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..registry import register
from .qbase import QOp, wide_multipliers


@register
class QBatchMatMul(QOp):
    kernel = ("qfixed", "qbatchmatmul")

    def dims(self, node, g):
        """(batch shape, m, n, k) of the product."""
        x, y = g[node.inputs[0]].shape, g[node.inputs[1]].shape
        if not 2 <= len(x) <= 5 or not 2 <= len(y) <= 5:
            raise self.unsupported(node, f"ranks {len(x)}, {len(y)} (2 to 5)")
        m, kx = (x[-1], x[-2]) if node.attrs.get("adj_x") else (x[-2], x[-1])
        ky, n = (y[-1], y[-2]) if node.attrs.get("adj_y") else (y[-2], y[-1])
        if kx != ky:
            raise self.unsupported(node, f"inner dimensions {kx} and {ky} differ")
        try:
            batch = np.broadcast_shapes(x[:-2], y[:-2])
        except ValueError:
            raise self.unsupported(node, f"batch dims {x[:-2]} and {y[:-2]} do not broadcast") from None
        return tuple(batch), m, n, kx

    def infer(self, node, g):
        x, y = g[node.inputs[0]], g[node.inputs[1]]
        self.check_dtype(node, x.dtype, ("int8", "int16"))
        if y.dtype != x.dtype:
            raise self.unsupported(node, f"inputs of types {x.dtype} and {y.dtype}")
        batch, m, n, _ = self.dims(node, g)
        return [(batch + (m, n), x.dtype)]

    def prepare(self, node, g) -> dict:
        self.quantized(node, g, 0, 1)
        self.out_quant(node, g)
        x, y, o = g[node.inputs[0]], g[node.inputs[1]], g[node.outputs[0]]
        m, s = quant.tensor_multiplier(quant.scale(x), quant.scale(y), quant.scale(o))
        return {"multiplier": m, "shift": s, "x_zp": quant.zero_point(x), "y_zp": quant.zero_point(y),
                "out_zp": quant.zero_point(o), "wide": x.dtype == "int16"}

    def reference(self, node, g, xs):
        p = self.prepare(node, g)
        o = g[node.outputs[0]]
        x = xs[0].astype(np.int64) - p["x_zp"]
        y = xs[1].astype(np.int64) - p["y_zp"]
        if node.attrs.get("adj_x"):
            x = np.swapaxes(x, -1, -2)
        if node.attrs.get("adj_y"):
            y = np.swapaxes(y, -1, -2)
        acc = np.matmul(x, y)
        if p["wide"]:
            out = quant.multiply_by_quantized_multiplier_64(acc, p["multiplier"], p["shift"])
        else:
            out = quant.multiply_by_quantized_multiplier(quant.wrap32(acc), p["multiplier"], p["shift"])
        lo, hi = quant.INT_RANGE[o.dtype]
        return [quant.clamp(out + p["out_zp"], lo, hi).astype(o.dtype).reshape(o.shape)]

    def emit(self, node, g, ctx):
        p = self.prepare(node, g)
        x, y, o = g[node.inputs[0]], g[node.inputs[1]], g[node.outputs[0]]
        batch, m, n, k = self.dims(node, g)
        batch = (1,) * (3 - len(batch)) + batch

        def batch_strides(shape, matrix: int) -> list[int]:
            """Element strides of the 3 (left-padded) batch dims; 0 where the dim is 1."""
            dims = (1,) * (5 - len(shape)) + tuple(shape[:-2])
            out, step = [], matrix
            for d in reversed(dims):
                out.append(0 if d == 1 else step)
                step *= d
            return out[::-1]

        xs = batch_strides(x.shape, m * k)
        ys = batch_strides(y.shape, k * n)
        mult, shift = (wide_multipliers(p["multiplier"], p["shift"]) if p["wide"]
                       else (p["multiplier"], p["shift"]))
        lo, hi = quant.INT_RANGE[o.dtype]
        params = ctx.params("smelt_qbatchmatmul_params", {
            "batch": list(batch), "x_batch_stride": xs, "y_batch_stride": ys, "m": m, "n": n, "k": k,
            # strides of x[i][kk] and y[kk][j] in elements, following adj_x / adj_y
            "x_row": 1 if node.attrs.get("adj_x") else k, "x_col": m if node.attrs.get("adj_x") else 1,
            "y_row": 1 if node.attrs.get("adj_y") else n, "y_col": k if node.attrs.get("adj_y") else 1,
            "x_offset": -p["x_zp"], "y_offset": -p["y_zp"], "output_offset": p["out_zp"],
            "multiplier": int(mult), "shift": int(shift), "wide": int(p["wide"]), "out_min": lo, "out_max": hi})
        ctx.call(f"smelt_qbatchmatmul_{'i8' if x.dtype == 'int8' else 'i16'}", ctx.ptr(node.inputs[0]),
                 ctx.ptr(node.inputs[1]), ctx.ptr(node.outputs[0]), params)

    def macs(self, node, g):
        batch, m, n, k = self.dims(node, g)
        return int(np.prod(batch, dtype=np.int64)) * m * n * k
