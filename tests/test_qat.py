"""Quantization-aware training (smelt/train/qat.py) and distillation on scikit-learn digits:
the exported graph compiles, its C equals smelt's reference, and it matches the fake-quant model."""
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tqdm")
pytest.importorskip("sklearn")

import smelt  # noqa: E402
from smelt import compress, prune  # noqa: E402
from smelt.runtime import interp  # noqa: E402
from smelt.train import data, qat  # noqa: E402
from smelt.train.distill import accuracy, distillation_loss, fit  # noqa: E402
from smelt.train.graph_module import GraphModule  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digits():
    return data.digits()


@pytest.fixture(scope="module")
def float_graph():
    return qat.float_graph(str(ROOT / "examples" / "digits_cnn.onnx"))


def test_graph_module_equals_reference(float_graph, digits):
    x = digits[2][:8]
    gm = GraphModule(float_graph)
    with torch.no_grad():
        y = gm(torch.tensor(x)).numpy()
    ref = np.concatenate([interp.run(float_graph, {"image": x[i:i + 1]})["logits"] for i in range(len(x))])
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    assert accuracy(gm, digits[2], digits[3]) > 0.97


def _trained(float_graph, digits, fmt, epochs):
    x_tr, y_tr = digits[0][:600], digits[1][:600]
    qm = qat.QATModule(float_graph, weights=fmt)
    qat.calibrate(qm, x_tr[:128])
    fit(qm, x_tr, y_tr, epochs=epochs, lr=1e-3, teacher=GraphModule(float_graph), progress=False)
    return qm


def test_int8_qat_export_compiles_and_matches(float_graph, digits):
    x_te, y_te = digits[2][:100], digits[3][:100]
    qm = _trained(float_graph, digits, "int8", 2)
    g = qat.export(qm)
    assert {n.op for n in g.nodes} >= {"QConv2D", "QDepthwiseConv2D", "QFullyConnected"}
    assert all(g[n.inputs[1]].quant.per_channel for n in g.nodes if n.op in ("QConv2D", "QFullyConnected"))
    art = smelt.compile(g)
    outs = np.concatenate([art.run({"image": x_te[i:i + 1]})["logits"] for i in range(len(x_te))])
    refs = np.concatenate([art.reference({"image": x_te[i:i + 1]})["logits"] for i in range(len(x_te))])
    np.testing.assert_array_equal(outs, refs)        # dequantized from int8: C == reference exactly
    with torch.no_grad():
        fake = qm(torch.tensor(x_te)).numpy()
    out_scale = float(g[g.nodes[-1].inputs[0]].quant.scale[0])
    assert np.mean(outs.argmax(1) == fake.argmax(1)) >= 0.98
    assert np.abs(outs - fake).max() <= 4 * out_scale   # a few LSB of the output scale
    assert np.mean(outs.argmax(1) == y_te) >= 0.95


@pytest.mark.parametrize("fmt,expect_format", [("int4", "int4"), ("binary", "binary")])
def test_lowbit_qat_packs_exactly(float_graph, digits, fmt, expect_format):
    x_te = digits[2][:40]
    qm = _trained(float_graph, digits, fmt, 2)
    g8, packed = qat.export(qm), qat.export_format(qm)
    formats = [f for _, _, f, _ in compress.weight_formats(packed)]
    if fmt == "binary":
        assert formats[0] == formats[-1] == "int8" and set(formats[1:-1]) == {"binary"}
    else:
        assert set(formats) == {"int4"}
    art = smelt.compile(packed)
    for i in range(len(x_te)):
        feed = {"image": x_te[i:i + 1]}
        got = art.run(feed)["logits"]
        np.testing.assert_array_equal(got, art.reference(feed)["logits"])
        np.testing.assert_array_equal(got, interp.run(g8, feed)["logits"])   # packing lost nothing
    assert art.report.weight_bytes < smelt.compile(g8).report.weight_bytes * (0.55 if fmt == "int4" else 0.35)


def test_qat_beats_binary_without_training(float_graph, digits):
    x_te, y_te = digits[2], digits[3]
    qm = qat.QATModule(float_graph, weights="binary")
    qat.calibrate(qm, digits[0][:128])
    before = accuracy(qm, x_te, y_te)
    fit(qm, digits[0], digits[1], epochs=3, lr=1e-3, teacher=GraphModule(float_graph), progress=False)
    after = accuracy(qm, x_te, y_te)
    assert before < 0.6 and after > 0.9, (before, after)


def test_distillation_loss_decreases(float_graph, digits):
    pruned = prune.prune(float_graph, 0.5)
    student = GraphModule(pruned)
    hist = fit(student, digits[0][:500], digits[1][:500], epochs=4, lr=3e-3, teacher=GraphModule(float_graph),
               progress=False)
    assert all(b < a for a, b in zip(hist, hist[1:])) and hist[-1] < 0.8 * hist[0], hist
    t = torch.randn(4, 10)
    assert float(distillation_loss(t, t, t.argmax(1), alpha=1.0)) == pytest.approx(0.0, abs=1e-6)


def test_fine_tuned_weights_go_back_into_the_graph(float_graph, digits):
    gm = GraphModule(prune.prune(float_graph, 0.5))
    fit(gm, digits[0][:200], digits[1][:200], epochs=1, progress=False)
    g = gm.to_graph()
    x = digits[2][:3]
    with torch.no_grad():
        y = gm(torch.tensor(x)).numpy()
    art = smelt.compile(g)
    got = np.concatenate([art.run({"image": x[i:i + 1]})["logits"] for i in range(len(x))])
    np.testing.assert_allclose(got, y, rtol=1e-4, atol=1e-4)


def test_keywords_task_is_deterministic_and_learnable():
    a = data.keywords(n_train=64, n_test=16, seed=3)
    b = data.keywords(n_train=64, n_test=16, seed=3)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert a[0].shape == (64, 1, 16, 16) and a[0].min() >= 0 and a[0].max() <= 1
    assert len(np.unique(a[1])) > 4


def test_bad_format_is_a_smelt_error(float_graph):
    with pytest.raises(smelt.SmeltError, match="unknown weight format"):
        qat.QATModule(float_graph, weights="int3")
    with pytest.raises(smelt.SmeltError, match="float_graph"):
        qat.QATModule(smelt.pipeline.optimize(smelt.load(str(ROOT / "examples" / "digits_cnn.onnx"))))
