"""Post-training int8 quantization of a float ONNX model into ONNX QDQ format.

    qmodel, report = smelt.quantize.quantize(model, calib, method="auto")

* Weights: symmetric int8, per output channel (Conv: axis 0; Gemm: the N axis; MatMul: axis 1)
  or per tensor, scale = max|w| / 127. Bias: int32 with scale s_in * s_w (zero point 0).
* Activations: asymmetric int8, one (scale, zero point) per tensor, from ranges measured by
  running the float model in smelt's numpy interpreter over the calibration part of `calib`:
    minmax      the observed min / max
    percentile  the `percentile` (default 99.99) and 100 - percentile percentiles
    mse         the clipping range (a shrink of [min, max], 0 kept inside) whose int8
                quantize-dequantize has the least mean square error on the observed values
    auto        tries minmax, percentile at 99.9 / 99.99 / 99.999, and mse; keeps the one whose
                quantized model has the best output SQNR on the calibration part (chosen per
                model; every candidate's SQNR is reported)
* Placement: BatchNormalization is first folded into the Conv/Gemm before it. Conv, Gemm,
  MatMul (constant B), Add, Mul (two computed inputs), AveragePool, GlobalAveragePool and MaxPool
  get Q/DQ on their inputs and output; a Relu/Clip right after one is kept and its output is
  the quantized tensor (the lowering fuses it as the clamp); MaxPool and data movement (Flatten,
  Reshape, Squeeze, Unsqueeze, Transpose) reuse their input's parameters; everything else
  (Softmax, ...) stays float between a DequantizeLinear and the next QuantizeLinear.
* The result is a standard QDQ model (opset >= 13), readable by onnxruntime; smelt compiles it
  onto its TFLM-exact int8 kernels through the lower_quantized pass.
* QuantReport: per-layer SQNR (dB) of every quantized tensor against the float model on the
  held-out part (the int8 model run by smelt's bit-exact numpy reference of its kernels, the
  integers dequantized), the output SQNR, top-1 agreement with the float model, the method.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .errors import SmeltError

METHODS = ("minmax", "percentile", "mse")
# what "auto" tries: each method, and the percentile at three levels
AUTO = ("minmax", "percentile:99.9", "percentile:99.99", "percentile:99.999", "mse")
SHARED_OPS = ("MaxPool", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose")
FUSED = ("Relu", "Clip")
MAX_SAMPLES = 200_000     # values per tensor kept for the percentile / MSE searches


@dataclass
class QuantReport:
    method: str                                   # the method used (auto: the one chosen)
    candidates: dict[str, float] = field(default_factory=dict)   # auto: method -> calibration output SQNR
    layers: list[tuple[str, float]] = field(default_factory=list)  # (tensor, SQNR dB) on the held-out part
    output_sqnr: float = float("nan")             # dB, held-out part, all outputs together
    top1_agreement: float | None = None           # argmax(float) == argmax(int8), held-out part
    heldout: int = 0
    calibration: int = 0
    float_weight_bytes: int = 0
    int8_weight_bytes: int = 0

    def table(self) -> str:
        lines = [f"method: {self.method}" + (f" (chosen by output SQNR on the calibration part: " + ", ".join(
            f"{k} {v:.2f} dB" for k, v in self.candidates.items()) + ")" if self.candidates else ""),
            f"samples: {self.calibration} calibration, {self.heldout} held out",
            f"output SQNR: {self.output_sqnr:.2f} dB"
            + (f"; top-1 agreement {100 * self.top1_agreement:.1f}%" if self.top1_agreement is not None else ""),
            f"weights: {self.int8_weight_bytes:,} B int8 vs {self.float_weight_bytes:,} B float",
            "per-layer SQNR (dB), held-out part:"]
        width = max((len(n) for n, _ in self.layers), default=10)
        lines += [f"  {n.ljust(width)}  {s:7.2f}" for n, s in self.layers]
        return "\n".join(lines)


def sqnr(ref: np.ndarray, approx: np.ndarray) -> float:
    """10 log10(sum ref^2 / sum (ref - approx)^2) in dB (inf when equal)."""
    ref, approx = np.asarray(ref, np.float64).ravel(), np.asarray(approx, np.float64).ravel()
    noise = np.sum((ref - approx) ** 2)
    signal = np.sum(ref ** 2)
    if noise == 0:
        return float("inf")
    return float(10 * np.log10(max(signal, 1e-30) / noise))


# ---------------------------------------------------------------- float model preparation
def fold_batchnorm(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy with each BatchNormalization folded into the Conv / Gemm(transB=1) that alone feeds it."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    users: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            users[i] = users.get(i, 0) + 1
    producer = {o: n for n in g.node for o in n.output}
    outputs = {o.name for o in g.output}
    removed = []
    for bn in [n for n in g.node if n.op_type == "BatchNormalization"]:
        p = producer.get(bn.input[0])
        if (p is None or p.op_type not in ("Conv", "Gemm") or users[bn.input[0]] != 1 or bn.input[0] in outputs
                or len([o for o in bn.output if o]) != 1 or p.input[1] not in inits
                or not all(i in inits for i in bn.input[1:5])
                or (len(p.input) > 2 and p.input[2] and p.input[2] not in inits)):
            continue
        a = {x.name: helper.get_attribute_value(x) for x in p.attribute}
        if p.op_type == "Gemm" and (not a.get("transB", 0) or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0
                                    or a.get("beta", 1.0) != 1.0):
            continue
        eps = next((helper.get_attribute_value(x) for x in bn.attribute if x.name == "epsilon"), 1e-5)
        gamma, beta, mean, var = (numpy_helper.to_array(inits[i]).astype(np.float64) for i in bn.input[1:5])
        s = gamma / np.sqrt(var + eps)
        w = numpy_helper.to_array(inits[p.input[1]]).astype(np.float64)
        b = (numpy_helper.to_array(inits[p.input[2]]).astype(np.float64) if len(p.input) > 2 and p.input[2]
             else np.zeros(w.shape[0]))
        w = w * s.reshape((-1,) + (1,) * (w.ndim - 1))
        b = (b - mean) * s + beta
        wn, bname = _fresh(inits, p.input[1] + "_bn"), _fresh(inits, (p.name or p.output[0]) + "_bias_bn")
        for name, v in ((wn, w), (bname, b)):
            t = numpy_helper.from_array(v.astype(np.float32), name)
            g.initializer.append(t)
            inits[name] = t
        del p.input[1:]
        p.input.extend([wn, bname])
        p.output[0] = bn.output[0]
        removed.append(bn)
    for n in removed:
        g.node.remove(n)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    return m


def _fresh(names, base: str) -> str:
    name, i = base, 1
    while name in names:
        name, i = f"{base}_{i}", i + 1
    return name


# ---------------------------------------------------------------- ranges
def qparams(lo: float, hi: float) -> tuple[np.float32, int]:
    """Asymmetric int8 (scale, zero point) covering [lo, hi] (0 always inside)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi - lo < 1e-12:
        return np.float32(1.0), 0
    scale = np.float32((hi - lo) / 255.0)
    zp = int(np.clip(np.round(-128 - lo / float(scale)), -128, 127))
    return scale, zp


