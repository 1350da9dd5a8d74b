"""LSTM and GRU (float32, one layer): forward, reverse or bidirectional, layout 0 and 1.

sequence_lens must be absent or equal to the sequence length everywhere (ragged batches are not
supported). Activations: all of ONNX's list, with onnxruntime's alpha/beta defaults and order.
onnxruntime rejects layout=1, so the Examples cannot cover it: onnx's node tests
test_lstm_batchwise and test_gru_batchwise do (python -m smelt.conformance -k batchwise).
"""
from __future__ import annotations

import numpy as np

from .. import activation
from ..registry import Example, Op, Rand, register

F32 = ("float32",)
FLT_MAX = 3.4028234663852886e38   # onnxruntime's clip when there is none
EXTRA = {"Affine": 32, "ThresholdedRelu": 33, "ScaledTanh": 34, "Softsign": 35, "Softplus": 36}  # rnn.c
# ONNX name -> (uses alpha, uses beta, default alpha, default beta), as onnxruntime reads them.
ACTIVATIONS = {"Relu": (0, 0, 0.0, 0.0), "Tanh": (0, 0, 0.0, 0.0), "Sigmoid": (0, 0, 0.0, 0.0),
               "Affine": (1, 1, 0.0, 0.0), "LeakyRelu": (1, 0, 0.01, 0.0),
               "ThresholdedRelu": (1, 0, 0.0, 0.0), "ScaledTanh": (1, 1, 0.0, 0.0),
               "HardSigmoid": (1, 1, 0.2, 0.5), "Elu": (1, 0, 1.0, 0.0), "Softsign": (0, 0, 0.0, 0.0),
               "Softplus": (0, 0, 0.0, 0.0)}
_BY_LOWER = {k.lower(): k for k in ACTIVATIONS}


def apply_act(x: np.ndarray, act) -> np.ndarray:
    name, a, b = act
    a, b = np.float32(a), np.float32(b)
    if name == "Affine":
        y = a * x + b
    elif name == "ThresholdedRelu":
        y = np.where(x > a, x, np.float32(0))
    elif name == "ScaledTanh":
        y = a * np.tanh(b * x)
    elif name == "Softsign":
        y = x / (1 + np.abs(x))
    elif name == "Softplus":
        y = np.log1p(np.exp(x))
    else:
        y = activation.apply(x, act)
    return y.astype(np.float32)


def c_act(act) -> dict:
    name, a, b = act
    if name in EXTRA:
        return {"kind": EXTRA[name], "alpha": float(a), "beta": float(b)}
    return activation.c_struct(act)


def _const(shape, seed, scale=0.5):
    return (np.random.default_rng(seed).uniform(-scale, scale, shape)).astype(np.float32)


