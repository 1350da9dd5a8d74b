"""onnx's backend test suite on the compiled-C path (smelt.backend + smelt.conformance)."""
import os
import signal
import time
import unittest
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.backend.test import BackendTest

import smelt.backend as backend
from smelt import conformance

# Node tests of these ops (a few per family) run in the default suite: each must pass or skip.
FAST_OPS = ["Abs", "Clip", "Elu", "Exp", "HardSigmoid", "HardSwish", "LeakyRelu", "Log", "Neg",
            "Relu", "Sigmoid", "Sqrt", "Tanh", "Add", "Sub", "Mul", "Div", "Where",
            "Conv", "ConvTranspose", "AveragePool", "MaxPool", "GlobalAveragePool", "LRN", "Resize",
            "Reshape", "Transpose", "Concat", "Flatten", "Unsqueeze", "Squeeze", "Gather", "Pad",
            "Slice", "Split", "Gemm", "MatMul", "Softmax", "ReduceSum", "ReduceMean", "ReduceMax",
            "ArgMax", "InstanceNormalization", "BatchNormalization", "LayerNormalization"]
FAST_MIN_PASSED = 410         # measured: 410 passed, 16 skipped (about 20 s on 2 cores, cold)
FULL_MIN_PASSED = 454         # the target
# The issue says "8 light models" but names 9; the onnx wheel ships these 9.
LIGHT_MODELS = {"bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50",
                "shufflenet", "squeezenet", "vgg19", "zfnet512"}


def _model(nodes, inputs, outputs, opset=13):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _failures(results):
    return "\n".join(conformance.line(r) for r in results if r.status == "fail")


# --- the backend API -------------------------------------------------------------------------

def test_run_node_relu_matches_numpy():
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    (y,) = backend.run_node(helper.make_node("Relu", ["x"], ["y"]), [x])
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_outputs_in_model_order_and_by_name():
    f = TensorProto.FLOAT
    model = _model([helper.make_node("Neg", ["x"], ["b"]), helper.make_node("Abs", ["x"], ["a"])],
                   [("x", f, [2, 3])], [("b", f, [2, 3]), ("a", f, [2, 3])])
    x = np.array([[-1, 2, -3], [4, -5, 6]], dtype=np.float32)
    out = backend.prepare(model).run([x])
    np.testing.assert_array_equal(out[0], -x)
    np.testing.assert_array_equal(out["a"], np.abs(x))
    np.testing.assert_array_equal(out.b, -x)


def test_unsupported_op_is_a_skip_naming_the_op():
    f = TensorProto.FLOAT
    model = _model([helper.make_node("NonZero", ["x"], ["y"])], [("x", f, [4])],
                   [("y", TensorProto.INT64, [1, None])])
    rep = backend.prepare(model)
    with pytest.raises(unittest.SkipTest, match="NonZero"):
        rep.run([np.array([0, 1, 0, 2], dtype=np.float32)])


def test_needed_input_values_are_frozen_and_cached_per_value():
    f = TensorProto.FLOAT
    model = _model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])],
                   [("x", f, [5]), ("lo", f, []), ("hi", f, [])], [("y", f, [5])])
    rep = backend.prepare(model)
    x = np.linspace(-2, 2, 5, dtype=np.float32)
    (y,) = rep.run([x, np.float32(-1), np.float32(1)])
    np.testing.assert_array_equal(y, np.clip(x, -1, 1))
    assert rep.frozen == ["lo", "hi"] and len(rep.artifacts) == 1
    rep.run([x + 1, np.float32(-1), np.float32(1)])           # same signature: no recompile
    assert len(rep.artifacts) == 1
    (y,) = rep.run([x, np.float32(-0.5), np.float32(0.5)])    # new bounds: a new artifact
    np.testing.assert_array_equal(y, np.clip(x, -0.5, 0.5))
    assert len(rep.artifacts) == 2


def test_value_needed_from_a_computed_tensor_is_a_skip():
    f = TensorProto.FLOAT
    model = _model([helper.make_node("Relu", ["m"], ["lo"]), helper.make_node("Clip", ["x", "lo"], ["y"])],
                   [("x", f, [5]), ("m", f, [])], [("y", f, [5])])
    with pytest.raises(unittest.SkipTest, match="'lo'"):
        backend.prepare(model).run([np.zeros(5, np.float32), np.float32(1)])