def _fake_quant(x: np.ndarray, scale, zp) -> np.ndarray:
    q = np.clip(np.rint(x / scale) + zp, -128, 127)
    return (q - zp) * scale


def choose_range(values: np.ndarray, lo: float, hi: float, method: str, percentile: float) -> tuple[float, float]:
    """The clipping range [lo, hi] of one tensor ("percentile:99.9" picks the percentile)."""
    if method == "minmax" or values.size == 0:
        return lo, hi
    if method.startswith("percentile"):
        percentile = float(method.split(":")[1]) if ":" in method else percentile
        return float(np.percentile(values, 100 - percentile)), float(np.percentile(values, percentile))
    if method == "mse":
        x = values.astype(np.float64)

        def err(a, b):
            sc, z = qparams(a, b)
            return np.mean((x - _fake_quant(x, float(sc), z)) ** 2)
        # coordinate descent: a common shrink of [lo, hi], then each end alone
        fs = np.linspace(0.05, 1.0, 96)
        f = min(fs, key=lambda f: err(lo * f, hi * f))
        a, b = lo * f, hi * f
        b = hi * min(fs, key=lambda k: err(a, hi * k)) if hi > 0 else b
        a = lo * min(fs, key=lambda k: err(lo * k, b)) if lo < 0 else a
        return a, b
    raise SmeltError(f"unknown calibration method '{method}' (use {', '.join(METHODS)} or auto)")


