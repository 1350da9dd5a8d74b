"""Post-training int8 quantization: smelt.quantize against onnxruntime's quantize_static.

    python -m bench.ptq [--samples 50] [--models ds_cnn,resnet8,...]

For each model, both quantizers get the same float model (BatchNormalization folded, as
smelt.quantize does first) and the same calibration inputs, and produce per-channel QDQ models
with int8 weights and int8 activations. Output SQNR (dB) and top-1 agreement with the float
model are measured on held-out inputs that neither calibrated on.

Calibration data, stated plainly: the four MLPerf-Tiny-style bench models have random weights, so
there is no real data for them; their inputs are deterministic standard-normal draws (seed 0),
the first 80% calibrating, the last 20% held out. The bundled digits CNN (examples/digits_cnn.onnx,
trained on scikit-learn's digits) uses real images: the first 100 of examples/digits_test.npz
calibrate, the other 350 are held out, and accuracy against the labels is reported too.

smelt's int8 model runs in smelt's numpy references of its integer kernels (bit-exact with the
compiled C); onnxruntime's in onnxruntime.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import onnx

from smelt import quantize as sq
from smelt.frontends import onnx as onnx_fe
from smelt.runtime import interp

from . import models

ROOT = Path(__file__).resolve().parents[1]
ORT_METHODS = ("MinMax", "Percentile", "Entropy")


def _float_outputs(model, samples):
    g = onnx_fe.import_onnx(model)
    return [interp.run(g, {n: s[n] for n in g.inputs})[g.outputs[0]] for s in samples]


def ort_quantize(model: onnx.ModelProto, calib: list[dict], method: str = "MinMax",
                 per_channel: bool = True) -> onnx.ModelProto:
    """onnxruntime's quantize_static: QDQ, int8 weights and activations."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "f.onnx"), os.path.join(d, "q.onnx")
        onnx.save(model, src)
        quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=getattr(CalibrationMethod, method))
        return onnx.load(dst)


def ort_run(model: onnx.ModelProto, samples: list[dict]) -> list[np.ndarray]:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return [sess.run(None, s)[0] for s in samples]


def smelt_run(qmodel: onnx.ModelProto, samples: list[dict]) -> list[np.ndarray]:
    g = sq.lower(qmodel)
    return [interp.run(g, {n: s[n] for n in g.inputs})[g.outputs[0]] for s in samples]


def top1(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.mean([np.argmax(x) == np.argmax(y) for x, y in zip(a, b)]))


def out_sqnr(ref, got) -> float:
    return sq.sqnr(np.concatenate([r.ravel() for r in ref]), np.concatenate([x.ravel() for x in got]))


def bench_model(name: str, model: onnx.ModelProto, inputs: np.ndarray, n_cal: int, labels=None) -> dict:
    model = sq.fold_batchnorm(model)
    input_name = model.graph.input[0].name
    samples = [{input_name: x[None]} for x in inputs]
    cal, held = samples[:n_cal], samples[n_cal:]
    ref = _float_outputs(model, held)
    row = {"model": name, "samples": f"{len(cal)}/{len(held)}"}
    qmodel, rep = sq.quantize(model, {input_name: inputs[:, None]}, method="auto",
                              heldout_fraction=len(held) / len(samples))
    ours = smelt_run(qmodel, held)
    row["smelt"] = (rep.method, out_sqnr(ref, ours), rep.candidates)
    row["smelt_top1"] = top1(ref, ours)
    ort_models = {}
    for m in ORT_METHODS:
        try:
            ort_models[m] = ort_quantize(model, cal, m)
            row[m] = out_sqnr(ref, ort_run(ort_models[m], held))
        except Exception as e:   # report, do not hide, a failing onnxruntime calibrator
            row[m] = float("nan")
            row[m + "_error"] = f"{type(e).__name__}: {e}"
    row["ort_top1"] = top1(ref, ort_run(ort_models["MinMax"], held)) if "MinMax" in ort_models else float("nan")
    # smelt's QDQ model must run in onnxruntime too: its outputs there vs smelt's own
    row["smelt_in_ort"] = out_sqnr(ours, ort_run(qmodel, held))
    row["float_bytes"], row["int8_bytes"] = rep.float_weight_bytes, rep.int8_weight_bytes
    if labels is not None:
        held_labels = labels[n_cal:]
        row["accuracy"] = tuple(float(np.mean([np.argmax(o) == t for o, t in zip(outs, held_labels)]))
                                for outs in (ref, ours, ort_run(ort_models["MinMax"], held)))
    return row


def run(n: int = 50, names=models.NAMES, digits: bool = True) -> list[dict]:
    rows = []
    for name in names:
        x = np.random.default_rng(0).standard_normal((n,) + models.INPUT_SHAPES[name][1:]).astype(np.float32)
        rows.append(bench_model(name, models.build(name), x, int(round(n * 0.8))))
    if digits:
        d = np.load(ROOT / "examples" / "digits_test.npz")
        rows.append(bench_model("digits_cnn (real data)", onnx.load(ROOT / "examples" / "digits_cnn.onnx"),
                                d["images"], 100, labels=d["labels"]))
    return rows


def table(rows: list[dict]) -> str:
    head = ("model", "cal/held", "smelt method", "smelt SQNR", "ort MinMax", "ort Percentile", "ort Entropy",
            "top-1 smelt", "top-1 ort", "smelt QDQ in ort", "int8 weights", "float weights")
    lines = []
    for r in rows:
        method, s, _ = r["smelt"]
        lines.append((r["model"], r["samples"], method, f"{s:.2f} dB", *(f"{r[m]:.2f} dB" for m in ORT_METHODS),
                      f"{100 * r['smelt_top1']:.1f}%", f"{100 * r['ort_top1']:.1f}%",
                      f"{r['smelt_in_ort']:.1f} dB", f"{r['int8_bytes']:,} B", f"{r['float_bytes']:,} B"))
    widths = [max(len(str(x[i])) for x in [head] + lines) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "-" * (sum(widths) + 2 * len(widths))]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in lines]
    out.append("")
    out.append("SQNR: output signal-to-quantization-noise ratio against the float model on the held-out inputs. "
               "top-1: argmax agreement with the float model. 'smelt QDQ in ort': smelt's QDQ model run by "
               "onnxruntime, against smelt's own int8 run (high = the two integer implementations agree).")
    for r in rows:
        _, _, cands = r["smelt"]
        out.append(f"{r['model']}: smelt auto candidates on the calibration part: "
                   + ", ".join(f"{k} {v:.2f} dB" for k, v in cands.items()))
        if "accuracy" in r:
            f, s, o = r["accuracy"]
            out.append(f"{r['model']}: accuracy vs labels on the held-out images: float {100 * f:.1f}%, "
                       f"smelt int8 {100 * s:.1f}%, onnxruntime int8 {100 * o:.1f}%")
        for m in ORT_METHODS:
            if m + "_error" in r:
                out.append(f"{r['model']}: onnxruntime {m} failed: {r[m + '_error']}")
    return "\n".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=50, help="random inputs per bench model (80%% calibrate)")
    ap.add_argument("--models", default=",".join(models.NAMES))
    ap.add_argument("--no-digits", action="store_true")
    a = ap.parse_args(argv)
    print(table(run(a.samples, [m for m in a.models.split(",") if m], not a.no_digits)))


if __name__ == "__main__":
    main()