def test_sequence_input_is_a_skip():
    seq = helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, [2])
    graph = helper.make_graph([helper.make_node("SequenceLength", ["s"], ["n"])], "g", [seq],
                              [helper.make_tensor_value_info("n", TensorProto.INT64, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(unittest.SkipTest, match="sequence"):
        backend.prepare(model).run([[np.zeros(2, np.float32)]])


def test_cpu_only():
    assert backend.supports_device("CPU") and not backend.supports_device("CUDA")


# --- onnx's BackendTest ------------------------------------------------------------------------

def test_collect_groups_node_tests_by_op():
    tests = {t.name: t for t in conformance.collect()}
    assert tests["test_relu"].group == "Relu"
    assert tests["test_clip_default_inbounds_expanded"].group == "Clip"   # a function body
    assert {t.group.split()[0] for t in tests.values() if t.light} == LIGHT_MODELS
    assert len(tests) > 1800


def test_node_tests_of_supported_ops():
    tests = conformance.collect(node=True, light=False, ops=FAST_OPS)
    results = conformance.run(tests, jobs=2)
    c = conformance.counts(results)
    assert c["fail"] == 0, _failures(results)
    assert c["pass"] >= FAST_MIN_PASSED, conformance.summary(results)
    assert all(r.detail for r in results if r.status == "skip"), "a skip without a reason"
    assert {r.test.group for r in results if r.status == "pass"} == set(FAST_OPS)


def test_a_crash_or_hang_fails_that_test_only(monkeypatch):
    def run_one(test):
        if test.name == "test_crash":
            os.kill(os.getpid(), signal.SIGKILL)   # as a segfault would, quietly
        time.sleep(5)

    monkeypatch.setattr(conformance, "run_one", run_one)
    monkeypatch.setattr(conformance, "TIMEOUT", 1)
    tests = [conformance.Test(name, "X", conformance.NODE_SUITE, False) for name in ("test_crash", "test_hang")]
    results = {r.test.name: r for r in conformance.run(tests, jobs=2)}
    assert results["test_crash"].status == "fail" and "SIGKILL" in results["test_crash"].detail
    assert results["test_hang"].status == "fail" and "timed out" in results["test_hang"].detail


def test_main_prints_table_and_summary(capsys):
    assert conformance.main(["-k", "^test_relu$", "-j", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "1 passed, 0 failed, 0 skipped"
    assert out[-2].split() == ["Relu", "1", "0", "0"]


def test_full_suite():
    results = conformance.run(conformance.collect(), jobs=2)
    c = conformance.counts(results)
    assert c["fail"] == 0, _failures(results)
    assert c["pass"] >= FULL_MIN_PASSED, conformance.summary(results)
    light = {r.test.group.split()[0]: r for r in results if r.test.light}
    assert set(light) == LIGHT_MODELS
    assert all(r.status == "pass" for r in light.values()), \
        "\n".join(conformance.line(r) for r in light.values())


@pytest.mark.parametrize("name", sorted(LIGHT_MODELS))
def test_light_model_logits_match_onnxruntime(name):
    """The light models' weights are all 0.02, so every class gets the same score and onnx's
    expected softmax output is a uniform 1/1000: it checks little. Compare what feeds the last
    node (the logits) with onnxruntime instead, on the input BackendTest uses."""
    ort = pytest.importorskip("onnxruntime")
    model = onnx.load(Path(onnx.__file__).parent / "backend/test/data/light" / f"light_{name}.onnx")
    logits = model.graph.node[-1].input[0]
    inferred = {v.name: v for v in onnx.shape_inference.infer_shapes(model).graph.value_info}
    model.graph.output.append(inferred[logits])
    init = {i.name for i in model.graph.initializer}
    feeds = {i.name: BackendTest.generate_dummy_data(i) for i in model.graph.input if i.name not in init}
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    expected = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    expected = expected.run([logits], feeds)[0]
    got = backend.prepare(model).run(feeds)[logits]
    np.testing.assert_allclose(got, expected, rtol=1e-4)