# ---------------------------------------------------------------- placement
@dataclass
class _Plan:
    activations: list[str]                 # quantized activation tensors, in graph order
    shared: dict[str, str]                 # tensor -> the tensor whose parameters it reuses
    weights: dict[str, tuple[int, str]]    # weight initializer -> (channel axis, node name)
    biases: dict[str, tuple[str, str]]     # bias initializer -> (input activation, weight)


def _plan(model: onnx.ModelProto, per_channel: bool) -> _Plan:
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in g.output}
    acts: list[str] = []
    shared: dict[str, str] = {}
    weights, biases = {}, {}

    def add(t):
        if t and t not in inits and t not in acts:
            acts.append(t)

    def result(t):
        """The op's output, or the output of a Relu/Clip that alone reads it."""
        users = consumers.get(t, [])
        if len(users) == 1 and users[0].op_type in FUSED and t not in outputs:
            return users[0].output[0]
        return t

    for n in g.node:
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        if n.op_type in ("Conv", "Gemm", "MatMul"):
            if len(n.input) < 2 or n.input[1] not in inits or n.input[0] in inits:
                continue
            if n.op_type == "Gemm" and (a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0):
                continue
            w = inits[n.input[1]]
            if n.op_type == "MatMul" and len(w.dims) != 2:
                continue
            axis = 0 if n.op_type == "Conv" or (n.op_type == "Gemm" and a.get("transB", 0)) else 1
            if sum(1 for m in g.node if n.input[1] in m.input) != 1:
                continue
            weights[n.input[1]] = (axis if per_channel else -1, n.name)
            if len(n.input) > 2 and n.input[2]:
                if n.input[2] not in inits:
                    continue
                biases[n.input[2]] = (n.input[0], n.input[1])
            add(n.input[0])
            add(result(n.output[0]))
        elif n.op_type in ("Add", "Mul", "AveragePool", "GlobalAveragePool"):
            ins = [i for i in n.input if i]
            if any(i in inits for i in ins) or (n.op_type == "Mul" and result(n.output[0]) != n.output[0]):
                continue
            for i in ins:
                add(i)
            add(result(n.output[0]))
        elif n.op_type in SHARED_OPS:
            if n.input[0] in acts and len([o for o in n.output if o]) == 1:
                shared[n.output[0]] = shared.get(n.input[0], n.input[0])
                add(n.output[0])
    return _Plan(acts, shared, weights, biases)