class Recurrent(Op):
    kernel = ("gemm", "rnn")   # rnn.c calls gemm.c's smelt_mm_nt_f32
    gates = 0                            # stacked gates in W, R and B
    default_acts: tuple[str, ...] = ()   # per direction
    n_inputs = 6
    n_outputs = 2                        # Y, Y_h (, Y_c)

    def from_onnx(self, node, g, opset):
        a = node.attrs
        direction = a.get("direction", "forward")
        if direction not in ("forward", "reverse", "bidirectional"):
            raise ValueError(f"unknown direction '{direction}'")
        dirs = 2 if direction == "bidirectional" else 1
        layout = int(a.get("layout", 0))
        x = g[node.inputs[0]]
        seq = x.shape[layout] if len(x.shape) == 3 else 0
        node.inputs = (list(node.inputs) + [""] * self.n_inputs)[:self.n_inputs]
        lens = self.const(node, g, 4)
        if lens is not None and np.any(lens != seq):
            raise self.unsupported(node, f"sequence_lens {lens.tolist()} differ from the sequence "
                                         f"length {seq}")
        node.inputs[4] = ""
        node.attrs = {"hidden_size": int(a.get("hidden_size", g[node.inputs[2]].shape[-1])),
                      "directions": dirs, "reverse": int(direction == "reverse"), "layout": layout,
                      "clip": float(a.get("clip", FLT_MAX)),
                      "acts": self._activations(node, a, dirs), **self._own_attrs(node, a)}
        return node

    def _own_attrs(self, node, a) -> dict:
        return {}

    def _activations(self, node, a, dirs):
        """(name, alpha, beta) per activation of every direction, alpha/beta consumed in order."""
        names = list(a.get("activations") or self.default_acts * dirs)
        if len(names) != len(self.default_acts) * dirs:
            raise self.unsupported(node, f"{len(names)} activations for {dirs} direction(s)")
        alphas, betas = list(a.get("activation_alpha", [])), list(a.get("activation_beta", []))
        acts = []
        for name in names:
            canon = _BY_LOWER.get(str(name).lower())
            if canon is None:
                raise self.unsupported(node, f"activation {name}")
            use_a, use_b, da, db = ACTIVATIONS[canon]
            alpha = (alphas.pop(0) if alphas else da) if use_a else 0.0
            beta = (betas.pop(0) if betas else db) if use_b else 0.0
            acts.append((canon, float(alpha), float(beta)))
        return tuple(acts)

    def _dims(self, node, g):
        """(seq, batch, input, hidden, directions)."""
        x = g[node.inputs[0]].shape
        if len(x) != 3:
            raise ValueError(f"X must be 3-D, got {x}")
        seq, batch = (x[1], x[0]) if node.attrs["layout"] else (x[0], x[1])
        return seq, batch, x[2], node.attrs["hidden_size"], node.attrs["directions"]

    def _expected(self, node, g):
        """Input index -> expected shape."""
        seq, batch, inp, hs, dirs = self._dims(node, g)
        gh = self.gates * hs
        state = (batch, dirs, hs) if node.attrs["layout"] else (dirs, batch, hs)
        return {1: (dirs, gh, inp), 2: (dirs, gh, hs), 3: (dirs, 2 * gh), 5: state, 6: state,
                7: (dirs, 3 * hs)}

    def infer(self, node, g):
        seq, batch, _, hs, dirs = self._dims(node, g)
        for i, name in enumerate(node.inputs):
            if name:
                self.check_dtype(node, g[name].dtype, F32)
                want = self._expected(node, g).get(i)
                if want and g[name].shape != want:
                    raise ValueError(f"input {i} '{name}' has shape {g[name].shape}, expected {want}")
        if node.attrs["layout"]:
            y, state = (batch, seq, dirs, hs), (batch, dirs, hs)
        else:
            y, state = (seq, dirs, batch, hs), (dirs, batch, hs)
        outs = [(y, "float32")] + [(state, "float32")] * (self.n_outputs - 1)
        return outs[:max(len(node.outputs), 1)]

    def reference(self, node, g, xs):
        at = node.attrs
        seq, batch, _, hs, dirs = self._dims(node, g)
        layout = at["layout"]
        x = xs[0].swapaxes(0, 1) if layout else xs[0]
        states = [None if s is None else (s.swapaxes(0, 1) if layout else s) for s in xs[5:7]]
        n_act = len(self.default_acts)
        ys, finals = [], []
        for d in range(dirs):
            steps = range(seq - 1, -1, -1) if d == 1 or at["reverse"] else range(seq)
            init = [np.zeros((batch, hs), np.float32) if s is None else s[d] for s in states]
            y, last = self._run(node, x, [None if v is None else v[d] for v in xs[1:4] + xs[7:]],
                                init, steps, at["acts"][n_act * d:n_act * (d + 1)])
            ys.append(y)
            finals.append(last)
        y = np.stack(ys, 1)                                           # [seq, dirs, batch, hs]
        outs = [y.transpose(2, 0, 1, 3) if layout else y]
        for k in range(self.n_outputs - 1):
            s = np.stack([f[k] for f in finals], 0)                   # [dirs, batch, hs]
            outs.append(s.swapaxes(0, 1) if layout else s)
        return [np.ascontiguousarray(o, dtype=np.float32) for o in outs][:len(node.outputs)]

    def _clip(self, node, v):
        c = np.float32(node.attrs["clip"])
        return np.clip(v, -c, c)

    def emit(self, node, g, ctx):
        seq, batch, inp, hs, dirs = self._dims(node, g)
        at = node.attrs
        if at["layout"]:
            x_ts, x_bs = inp, seq * inp
            y_ts, y_ds, y_bs, h_ds, h_bs = dirs * hs, hs, seq * dirs * hs, hs, dirs * hs
        else:
            x_ts, x_bs = batch * inp, inp
            y_ts, y_ds, y_bs, h_ds, h_bs = dirs * batch * hs, batch * hs, hs, batch * hs, hs
        acts = [c_act(a) for a in at["acts"]]
        params = {"seq": seq, "batch": batch, "input": inp, "hidden": hs, "directions": dirs,
                  "reverse": at["reverse"], "input_forget": at.get("input_forget", 0),
                  "linear_before_reset": at.get("linear_before_reset", 0), "clip": at["clip"],
                  "x_ts": x_ts, "x_bs": x_bs, "y_ts": y_ts, "y_ds": y_ds, "y_bs": y_bs,
                  "h_ds": h_ds, "h_bs": h_bs, "act": acts + [activation.c_struct(None)] * (6 - len(acts))}
        n_out = self.n_outputs
        outs = [ctx.ptr(o) if o else "NULL" for o in (node.outputs + [""] * n_out)[:n_out]]
        ins = [ctx.ptr(node.inputs[i]) for i in self.kernel_inputs]
        ctx.call(self.c_function, *ins, *outs, ctx.scratch("float"), ctx.params("smelt_rnn_params", params))

    def scratch(self, node, g):
        _, batch, _, hs, _ = self._dims(node, g)
        # two gate projections, the state(s) and the summed biases
        return 4 * (2 * batch * self.gates * hs + 2 * batch * hs + 4 * hs)

    def macs(self, node, g):
        seq, batch, inp, hs, dirs = self._dims(node, g)
        return dirs * seq * batch * self.gates * hs * (inp + hs)


