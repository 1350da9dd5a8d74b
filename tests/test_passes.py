"""Each pass changes the graph as intended and never the results (vs onnxruntime)."""
import numpy as np
from onnx import TensorProto, helper, numpy_helper

import smelt

from .onnx_util import run_ort

RNG = np.random.default_rng(0)


def model(nodes, inputs, outputs, inits, opset=17):
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                          [helper.make_empty_tensor_value_info(o) for o in outputs],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def check(m, feeds, ops, rtol=1e-4, atol=1e-5):
    art = smelt.compile(m)
    assert [n.op for n in art.graph.nodes] == ops
    for got, exp in zip(art.run(feeds).values(), run_ort(m, feeds)):
        np.testing.assert_allclose(got, exp, rtol=rtol, atol=atol)
    return art


def bn_params(prefix, c):
    return {f"{prefix}_s": RNG.uniform(0.5, 1.5, c).astype(np.float32), f"{prefix}_b": RNG.standard_normal(c).astype(np.float32),
            f"{prefix}_m": RNG.standard_normal(c).astype(np.float32), f"{prefix}_v": RNG.uniform(0.5, 2, c).astype(np.float32)}


def test_batchnorm_folds_into_conv_and_relu_fuses():
    inits = {"w": RNG.standard_normal((8, 3, 3, 3)).astype(np.float32), **bn_params("bn", 8)}
    m = model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
               helper.make_node("BatchNormalization", ["c", "bn_s", "bn_b", "bn_m", "bn_v"], ["b"], epsilon=1e-3),
               helper.make_node("Relu", ["b"], ["y"])], [("x", [1, 3, 9, 9])], ["y"], inits)
    art = check(m, {"x": RNG.standard_normal((1, 3, 9, 9)).astype(np.float32)}, ["Conv"])
    assert art.graph.nodes[0].attrs["act"][0] == "Relu"


def test_batchnorm_folds_into_gemm_with_transposed_weights():
    inits = {"w": RNG.standard_normal((6, 10)).astype(np.float32), "c": RNG.standard_normal(6).astype(np.float32),
             **bn_params("bn", 6)}
    m = model([helper.make_node("Gemm", ["x", "w", "c"], ["g"], transB=1, alpha=0.5, beta=2.0),
               helper.make_node("BatchNormalization", ["g", "bn_s", "bn_b", "bn_m", "bn_v"], ["y"])],
              [("x", [2, 10])], ["y"], inits)
    check(m, {"x": RNG.standard_normal((2, 10)).astype(np.float32)}, ["Gemm"])


def test_activation_not_fused_when_preactivation_is_also_used():
    inits = {"w": RNG.standard_normal((4, 4)).astype(np.float32)}
    m = model([helper.make_node("MatMul", ["x", "w"], ["a"]), helper.make_node("Relu", ["a"], ["r"]),
               helper.make_node("Add", ["a", "r"], ["y"])], [("x", [3, 4])], ["y"], inits)
    check(m, {"x": RNG.standard_normal((3, 4)).astype(np.float32)}, ["MatMul", "Relu", "Add"])


def test_zero_pad_folds_into_conv_and_avgpool():
    inits = {"w": RNG.standard_normal((4, 2, 3, 3)).astype(np.float32), "p": np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)}
    m = model([helper.make_node("Pad", ["x", "p"], ["xp"]), helper.make_node("Conv", ["xp", "w"], ["c"]),
               helper.make_node("Pad", ["c", "p"], ["cp"]),
               helper.make_node("AveragePool", ["cp"], ["y"], kernel_shape=[2, 2], count_include_pad=1)],
              [("x", [1, 2, 7, 7])], ["y"], inits)
    check(m, {"x": RNG.standard_normal((1, 2, 7, 7)).astype(np.float32)}, ["Conv", "AveragePool"])


def test_shape_chain_folds_to_a_reshape_and_identity_dropout_go():
    inits = {"i0": np.array(0, np.int64), "minus1": np.array([-1], np.int64)}
    m = model([helper.make_node("Identity", ["x"], ["xi"]), helper.make_node("Shape", ["xi"], ["s"]),
               helper.make_node("Gather", ["s", "i0"], ["n"]), helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]),
               helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
               helper.make_node("Reshape", ["xi", "shape"], ["r"]), helper.make_node("Dropout", ["r"], ["d"]),
               helper.make_node("Relu", ["d"], ["y"]), helper.make_node("Relu", ["xi"], ["unused"])],
              [("x", [2, 3, 4])], ["y"], inits, opset=11)
    art = check(m, {"x": RNG.standard_normal((2, 3, 4)).astype(np.float32)}, ["Reshape", "Relu"])
    assert art.graph["y"].shape == (2, 12)
    assert art.plan.root(art.graph.nodes[0].outputs[0]) == "x"   # Reshape aliases, no copy