# ---------------------------------------------------------------- the QDQ model
def _write_qdq(model: onnx.ModelProto, plan: _Plan, act_params: dict[str, tuple[np.float32, int]]) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    names = {t.name for t in g.initializer} | {i for n in g.node for i in n.input} | \
        {o for n in g.node for o in n.output} | {i.name for i in g.input}
    new_inits, head = [], []

    def const(name, value):
        name = _fresh(names, name)
        names.add(name)
        new_inits.append(numpy_helper.from_array(value, name))
        return name

    w_scales = {}
    drop = set()
    for wname, (axis, node_name) in plan.weights.items():
        w = numpy_helper.to_array(inits[wname]).astype(np.float64)
        if axis < 0:
            s = np.array([max(np.abs(w).max(), 1e-12) / 127.0])
        else:
            red = tuple(i for i in range(w.ndim) if i != axis)
            s = np.maximum(np.abs(w).max(axis=red), 1e-12) / 127.0
        s = s.astype(np.float32)
        shape = [1] * w.ndim
        if axis >= 0:
            shape[axis] = s.size
        q = np.clip(np.rint(w / s.astype(np.float64).reshape(shape)), -127, 127).astype(np.int8)
        w_scales[wname] = s
        scale = s if axis >= 0 else s.reshape(())
        zp = np.zeros(s.size, np.int8) if axis >= 0 else np.int8(0)
        attrs = {"axis": axis} if axis >= 0 else {}
        head.append(helper.make_node("DequantizeLinear", [const(wname + "_quantized", q),
                                                          const(wname + "_scale", scale),
                                                          const(wname + "_zero_point", zp)],
                                     [wname], name=wname + "_DequantizeLinear", **attrs))
        drop.add(wname)
    for bname, (x, wname) in plan.biases.items():
        if x not in act_params:
            continue
        b = numpy_helper.to_array(inits[bname]).astype(np.float64).reshape(-1)
        sw = w_scales[wname].astype(np.float64)
        s = (np.float32(act_params[x][0]) * w_scales[wname]).astype(np.float32)     # float32, as onnxruntime
        s = np.broadcast_to(s, b.shape).copy() if sw.size > 1 else s
        q = np.clip(np.rint(b / s.astype(np.float64)), -2**31, 2**31 - 1).astype(np.int32)
        scale = s if s.size > 1 else s.reshape(())
        zp = np.zeros(s.size, np.int32) if s.size > 1 else np.int32(0)
        attrs = {"axis": 0} if s.size > 1 else {}
        head.append(helper.make_node("DequantizeLinear", [const(bname + "_quantized", q),
                                                          const(bname + "_scale", scale),
                                                          const(bname + "_zero_point", zp)],
                                     [bname], name=bname + "_DequantizeLinear", **attrs))
        drop.add(bname)

    outputs = {o.name for o in g.output}
    renamed = {}    # activation tensor -> the name its readers now use (the DequantizeLinear output)
    qdq_after: dict[str, list] = {}

    def qdq(t: str, src: str, dst: str) -> list:
        s, z = act_params[plan.shared.get(t, t)]
        sname, zname = const(t + "_scale", np.float32(s)), const(t + "_zero_point", np.int8(z))
        qn = _fresh(names, t + "_quantized")
        names.add(qn)
        return [helper.make_node("QuantizeLinear", [src, sname, zname], [qn], name=t + "_QuantizeLinear"),
                helper.make_node("DequantizeLinear", [qn, sname, zname], [dst], name=t + "_DequantizeLinear")]

    graph_inputs = {i.name for i in g.input}
    for t in plan.activations:
        if t in outputs:       # keep the graph output's name: the producer writes t_float
            pre = _fresh(names, t + "_float")
            names.add(pre)
            for n in g.node:
                n.output[:] = [pre if o == t else o for o in n.output]
            qdq_after[pre] = qdq(t, pre, t)
            continue
        dst = _fresh(names, t + "_dequantized")
        names.add(dst)
        renamed[t] = dst
        if t in graph_inputs:
            head.extend(qdq(t, t, dst))
        else:
            qdq_after[t] = qdq(t, t, dst)

    body = []
    for n in g.node:
        n.input[:] = [renamed.get(i, i) for i in n.input]
        body.append(n)
        for o in n.output:
            body.extend(qdq_after.get(o, []))
    kept = [t for t in g.initializer if t.name not in drop]
    del g.initializer[:]
    g.initializer.extend(kept + new_inits)
    del g.node[:]
    g.node.extend(head + body)
    onnx.checker.check_model(m)
    return m