@register
class LSTM(Recurrent):
    """Gates i, o, f, c; activations f, g, h; optional peepholes P and input_forget."""
    gates = 4
    default_acts = ("Sigmoid", "Tanh", "Tanh")
    n_inputs = 8
    n_outputs = 3
    kernel_inputs = (0, 1, 2, 3, 5, 6, 7)
    c_function = "smelt_lstm_f32"

    def _own_attrs(self, node, a):
        return {"input_forget": int(a.get("input_forget", 0))}

    def _run(self, node, x, params, init, steps, acts):
        w, r, b, p = params
        hs = node.attrs["hidden_size"]
        f, gf, hf = acts
        h, c = init
        bias = 0 if b is None else b[:4 * hs] + b[4 * hs:]
        ys = [None] * x.shape[0]
        for t in steps:
            gates = x[t] @ w.T + h @ r.T + bias
            gi, go, gff, gc = (gates[:, k * hs:(k + 1) * hs] for k in range(4))
            if p is not None:
                gi = gi + p[:hs] * c
                gff = gff + p[2 * hs:] * c
            i = apply_act(self._clip(node, gi), f)
            fg = 1 - i if node.attrs["input_forget"] else apply_act(self._clip(node, gff), f)
            c = (fg * c + i * apply_act(self._clip(node, gc), gf)).astype(np.float32)
            if p is not None:
                go = go + p[hs:2 * hs] * c
            h = (apply_act(self._clip(node, go), f) * apply_act(c, hf)).astype(np.float32)
            ys[t] = h
        return np.stack(ys), (h, c)

    examples = [
        Example([Rand((5, 2, 3)), _const((1, 16, 3), 1), _const((1, 16, 4), 2), _const((1, 32), 3)],
                {"hidden_size": 4}, outputs=3, name="forward_all_outputs"),
        Example([Rand((4, 1, 6)), _const((2, 20, 6), 4), _const((2, 20, 5), 5), _const((2, 40), 6), None,
                 Rand((2, 1, 5)), Rand((2, 1, 5))],
                {"hidden_size": 5, "direction": "bidirectional"}, outputs=3,
                name="bidirectional_initial_state"),
        Example([Rand((3, 2, 4)), _const((1, 12, 4), 7), _const((1, 12, 3), 8), None, None, None, None,
                 _const((1, 9), 9)], {"hidden_size": 3, "direction": "reverse", "clip": 0.3},
                outputs=2, opset=7, name="reverse_peephole_clip"),
        Example([Rand((4, 2, 3)), _const((1, 8, 3), 10), _const((1, 8, 2), 11), _const((1, 16), 12),
                 np.array([4, 4], np.int32), Rand((1, 2, 2))],
                {"hidden_size": 2, "input_forget": 1}, outputs=2, opset=14, name="seq_lens_input_forget"),
        Example([Rand((3, 1, 2)), _const((1, 12, 2), 13), _const((1, 12, 3), 14)],
                {"hidden_size": 3, "activations": ["HardSigmoid", "LeakyRelu", "ScaledTanh"],
                 "activation_alpha": [0.3, 0.05, 0.8], "activation_beta": [0.4, 1.2]},
                outputs=2, name="activations"),
        Example([Rand((2, 1, 3)), _const((2, 8, 3), 15), _const((2, 8, 2), 16)],
                {"hidden_size": 2, "direction": "bidirectional",
                 "activations": ["Sigmoid", "Softsign", "Softplus", "HardSigmoid", "Elu", "Affine"],
                 "activation_alpha": [0.25, 0.9, 0.7], "activation_beta": [0.5, 0.1]},
                outputs=3, name="more_activations"),
        Example([Rand((4, 1, 64)), _const((1, 128, 64), 17, 0.2), _const((1, 128, 32), 18, 0.2),
                 _const((1, 256), 19)], {"hidden_size": 32}, outputs=2, name="wide"),
    ]


