"""QLstm: TFLite UNIDIRECTIONAL_SEQUENCE_LSTM with int8 activations, int8 weights, int16 cell
state (the standard Keras LSTM: no peephole, projection, CIFG or layer norm), bit-exact with
TFLM's integer kernel.

Inputs x [B, T, I] ([T, B, I] when time_major), input weights W_i, W_f, W_c, W_o [S, I],
recurrent weights R_i, R_f, R_c, R_o [S, S], biases b_i, b_f, b_c, b_o [S] (int32), in that order.
attrs: time_major, cell_clip, activation (of the cell gate: TANH or LOGISTIC), and the two
variable tensors hidden = {shape, scale, zero_point} (int8) and cell = {shape, scale} (int16).

Per step, for each gate: FC(x) and FC(h) are each requantized to Q3.12 int16, added with
saturation, and squashed by TFLM's int16 sigmoid (tanh for the cell gate) to Q0.15;
c = f*c + i*g (int16 products requantized to the cell scale, saturating add, optional clip);
h = o * tanh(c) requantized to int8. Like TFLM's variable tensors, h and c persist across
inferences (static arrays in the generated C, reset to h = zero point, c = 0 at the first call);
the numpy reference runs one inference from that initial state.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..registry import register
from .qactivation import SIGMOID_Q16, checked_log2, logistic16, rescale16, tanh16
from .qbase import QOp

GATES = ("forget", "input", "cell", "output")
Q3_12 = np.float32(2.0 ** -12)
Q0_15 = np.float32(2.0 ** -15)


@register
class QLstm(QOp):
    kernel = ("qfixed", "qactivation", "qlstm")
    foldable = False   # stateful

    def sizes(self, node, g) -> tuple[int, int, int, int]:
        """(batch, time steps, input size, state size)."""
        x = g[node.inputs[0]]
        b, t = (x.shape[1], x.shape[0]) if node.attrs.get("time_major") else (x.shape[0], x.shape[1])
        return b, t, x.shape[2], g[node.inputs[1]].shape[0]

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("int8",))
        if len(x.shape) != 3 or len(node.inputs) != 13:
            raise self.unsupported(node, f"input {list(x.shape)} with {len(node.inputs)} operands")
        b, t, i, s = self.sizes(node, g)
        for k, want in [(k, (s, i)) for k in range(1, 5)] + [(k, (s, s)) for k in range(5, 9)] + \
                       [(k, (s,)) for k in range(9, 13)]:
            w = g[node.inputs[k]]
            if w.shape != want or w.dtype != ("int32" if k >= 9 else "int8"):
                raise self.unsupported(node, f"operand {k} is {w.dtype}{list(w.shape)}, expected {list(want)}")
        if node.attrs.get("activation", "TANH") not in ("TANH", "LOGISTIC"):
            raise self.unsupported(node, f"cell gate activation {node.attrs['activation']}")
        return [(x.shape[:2] + (s,), "int8")]

    def prepare(self, node, g) -> dict:
        self.quantized(node, g, 0, *range(1, 9))
        x = g[node.inputs[0]]
        hid, cell = node.attrs["hidden"], node.attrs["cell"]
        for k in range(1, 9):
            w = g[node.inputs[k]]
            if w.quant.per_channel or quant.zero_point(w):
                raise self.unsupported(node, "LSTM weights must be quantized per tensor and symmetric")
        log2_cell, _ = checked_log2(cell["scale"])
        p = {"in_zp": quant.zero_point(x), "hid_zp": hid["zero_point"], "gates": []}
        for gate in GATES:
            wi, wr = g[node.inputs[wi_index(gate)]], g[node.inputs[wr_index(gate)]]
            wi_q = self.const_input(node, g, wi_index(gate), "input weights").astype(np.int64)
            wr_q = self.const_input(node, g, wr_index(gate), "recurrent weights").astype(np.int64)
            b = self.const_input(node, g, bias_index(gate), "bias").astype(np.int64)
            mi = quant.tensor_multiplier(quant.scale(x), quant.scale(wi), Q3_12)
            mr = quant.tensor_multiplier(np.float32(hid["scale"]), quant.scale(wr), Q3_12)
            p["gates"].append({
                "wi": wi_q, "wr": wr_q, "mi": mi, "mr": mr,
                # The input offsets are folded into the biases: sum w (x - zp) = sum w x - zp sum w.
                "bi": quant.wrap32(b - p["in_zp"] * wi_q.sum(axis=1)),
                "br": quant.wrap32(-p["hid_zp"] * wr_q.sum(axis=1))})
        cs = float(np.float32(cell["scale"]))
        p["forget_mul"] = quant.quantize_multiplier(float(np.float64(Q0_15) * cs / cs))
        p["input_mul"] = quant.quantize_multiplier(float(np.float64(Q0_15) * np.float64(Q0_15) / cs))
        p["output_mul"] = quant.quantize_multiplier(
            float(np.float64(Q0_15) * np.float64(Q0_15) / np.float64(np.float32(hid["scale"]))))
        clip = float(np.float32(node.attrs.get("cell_clip", 0.0)))
        p["clip"] = int(min(max(clip / cs, -32768.0), 32767.0)) if clip > 0 else 0
        # tanh(cell): TFLM rescales by 3 * 2^(15 + log2(scale) - 3), a shift either way.
        shift = 12 + log2_cell
        p["tanh_cell"] = (3 << shift, 0) if shift >= 0 else (3, -shift)
        return p

    def step(self, p, node, x_t, h, c) -> tuple[np.ndarray, np.ndarray]:
        """One time step for a batch of rows: x_t [n, I] int8, h [n, S], c [n, S] -> new (h, c)."""
        mbqm = quant.multiply_by_quantized_multiplier
        outs = []
        for k, gp in enumerate(p["gates"]):
            fi = quant.clamp(mbqm(quant.wrap32(x_t @ gp["wi"].T + gp["bi"]), *gp["mi"]), -32768, 32767)
            fr = quant.clamp(mbqm(quant.wrap32(h @ gp["wr"].T + gp["br"]), *gp["mr"]), -32768, 32767)
            z = quant.clamp(fi + fr, -32768, 32767)
            if GATES[k] == "cell" and node.attrs.get("activation", "TANH") == "TANH":
                outs.append(tanh16(rescale16(z, 3, 0)))
            else:
                outs.append(logistic16(rescale16(z, 3, 0)))
        f, i, gg, o = outs
        c = quant.clamp(mbqm(f * c, *p["forget_mul"]), -32768, 32767)
        c = quant.clamp(c + quant.clamp(mbqm(i * gg, *p["input_mul"]), -32768, 32767), -32768, 32767)
        if p["clip"]:
            c = np.clip(c, -p["clip"], p["clip"])
        t = tanh16(rescale16(c, *p["tanh_cell"]))
        h = quant.clamp(p["hid_zp"] + mbqm(t * o, *p["output_mul"]), -128, 127)
        return h, c

    def reference(self, node, g, xs):
        p = self.prepare(node, g)
        b, t, _, s = self.sizes(node, g)
        x = xs[0].astype(np.int64)
        if node.attrs.get("time_major"):
            x = np.swapaxes(x, 0, 1)
        h = np.full((b, s), p["hid_zp"], np.int64)
        c = np.zeros((b, s), np.int64)
        out = np.zeros((b, t, s), np.int64)
        for step in range(t):
            h, c = self.step(p, node, x[:, step], h, c)
            out[:, step] = h
        if node.attrs.get("time_major"):
            out = np.swapaxes(out, 0, 1)
        return [out.astype(np.int8)]

    def scratch(self, node, g):
        return 4 * 2 * self.sizes(node, g)[3]   # four int16 vectors of the state size

    def emit(self, node, g, ctx):
        p = self.prepare(node, g)
        b, t, i, s = self.sizes(node, g)
        state_h = ctx.state(node.name + "_h", "int8_t", b * s, int(p["hid_zp"]))
        state_c = ctx.state(node.name + "_c", "int16_t", b * s, 0)
        gates = []
        for k, gp in enumerate(p["gates"]):
            gates.append({
                "w_in": ctx.ptr(node.inputs[wi_index(GATES[k])]), "w_rec": ctx.ptr(node.inputs[wr_index(GATES[k])]),
                "bias_in": ctx.array("int32_t", gp["bi"]), "bias_rec": ctx.array("int32_t", gp["br"]),
                "mult_in": gp["mi"][0], "shift_in": gp["mi"][1], "mult_rec": gp["mr"][0], "shift_rec": gp["mr"][1]})
        params = ctx.params("smelt_qlstm_params", {
            "batches": b, "steps": t, "input_size": i, "state_size": s,
            "time_major": int(bool(node.attrs.get("time_major"))),
            "cell_tanh": int(node.attrs.get("activation", "TANH") == "TANH"),
            "forget": gates[0], "input": gates[1], "cell": gates[2], "output": gates[3],
            "forget_mult": p["forget_mul"][0], "forget_shift": p["forget_mul"][1],
            "input_mult": p["input_mul"][0], "input_shift": p["input_mul"][1],
            "output_mult": p["output_mul"][0], "output_shift": p["output_mul"][1],
            "hidden_zero_point": p["hid_zp"], "cell_clip": p["clip"],
            "tanh_cell": {"multiplier": p["tanh_cell"][0], "shift": p["tanh_cell"][1],
                          "table": ctx.array("uint16_t", SIGMOID_Q16)},
            "gate_act": {"multiplier": 3, "shift": 0, "table": ctx.array("uint16_t", SIGMOID_Q16)}})
        ctx.call("smelt_qlstm_i8", ctx.ptr(node.inputs[0]), ctx.ptr(node.outputs[0]), state_h, state_c,
                 ctx.scratch("int16_t"), params)

    def macs(self, node, g):
        b, t, i, s = self.sizes(node, g)
        return b * t * 4 * s * (i + s)


# Operand indices in smelt's QLstm node (the TFLite indices minus the unused optional ones).
def wi_index(gate: str) -> int:
    return 1 + ("input", "forget", "cell", "output").index(gate)


def wr_index(gate: str) -> int:
    return 5 + ("input", "forget", "cell", "output").index(gate)


def bias_index(gate: str) -> int:
    return 9 + ("input", "forget", "cell", "output").index(gate)