# ---------------------------------------------------------------- running
def load_calib(path) -> dict[str, np.ndarray]:
    """A calibration file: .npz (one array per model input, named like it; samples first) or .npy."""
    try:
        data = np.load(path)
    except (OSError, ValueError) as e:
        raise SmeltError(f"cannot read calibration data '{path}': {e} (want an .npz of arrays named "
                         "like the model's inputs, samples first, or an .npy)") from None
    if isinstance(data, np.ndarray):
        return {"": data}
    with data:
        return {k: data[k] for k in data.files}


def _samples(calib, input_names: list[str], g=None) -> list[dict[str, np.ndarray]]:
    if isinstance(calib, np.ndarray):
        calib = {"": calib}
    if len(input_names) == 1 and input_names[0] not in calib:
        # one input: the one array whose samples have the input's size (e.g. 'images' beside 'labels')
        size = int(np.prod(g[input_names[0]].shape)) if g is not None else None
        fits = [k for k, v in calib.items() if size is None or (np.ndim(v) >= 1 and np.size(v[0]) == size)]
        if len(fits) == 1:
            calib = {input_names[0]: calib[fits[0]]}
    missing = [n for n in input_names if n not in calib]
    if missing:
        raise SmeltError(f"calib lacks inputs {missing} (the model's inputs are {input_names})")
    counts = {len(calib[n]) for n in input_names}
    if counts == {0}:
        raise SmeltError("calib holds no samples")
    if len(counts) != 1:
        raise SmeltError(f"calib arrays have different sample counts {sorted(counts)}")
    if g is not None:
        for n in input_names:
            if np.ndim(calib[n]) < 1 or np.size(calib[n][0]) != int(np.prod(g[n].shape)):
                raise SmeltError(f"calib['{n}']: each sample must have {int(np.prod(g[n].shape))} values "
                                 f"(input shape {g[n].shape}), got array of shape {np.shape(calib[n])}; "
                                 "put the samples on the first axis")
    return [{n: np.asarray(calib[n][k]) for n in input_names} for k in range(counts.pop())]


def _feed(g, sample: dict) -> dict:
    return {n: np.asarray(sample[n], g[n].dtype).reshape(g[n].shape) for n in g.inputs}


def lower(qdq_model: onnx.ModelProto):
    """The QDQ model imported and lowered onto smelt's integer ops (layout transposes kept, so
    every quantized tensor of the QDQ model keeps its name and NCHW value)."""
    from .frontends import onnx as onnx_fe
    from .passes import lower_quantized
    return lower_quantized.run(onnx_fe.import_onnx(qdq_model))


def _run_int8(g, samples, tensors: list[str] | None = None):
    """Per sample: {tensor: float value} of the graph outputs and of `tensors` (dequantized)."""
    from . import quant as q
    from .runtime import interp
    out = []
    for s in samples:
        env = interp.run(g, _feed(g, s), keep_all=True)
        vals = {o: env[o] for o in g.outputs}
        for t in tensors or []:
            name = t + "_quantized"
            if name in env and g[name].quant is not None:
                x = g[name]
                vals[t] = (env[name].astype(np.float64) - q.zero_point(x)) * float(q.scale(x))
        out.append(vals)
    return out


