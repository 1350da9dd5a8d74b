"""QFullyConnected: TFLite FULLY_CONNECTED on int8 (per-tensor or per-channel weights) and 16x8
(int16 activations, int8 weights, int32 or int64 bias), bit-exact with TFLM's reference kernels.

Inputs x [..., K], weights [N, K] (constant, symmetric), bias [N] (optional). attrs: activation
(fused, becomes the clamp range), keep_num_dims. The input offset is folded into the bias at
compile time: sum_k w * (x + off) = sum_k w * x + off * sum_k w.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..registry import register
from .qbase import QOp, act_range, wide_multipliers



def fc_fields(batches: int, in_depth: int, out_depth: int, p: dict, multiplier, shift, ctx) -> dict:
    """The smelt_qfc_params fields every int8 fully connected family shares (dense, low-bit, sparse)."""
    lo, hi = p["act"]
    return {"batches": batches, "in_depth": in_depth, "out_depth": out_depth,
            "output_offset": p["out_off"], "act_min": lo, "act_max": hi,
            "multiplier": ctx.array("int32_t", multiplier), "shift": ctx.array("int32_t", shift),
            "per_channel": int(np.size(multiplier) > 1)}

@register
class QFullyConnected(QOp):
    kernel = ("qfixed", "qfc")

    def infer(self, node, g):
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        b = g[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
        self.check_dtype(node, x.dtype, ("int8", "int16"))
        self.check_dtype(node, w.dtype, ("int8",))
        if b is not None:
            self.check_dtype(node, b.dtype, ("int32",) if x.dtype == "int8" else ("int32", "int64"))
        if len(w.shape) != 2 or x.size % w.shape[1]:
            raise self.unsupported(node, f"weights {list(w.shape)} do not match input {list(x.shape)}")
        k, n = w.shape[1], w.shape[0]
        shape = x.shape[:-1] + (n,) if node.attrs.get("keep_num_dims") else (x.size // k, n)
        return [(shape, x.dtype)]

    def prepare(self, node, g) -> dict:
        """TFLM's Prepare: multipliers, offsets, clamp, and the bias with the input offset folded in."""
        self.quantized(node, g, 0, 1)
        self.out_quant(node, g)
        x, w, y = g[node.inputs[0]], g[node.inputs[1]], g[node.outputs[0]]
        wq = self.const_input(node, g, 1, "weights").astype(np.int64)
        n = w.shape[0]
        if np.any(w.quant.zero_point != 0):
            raise self.unsupported(node, "asymmetric (non-zero zero point) weights")
        if w.quant.per_channel:
            if w.quant.scale.size != n:
                raise self.unsupported(node, f"{w.quant.scale.size} weight scales for {n} outputs")
            m, s = quant.conv_multipliers(quant.scale(x), quant.scales(w), quant.scale(y), n)
        else:
            m1, s1 = quant.tensor_multiplier(quant.scale(x), quant.scale(w), quant.scale(y))
            m, s = np.array([m1]), np.array([s1])
        wide = x.dtype == "int16" and self._bias_dtype(node, g) == "int64"
        bias = np.zeros(n, np.int64)
        if len(node.inputs) > 2 and node.inputs[2]:
            bias = self.const_input(node, g, 2, "bias").astype(np.int64).reshape(n)
        in_off = -quant.zero_point(x) if x.dtype == "int8" else 0
        bias = bias + in_off * wq.sum(axis=1)
        if not wide:
            bias = quant.wrap32(bias)
        lo, hi = act_range(node, g)
        return {"multiplier": m, "shift": s, "bias": bias, "wide": wide, "act": (lo, hi),
                "out_off": quant.zero_point(y) if x.dtype == "int8" else 0}

    @staticmethod
    def _bias_dtype(node, g) -> str | None:
        return g[node.inputs[2]].dtype if len(node.inputs) > 2 and node.inputs[2] else None

    def reference(self, node, g, xs):
        p = self.prepare(node, g)
        w = xs[1].astype(np.int64)
        k = w.shape[1]
        x = xs[0].astype(np.int64).reshape(-1, k)
        acc = x @ w.T + p["bias"]
        if p["wide"]:
            out = quant.multiply_by_quantized_multiplier_64(acc, p["multiplier"], p["shift"])
        else:
            out = quant.multiply_by_quantized_multiplier(quant.wrap32(acc), p["multiplier"], p["shift"])
        lo, hi = p["act"]
        out = quant.clamp(out + p["out_off"], lo, hi)
        y = g[node.outputs[0]]
        return [out.astype(y.dtype).reshape(y.shape)]

    def emit(self, node, g, ctx):
        p = self.prepare(node, g)
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        m, s = (wide_multipliers(p["multiplier"], p["shift"]) if p["wide"]
                else (p["multiplier"], p["shift"]))
        params = ctx.params("smelt_qfc_params", {
            **fc_fields(x.size // w.shape[1], w.shape[1], w.shape[0], p, m, s, ctx),
            "wide": int(p["wide"]), "fast_rq": int(self.fast_rq(node, g, p))})
        bias_t = "int64_t" if x.dtype == "int16" else "int32_t"
        bias = ctx.array(bias_t, p["bias"])
        fn = "smelt_qfc_i8" if x.dtype == "int8" else "smelt_qfc_i16"
        ctx.call(fn, ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[1]), bias, ctx.ptr(node.outputs[0]), params)

    def fast_rq(self, node, g, p) -> bool:
        """Whether the DSP kernel may requantize with smelt_dsp_rq: int8, every shift negative and
        every |accumulator| = |bias + sum w * x| < 2^30 for any int8 x (|x| <= 128)."""
        if g[node.inputs[0]].dtype != "int8" or p["wide"]:
            return False
        s = np.asarray(p["shift"])
        if np.any(s >= 0) or np.any(s < -31):
            return False
        wq = self.const_input(node, g, 1, "weights").astype(np.int64)
        return bool(np.all(np.abs(p["bias"]) + np.abs(wq).sum(axis=1) * 128 < (1 << 30)))

    def macs(self, node, g):
        return g[node.outputs[0]].size * g[node.inputs[1]].shape[1]
