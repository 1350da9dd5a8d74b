"""QSvdf: TFLite SVDF with int8 input/output and an int8 or int16 activation state (and time
weights of the same type), bit-exact with TFLM's integer kernel.

Inputs x [batch, input], weights_feature [filters, input], weights_time [filters, memory],
bias [units] (optional). attrs: rank, state = {shape, dtype, scale, zero_point}.
The state is TFLite's variable tensor: it persists across inferences (a static array in the
generated C, filled with its zero point at the first call, like TFLM after AllocateTensors).
The numpy reference computes one inference from that initial state.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..registry import register
from .qbase import INT_TYPES, QOp


@register
class QSvdf(QOp):
    kernel = ("qfixed", "qsvdf")
    foldable = False   # stateful

    def infer(self, node, g):
        x, wf, wt = (g[n] for n in node.inputs[:3])
        st = node.attrs["state"]
        self.check_dtype(node, x.dtype, ("int8",))
        self.check_dtype(node, wf.dtype, ("int8",))
        self.check_dtype(node, st["dtype"], ("int8", "int16"))
        if wt.dtype != st["dtype"]:
            raise self.unsupported(node, f"time weights {wt.dtype} with a {st['dtype']} state")
        rank = node.attrs["rank"]
        filters, memory = wt.shape
        if len(x.shape) != 2 or wf.shape != (filters, x.shape[1]) or filters % rank:
            raise self.unsupported(node, f"shapes x {list(x.shape)}, weights {list(wf.shape)}, {list(wt.shape)}")
        if tuple(st["shape"]) != (x.shape[0], filters * memory):
            raise self.unsupported(node, f"state shape {list(st['shape'])}")
        return [((x.shape[0], filters // rank), "int8")]

    def prepare(self, node, g) -> dict:
        self.quantized(node, g, 0, 1, 2)
        self.out_quant(node, g)
        x, wf, wt, y = g[node.inputs[0]], g[node.inputs[1]], g[node.inputs[2]], g[node.outputs[0]]
        st = node.attrs["state"]
        f32 = np.float32
        # TFLM computes both ratios in float32 before widening them to double.
        s1 = f32(f32(quant.scale(x) * quant.scale(wf)) / f32(st["scale"]))
        s2 = f32(f32(f32(st["scale"]) * quant.scale(wt)) / quant.scale(y))
        m1, sh1 = quant.quantize_multiplier(float(s1))
        m2, sh2 = quant.quantize_multiplier(float(s2))
        units = wt.shape[0] // node.attrs["rank"]
        bias = (np.zeros(units, np.int64) if len(node.inputs) < 4 or not node.inputs[3]
                else self.const_input(node, g, 3, "bias").astype(np.int64).reshape(units))
        return {"m1": m1, "s1": sh1, "m2": m2, "s2": sh2, "bias": bias, "in_zp": quant.zero_point(x),
                "state_zp": st["zero_point"], "out_zp": quant.zero_point(y)}

    def step(self, node, g, x, wf, wt, state) -> np.ndarray:
        """One inference: updates `state` (int64 [batch, filters, memory]) in place, returns y."""
        p = self.prepare(node, g)
        lo, hi = quant.INT_RANGE[node.attrs["state"]["dtype"]]
        batch = x.shape[0]
        filters, memory = wt.shape
        flat = state.reshape(-1)
        flat[:-1] = flat[1:].copy()
        dot = (x.astype(np.int64) - p["in_zp"]) @ wf.astype(np.int64).T
        dot = quant.multiply_by_quantized_multiplier(quant.wrap32(dot), p["m1"], p["s1"])
        state[:, :, memory - 1] = quant.clamp(dot + p["state_zp"], lo, hi)
        t = ((state - p["state_zp"]) * wt.astype(np.int64)).sum(axis=2)        # [batch, filters]
        acc = quant.wrap32(p["bias"] + t.reshape(batch, -1, node.attrs["rank"]).sum(axis=2))
        out = quant.multiply_by_quantized_multiplier(acc, p["m2"], p["s2"]) + p["out_zp"]
        return quant.clamp(out, -128, 127).astype(np.int8)

    def initial_state(self, node, g) -> np.ndarray:
        st = node.attrs["state"]
        wt = g[node.inputs[2]]
        return np.full((st["shape"][0],) + wt.shape, st["zero_point"], np.int64)

    def reference(self, node, g, xs):
        return [self.step(node, g, xs[0], xs[1], xs[2], self.initial_state(node, g))]

    def emit(self, node, g, ctx):
        p = self.prepare(node, g)
        x, wt = g[node.inputs[0]], g[node.inputs[2]]
        st = node.attrs["state"]
        ctype = INT_TYPES[st["dtype"]]
        n = int(np.prod(st["shape"]))
        # Persistent across calls (TFLM's variable tensor), starting at the zero point.
        state = ctx.state(node.name, ctype, n, int(st["zero_point"]))
        lo, hi = quant.INT_RANGE[st["dtype"]]
        params = ctx.params("smelt_qsvdf_params", {
            "batches": x.shape[0], "input_size": x.shape[1], "filters": wt.shape[0], "memory": wt.shape[1],
            "rank": node.attrs["rank"], "input_zero_point": p["in_zp"], "state_zero_point": p["state_zp"],
            "output_zero_point": p["out_zp"], "state_min": lo, "state_max": hi,
            "multiplier1": p["m1"], "shift1": p["s1"], "multiplier2": p["m2"], "shift2": p["s2"],
            "bias": ctx.array("int32_t", p["bias"])})
        ctx.call(f"smelt_qsvdf_s{8 * np.dtype(st['dtype']).itemsize}", ctx.ptr(node.inputs[0]),
                 ctx.ptr(node.inputs[1]), ctx.ptr(node.inputs[2]), state, ctx.ptr(node.outputs[0]), params)

    def macs(self, node, g):
        x, wt = g[node.inputs[0]], g[node.inputs[2]]
        return x.shape[0] * wt.shape[0] * (x.shape[1] + wt.shape[1])