def quantize(model, calib, method: str = "minmax", per_channel: bool = True, heldout_fraction: float = 0.2,
             percentile: float = 99.99) -> tuple[onnx.ModelProto, QuantReport]:
    """(QDQ ModelProto, QuantReport) for a float model (path, bytes or ModelProto) and calibration
    inputs (dict input name -> array [samples, ...], or one array for a one-input model)."""
    from .frontends import onnx as onnx_fe
    from .runtime import interp
    if method not in METHODS + ("auto",):
        raise SmeltError(f"unknown calibration method '{method}' (use {', '.join(METHODS)} or auto)")
    fmodel = onnx_fe.load_model(model)
    if onnx_fe.default_opset(fmodel) < 13:
        fmodel = onnx.version_converter.convert_version(fmodel, 13)
    fmodel = fold_batchnorm(fmodel)
    g = onnx_fe.import_onnx(fmodel)
    samples = _samples(calib, g.inputs, g)
    n_held = int(round(len(samples) * heldout_fraction)) if len(samples) > 1 else 0
    cal, held = samples[:len(samples) - n_held], samples[len(samples) - n_held:]
    held = held or cal
    plan = _plan(fmodel, per_channel)

    # float statistics over the calibration part
    lo = {t: np.inf for t in plan.activations}
    hi = {t: -np.inf for t in plan.activations}
    kept = {t: [] for t in plan.activations}
    float_cal = []
    for s in cal:
        env = interp.run(g, _feed(g, s), keep_all=True)
        float_cal.append({o: env[o] for o in g.outputs})
        for t in plan.activations:
            v = env[t].ravel()
            lo[t], hi[t] = min(lo[t], float(v.min())), max(hi[t], float(v.max()))
            kept[t].append(v)
    rng = np.random.default_rng(0)
    for t in plan.activations:
        v = np.concatenate(kept[t])
        kept[t] = v if v.size <= MAX_SAMPLES else rng.choice(v, MAX_SAMPLES, replace=False)

    def build(m: str) -> onnx.ModelProto:
        ranges = {t: choose_range(kept[t], lo[t], hi[t], m, percentile) for t in plan.activations
                  if t not in plan.shared}
        return _write_qdq(fmodel, plan, {t: qparams(*r) for t, r in ranges.items()})

    candidates = {}
    if method == "auto":
        best = None
        for m in AUTO:
            qm = build(m)
            outs = _run_int8(lower(qm), cal)
            candidates[m] = sqnr(np.concatenate([f[o].ravel() for f in float_cal for o in g.outputs]),
                                 np.concatenate([r[o].ravel() for r in outs for o in g.outputs]))
            if best is None or candidates[m] > candidates[best[0]]:
                best = (m, qm)
        method, qmodel = best
    else:
        qmodel = build(method)
    report = evaluate(fmodel, qmodel, held, plan.activations)
    report.method, report.candidates, report.calibration = method, candidates, len(cal)
    report.float_weight_bytes = sum(numpy_helper.to_array(t).nbytes for t in fmodel.graph.initializer
                                    if t.name in plan.weights)
    report.int8_weight_bytes = sum(int(np.prod(t.dims)) for t in fmodel.graph.initializer if t.name in plan.weights)
    return qmodel, report


def evaluate(float_model, qdq_model: onnx.ModelProto, samples: list[dict], tensors: list[str] = ()) -> QuantReport:
    """SQNR of the int8 model (run by smelt's integer kernels' numpy references) against the
    float model on `samples`: per quantized tensor, at the outputs, and top-1 agreement."""
    from .frontends import onnx as onnx_fe
    from .runtime import interp
    g = onnx_fe.import_onnx(float_model)
    gq = lower(qdq_model)
    got = _run_int8(gq, samples, list(tensors))
    ref_layers = {t: [] for t in tensors}
    ref_out, q_out, agree = [], [], []
    for s, r in zip(samples, got):
        env = interp.run(g, _feed(g, s), keep_all=True)
        for t in tensors:
            if t in r:
                ref_layers[t].append((env[t], r[t]))
        for o in g.outputs:
            ref_out.append(env[o].ravel())
            q_out.append(r[o].ravel())
            if env[o].shape[-1] > 1:
                agree.append(np.argmax(env[o].reshape(-1, env[o].shape[-1]), -1)
                             == np.argmax(r[o].reshape(-1, env[o].shape[-1]), -1))
    rep = QuantReport(method="")
    rep.heldout = len(samples)
    rep.layers = [(t, sqnr(np.concatenate([a.ravel() for a, _ in v]), np.concatenate([b.ravel() for _, b in v])))
                  for t, v in ref_layers.items() if v]
    rep.output_sqnr = sqnr(np.concatenate(ref_out), np.concatenate(q_out))
    rep.top1_agreement = float(np.mean(np.concatenate(agree))) if agree else None
    return rep