@register
class GRU(Recurrent):
    """Gates z, r, h; activations f, g; linear_before_reset 0 or 1."""
    gates = 3
    default_acts = ("Sigmoid", "Tanh")
    n_inputs = 6
    kernel_inputs = (0, 1, 2, 3, 5)
    c_function = "smelt_gru_f32"

    def _own_attrs(self, node, a):
        return {"linear_before_reset": int(a.get("linear_before_reset", 0))}

    def _run(self, node, x, params, init, steps, acts):
        w, r, b = params
        hs = node.attrs["hidden_size"]
        f, gfn = acts
        (h,) = init
        wb = np.zeros(3 * hs, np.float32) if b is None else b[:3 * hs]
        rb = np.zeros(3 * hs, np.float32) if b is None else b[3 * hs:]
        ys = [None] * x.shape[0]
        for t in steps:
            gx = x[t] @ w.T + wb
            gh = h @ r[:2 * hs].T + rb[:2 * hs]
            z = apply_act(self._clip(node, gx[:, :hs] + gh[:, :hs]), f)
            rg = apply_act(self._clip(node, gx[:, hs:2 * hs] + gh[:, hs:]), f)
            if node.attrs["linear_before_reset"]:
                rec = rg * (h @ r[2 * hs:].T + rb[2 * hs:])
            else:
                rec = (rg * h) @ r[2 * hs:].T + rb[2 * hs:]
            hh = apply_act(self._clip(node, gx[:, 2 * hs:] + rec), gfn)
            h = ((1 - z) * hh + z * h).astype(np.float32)
            ys[t] = h
        return np.stack(ys), (h,)

    examples = [
        Example([Rand((5, 2, 3)), _const((1, 12, 3), 1), _const((1, 12, 4), 2), _const((1, 24), 3)],
                {"hidden_size": 4}, outputs=2, name="forward"),
        Example([Rand((5, 2, 3)), _const((1, 12, 3), 4), _const((1, 12, 4), 5), _const((1, 24), 6)],
                {"hidden_size": 4, "linear_before_reset": 1}, outputs=2, name="linear_before_reset"),
        Example([Rand((3, 2, 4)), _const((2, 9, 4), 7), _const((2, 9, 3), 8), _const((2, 18), 9), None,
                 Rand((2, 2, 3))], {"hidden_size": 3, "direction": "bidirectional", "clip": 0.5},
                outputs=2, opset=7, name="bidirectional_clip"),
        Example([Rand((3, 2, 2)), _const((1, 15, 2), 10), _const((1, 15, 5), 11), None,
                 np.array([3, 3], np.int32), Rand((1, 2, 5))],
                {"hidden_size": 5, "direction": "reverse", "linear_before_reset": 1},
                outputs=2, opset=14, name="reverse_seq_lens"),
        Example([Rand((3, 1, 2)), _const((1, 6, 2), 12), _const((1, 6, 2), 13)],
                {"hidden_size": 2, "activations": ["HardSigmoid", "Softsign"], "activation_alpha": [0.3],
                 "activation_beta": [0.6]}, outputs=2, name="activations"),
        Example([Rand((4, 1, 40)), _const((1, 96, 40), 14, 0.2), _const((1, 96, 32), 15, 0.2),
                 _const((1, 192), 16)], {"hidden_size": 32}, outputs=1, name="wide_Y_only"),
    ]
