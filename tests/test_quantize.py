"""Post-training int8 quantization: smelt.quantize, compile(quantize=...), `smelt quantize`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import smelt
from smelt import quantize as sq
from smelt.cli import main as cli
from smelt.errors import SmeltError

from .onnx_util import run_ort

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_cnn.onnx"
DIGITS_DATA = ROOT / "examples" / "digits_test.npz"


@pytest.fixture(scope="module")
def digits():
    d = np.load(DIGITS_DATA)
    return d["images"], d["labels"]


def test_choose_range_methods():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(0, 1, 20000), [40.0]])    # one outlier
    lo, hi = float(v.min()), float(v.max())
    assert sq.choose_range(v, lo, hi, "minmax", 99.99) == (lo, hi)
    p_lo, p_hi = sq.choose_range(v, lo, hi, "percentile", 99.99)
    assert lo < p_lo < 0 < p_hi < 10
    m_lo, m_hi = sq.choose_range(v, lo, hi, "mse", 99.99)
    assert m_hi < hi and m_lo <= 0 <= m_hi                     # clips the outlier, keeps zero inside

    def mse(r):
        s, z = sq.qparams(*r)
        return np.mean((sq._fake_quant(v, s, z) - v) ** 2)
    assert mse((m_lo, m_hi)) < mse((lo, hi))


def test_qparams_represent_zero_exactly():
    for lo, hi in [(-1.0, 3.0), (0.0, 6.0), (0.5, 2.0), (-4.0, -1.0)]:
        s, z = sq.qparams(lo, hi)
        assert -128 <= z <= 127 and s > 0
        assert sq._fake_quant(np.zeros(1), s, z)[0] == 0.0


def test_digits_int8_compiled_keeps_accuracy(digits):
    """Real data (scikit-learn digits, shipped in examples/): the first 100 images calibrate,
    the other 350 measure. The compiled int8 C equals its reference bit for bit and keeps the
    float model's accuracy."""
    images, labels = digits
    art = smelt.compile(DIGITS, quantize="int8", calib={"image": images[:100]}, calib_method="minmax")
    rep = art.quant_report
    assert rep.method == "minmax" and rep.calibration == 80 and rep.heldout == 20
    assert rep.output_sqnr > 25 and rep.top1_agreement >= 0.95
    assert {"QConv2D", "QDepthwiseConv2D", "QFullyConnected"} <= {n.op for n in art.graph.nodes}
    assert art.report.weight_bytes < 8 * 1024             # 7,728 B of int8 weights + int32 bias
    fl = smelt.compile(DIGITS)
    held, want = images[100:], labels[100:]
    got_q, got_f = [], []
    for x in held:
        out = art.run({"image": x[None]})["logits"]
        np.testing.assert_array_equal(out, art.reference({"image": x[None]})["logits"])
        got_q.append(int(np.argmax(out)))
        got_f.append(int(np.argmax(fl.run({"image": x[None]})["logits"])))
    acc_q, acc_f = np.mean(np.array(got_q) == want), np.mean(np.array(got_f) == want)
    assert acc_q >= acc_f - 0.01 and acc_q > 0.95, (acc_q, acc_f)
    assert "int8 quantization" in (art.path / "report.txt").read_text()


@pytest.mark.parametrize("name", ["ds_cnn", "resnet8"])
def test_sqnr_at_least_onnxruntime(name):
    """Same float model, same calibration inputs, same held-out inputs: smelt's auto-calibrated
    int8 output SQNR against the float model >= onnxruntime quantize_static (MinMax, per channel)."""
    from bench import models, ptq
    x = np.random.default_rng(0).standard_normal((30,) + models.INPUT_SHAPES[name][1:]).astype(np.float32)
    row = ptq.bench_model(name, models.build(name), x, 24)
    smelt_sqnr = row["smelt"][1]
    assert smelt_sqnr >= row["MinMax"], (smelt_sqnr, row["MinMax"])
    assert row["smelt_in_ort"] > 30       # onnxruntime runs smelt's QDQ model to nearly the same values


def test_quantized_model_is_standard_qdq(tmp_path, digits):
    """`smelt quantize` writes a QDQ model that onnx checks and onnxruntime runs; it compiles to
    integer kernels whose output is within one LSB of onnxruntime's."""
    images, _ = digits
    out = tmp_path / "d8.onnx"
    assert cli(["quantize", str(DIGITS), "--calib", str(DIGITS_DATA), "-o", str(out), "--calib-method", "mse"]) == 0
    m = onnx.load(out)
    onnx.checker.check_model(m)
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("QuantizeLinear") >= 5 and ops.count("DequantizeLinear") >= 10
    art = smelt.compile(m)
    lsb = next(float(onnx.numpy_helper.to_array(t)) for t in m.graph.initializer if t.name.startswith("logits")
               and t.name.endswith("scale"))
    for x in images[:20]:
        got = art.run({"image": x[None]})["logits"]
        want = run_ort(m, {"image": x[None]})[0]
        assert np.abs(got - want).max() <= lsb * 1.01


def test_compile_quantize_cli(tmp_path, capsys):
    assert cli(["compile", str(DIGITS), "--quantize", "int8", "--calib", str(DIGITS_DATA), "-o",
                str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "output SQNR" in text and "per-layer SQNR" in text
    assert "QConv2D" in (tmp_path / "out" / "report.txt").read_text()


def test_quantize_errors(tmp_path, capsys):
    assert cli(["compile", str(DIGITS), "--quantize", "int8", "-o", str(tmp_path / "o")]) == 2
    assert "needs --calib" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    np.savez(bad, image=np.zeros((4, 3, 3), np.float32))
    assert cli(["quantize", str(DIGITS), "--calib", str(bad), "-o", str(tmp_path / "q.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "calib['image']" in err and "64 values" in err
    assert not (tmp_path / "q.onnx").exists()
    with pytest.raises(SmeltError, match="calibration method"):
        sq.quantize(DIGITS, {"image": np.zeros((4, 1, 8, 8), np.float32)}, method="kl")
    with pytest.raises(SmeltError, match="needs calibration"):
        smelt.compile(DIGITS, quantize="int8")
