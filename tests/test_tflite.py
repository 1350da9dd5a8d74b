"""The TFLite front end and the quantized kernels against TensorFlow Lite Micro.

Every case builds a small .tflite model (tests/tflite_builder.py), runs random inputs through
TFLM's interpreter and smelt's compiled C, and requires 0 mismatching bytes (float models: float
rounding); smelt's numpy reference must agree too. The shared models in ../shared/models run the
same way, with 10 and with 100 inputs.
"""
from __future__ import annotations

import numpy as np
import pytest

import smelt
from smelt import quant
from smelt.errors import ModelFormatError, UnsupportedOpError
from smelt.frontends import tflite as tfl
from smelt.runtime import interp, tflm

from .tflite_builder import ModelBuilder

QMODELS = ["hello_world_int8", "micro_speech_quantized", "person_detect", "keyword_scrambled_8bit"]


# ---------------------------------------------------------------- helpers
def check(data: bytes, n: int = 6, seed: int = 0, inputs=None, layers: bool = False) -> tflm.Comparison:
    """smelt's C and numpy reference against TFLM on n random inputs: 0 mismatching bytes."""
    cmp = tflm.compare(data, n, seed, layers=layers, inputs=inputs)
    assert cmp.mismatches == 0 and not any(cmp.layers.values()), cmp.table()
    g = tfl.import_tflite(data)
    if inputs is None:
        inputs = tflm.random_inputs([(g[i].shape, g[i].dtype) for i in g.inputs], n, seed)
    want = tflm.run_tflm(data, inputs[:1], len(g.outputs))[0]
    ref = interp.run(g, dict(zip(g.inputs, inputs[0])))
    varied = False
    for k, o in enumerate(g.outputs):
        np.testing.assert_array_equal(ref[o], want[-1 - k].reshape(ref[o].shape), err_msg=f"reference, output {o}")
        varied |= len(np.unique(want[-1 - k])) > 1
    assert varied or n == 1, "degenerate test: every output value is the same"
    return cmp


def read_gray_bmp(path) -> np.ndarray:
    """An 8-bit palette BMP whose palette is the identity grey ramp, as int16 pixels, top row first."""
    data = path.read_bytes()
    offset, width, height = (int.from_bytes(data[a:a + 4], "little", signed=True) for a in (10, 18, 22))
    rows = np.frombuffer(data, np.uint8, abs(height) * width, offset).reshape(abs(height), width)
    return (rows[::-1] if height > 0 else rows).astype(np.int16)


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def weights(r, shape, per_channel_axis=None):
    """Symmetric int8 weights and their scale(s)."""
    w = r.integers(-127, 128, shape).astype(np.int8)
    n = shape[per_channel_axis] if per_channel_axis is not None else 1
    scales = r.uniform(0.002, 0.02, n).astype(np.float32)
    return w, scales


def out_scale(in_scale, w_scales, depth):
    """An output scale that keeps most accumulations inside the int range."""
    return float(in_scale * np.mean(w_scales) * np.sqrt(depth) * 60)


# ---------------------------------------------------------------- shared models
@pytest.mark.parametrize("name", QMODELS)
def test_shared_model_bit_exact(shared_models, name):
    cmp = tflm.compare(shared_models / f"{name}.tflite", 10, seed=1, layers=True)
    assert cmp.mismatches == 0, cmp.table()
    assert not any(cmp.layers.values()), cmp.table()


@pytest.mark.parametrize("name", QMODELS)
def test_shared_model_bit_exact_100(shared_models, name):
    cmp = tflm.compare(shared_models / f"{name}.tflite", 100, seed=2)
    assert cmp.mismatches == 0, cmp.table()


def test_hello_world_float_within_rounding(shared_models):
    cmp = tflm.compare(shared_models / "hello_world_float.tflite", 100, seed=3, layers=True)
    for name, err in cmp.max_abs_error.items():
        assert err < 1e-5, cmp.table()


def test_shared_model_arena_smaller_than_tflm(shared_models):
    for name in QMODELS:
        art = smelt.compile(shared_models / f"{name}.tflite")
        head = tflm.recorded_arena(shared_models / f"{name}.tflite").head
        assert art.report.arena_bytes <= head, (name, art.report.arena_bytes, head)


def test_person_detect_real_images(shared_models):
    """The two bundled photographs: identical to TFLM, and the person photo scores higher on
    'person' (output 1) than the other one."""
    path = shared_models / "person_detect.tflite"
    art = smelt.compile(path)
    scores = {}
    for img in ("person", "no_person"):
        x = (read_gray_bmp(shared_models / "testdata" / f"{img}.bmp") - 128).astype(np.int8).reshape(1, 96, 96, 1)
        got = art.run([x])[art.graph.outputs[0]]
        want = tflm.run_tflm(path, [[x]])[0][-1]
        np.testing.assert_array_equal(got, want)
        scores[img] = got.ravel()
    assert scores["person"][1] > scores["no_person"][1]


# ---------------------------------------------------------------- front end
def test_tensor_map_and_names(shared_models):
    g, mapping = tfl.read(shared_models / "micro_speech_quantized.tflite")
    assert mapping[g.inputs[0]] == 3 and mapping[g.outputs[0]] == 9
    assert [n.op for n in g.nodes] == ["Reshape", "QDepthwiseConv2D", "QFullyConnected", "QSoftmax"]
    assert g[g.inputs[0]].quant.zero_point[0] == -128


def test_person_detect_bias_quantized_dimension(shared_models):
    """person_detect declares quantized_dimension=3 on 1-D biases; accepted as TFLM does."""
    g = tfl.import_tflite(shared_models / "person_detect.tflite")
    bias = g["MobilenetV1/MobilenetV1/Conv2d_0/Conv2D_bias"]
    assert bias.shape == (8,) and bias.quant.axis == 0 and bias.quant.scale.size == 8


def test_not_tflite_is_model_format_error(tmp_path, shared_models):
    onnx_like = tmp_path / "x.tflite"
    onnx_like.write_bytes(b"\x08\x07\x12\x04test" * 10)
    with pytest.raises(ModelFormatError, match="TFL3"):
        tfl.import_tflite(onnx_like)
    data = (shared_models / "person_detect.tflite").read_bytes()
    for cut in (12, 200, 5000, len(data) // 2):
        trunc = tmp_path / f"cut{cut}.tflite"
        trunc.write_bytes(data[:cut])
        with pytest.raises(ModelFormatError):
            tfl.import_tflite(trunc)
    with pytest.raises(ModelFormatError, match="does not exist"):
        tfl.import_tflite(tmp_path / "missing.tflite")


def test_unsupported_builtin_names_op_and_node():
    mb = ModelBuilder()
    x = mb.input((1, 4), "float32")
    y = mb.tensor((1, 4), "float32", name="floored")
    mb.op("FLOOR", [x], [y])
    mb.output(y)
    with pytest.raises(UnsupportedOpError) as e:
        tfl.import_tflite(mb.build())
    assert "FLOOR" in str(e.value) and "operator 0" in str(e.value) and "floored" in str(e.value)


def test_custom_op_is_unsupported():
    mb = ModelBuilder()
    x = mb.input((1, 4), "int8", scale=0.1, zero_point=0)
    y = mb.tensor((1, 4), "int8", scale=0.1, zero_point=0, name="custom_out")
    mb.op("CUSTOM", [x], [y])
    mb.output(y)
    with pytest.raises(UnsupportedOpError, match="CUSTOM.*custom_out|custom_out.*CUSTOM"):
        tfl.import_tflite(mb.build())


def test_smelt_load_dispatches_tflite(shared_models):
    g = smelt.load(shared_models / "hello_world_int8.tflite")
    assert [n.op for n in g.nodes] == ["QFullyConnected"] * 3


# ---------------------------------------------------------------- quant.py against known values
def test_quantize_multiplier_edges():
    assert quant.quantize_multiplier(0.0) == (0, 0)
    assert quant.quantize_multiplier(0.5) == (1 << 30, 0)
    assert quant.quantize_multiplier(1.0) == (1 << 30, 1)
    # A mantissa that rounds up to 2^31 is halved and the shift incremented.
    assert quant.quantize_multiplier(1.0 - 2.0 ** -40) == (1 << 30, 1)
    assert quant.quantize_multiplier(2.0 ** -40) == (0, 0)
    m, s = quant.quantize_multiplier(0.0123)
    assert 2**30 <= m < 2**31 and abs(m * 2.0 ** (s - 31) - 0.0123) < 1e-11


def test_fixed_point_primitives():
    assert quant.srdhm(-2**31, -2**31) == 2**31 - 1
    assert quant.srdhm(2**30, 2**30) == 2**29
    assert quant.srdhm(-3, 2**30) == -1 and quant.srdhm(3, 2**30) == 2   # halves away from zero
    assert list(quant.rounding_divide_by_pot(np.array([5, -5, 6, -6, 7, -7]), 1)) == [3, -3, 3, -3, 4, -4]
    assert quant.multiply_by_quantized_multiplier(1000, 1 << 30, 0) == 500
    assert quant.multiply_by_quantized_multiplier(-1001, 1 << 30, -1) == -250
    x = np.linspace(-8, 0, 50)
    e = quant.exp_on_negative_values(np.round(x * 2**26).astype(np.int64), 5) / 2**31
    assert np.max(np.abs(e - np.exp(x))) < 1e-6
    one = quant.one_over_one_plus_x_for_x_in_0_1(np.array([0, 2**30, 2**31 - 1]))
    assert np.allclose(one / 2**31, [1.0, 2 / 3, 0.5], atol=1e-6)


# ---------------------------------------------------------------- single-op models (int8, 16x8)
ACTS = ["NONE", "RELU", "RELU6"]


def conv_model(seed, in_shape, out_c, k, stride=1, dil=1, padding="SAME", act="NONE", per_channel=True,
               dtype="int8", depthwise=False, bias_dtype=None, groups=1):
    r = rng(seed)
    n, h, w_, c = in_shape
    sx = 0.05
    zx = int(r.integers(-20, 20)) if dtype == "int8" else 0
    mb = ModelBuilder()
    x = mb.input(in_shape, dtype, scale=sx if dtype == "int8" else 0.0005, zero_point=zx)
    if depthwise:
        wshape, axis = (1, k, k, out_c), 3
    else:
        wshape, axis = (out_c, k, k, c // groups), 0
    wq, ws = weights(r, wshape, axis if per_channel else None)
    wt = mb.const(wq, scale=ws, zero_point=0, axis=axis)
    bias_dtype = bias_dtype or ("int32" if dtype == "int8" else "int64")
    in_scale = sx if dtype == "int8" else 0.0005
    bias = (r.normal(0, 2000, out_c) if dtype == "int8" else r.normal(0, 200000, out_c)).astype(bias_dtype)
    bt = mb.const(bias, scale=in_scale * ws, zero_point=0) if bias_dtype != "none" else -1
    depth = k * k * (1 if depthwise else c // groups)
    ys = out_scale(in_scale, ws, depth) * (1 if dtype == "int8" else 1 / 256)
    if padding == "SAME":
        oh, ow = -(-h // stride), -(-w_ // stride)
    else:
        eff = (k - 1) * dil + 1
        oh, ow = (h - eff) // stride + 1, (w_ - eff) // stride + 1
    y = mb.tensor((n, oh, ow, out_c), dtype, scale=ys, zero_point=int(r.integers(-10, 10)) if dtype == "int8" else 0)
    if depthwise:
        mb.op("DEPTHWISE_CONV_2D", [x, wt, bt], [y], "DepthwiseConv2DOptions", Padding=padding, StrideH=stride,
              StrideW=stride, DepthMultiplier=out_c // c, DilationHFactor=dil, DilationWFactor=dil,
              FusedActivationFunction=act)
    else:
        mb.op("CONV_2D", [x, wt, bt], [y], "Conv2DOptions", Padding=padding, StrideH=stride, StrideW=stride,
              DilationHFactor=dil, DilationWFactor=dil, FusedActivationFunction=act)
    mb.output(y)
    return mb.build()


CONV_CASES = [
    dict(in_shape=(1, 9, 9, 3), out_c=4, k=3),
    dict(in_shape=(1, 9, 8, 5), out_c=6, k=3, stride=2, act="RELU6"),
    dict(in_shape=(2, 7, 7, 4), out_c=3, k=3, padding="VALID", act="RELU"),
    dict(in_shape=(1, 10, 10, 2), out_c=4, k=3, dil=2, padding="VALID"),
    dict(in_shape=(1, 6, 6, 8), out_c=8, k=1, per_channel=False),
    dict(in_shape=(1, 8, 8, 4), out_c=6, k=5, stride=2, padding="SAME", act="RELU"),
    dict(in_shape=(1, 6, 6, 4), out_c=4, k=3, groups=2),
    dict(in_shape=(1, 7, 7, 3), out_c=4, k=3, dtype="int16"),
    dict(in_shape=(1, 7, 7, 3), out_c=4, k=3, dtype="int16", bias_dtype="int32", stride=2),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_conv2d(case):
    check(conv_model(1, **case))


DEPTHWISE_CASES = [
    dict(in_shape=(1, 9, 9, 4), out_c=4, k=3),
    dict(in_shape=(1, 9, 9, 3), out_c=6, k=3, stride=2, act="RELU6"),
    dict(in_shape=(1, 8, 7, 2), out_c=8, k=3, padding="VALID", act="RELU"),
    dict(in_shape=(1, 10, 10, 4), out_c=4, k=3, dil=2, per_channel=False),
    dict(in_shape=(2, 6, 6, 1), out_c=3, k=5, stride=2),
    dict(in_shape=(1, 7, 7, 4), out_c=4, k=3, dtype="int16"),
]


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_depthwise_conv2d(case):
    check(conv_model(2, depthwise=True, **case))


def fc_model(seed, in_shape, n_out, per_channel=False, act="NONE", dtype="int8", bias=True, keep=False,
             bias_dtype=None):
    r = rng(seed)
    k = in_shape[-1]
    mb = ModelBuilder()
    sx = 0.05 if dtype == "int8" else 0.0005
    x = mb.input(in_shape, dtype, scale=sx, zero_point=int(r.integers(-30, 30)) if dtype == "int8" else 0)
    wq, ws = weights(r, (n_out, k), 0 if per_channel else None)
    wt = mb.const(wq, scale=ws, zero_point=0, axis=0)
    bias_dtype = bias_dtype or ("int32" if dtype == "int8" else "int64")
    bt = mb.const(r.normal(0, 3000, n_out).astype(bias_dtype), scale=sx * ws) if bias else -1
    ys = out_scale(sx, ws, k) * (1 if dtype == "int8" else 1 / 256)
    rows = int(np.prod(in_shape[:-1]))
    out_shape = tuple(in_shape[:-1]) + (n_out,) if keep else (rows, n_out)
    y = mb.tensor(out_shape, dtype, scale=ys, zero_point=int(r.integers(-10, 10)) if dtype == "int8" else 0)
    mb.op("FULLY_CONNECTED", [x, wt, bt], [y], "FullyConnectedOptions", FusedActivationFunction=act,
          KeepNumDims=keep)
    mb.output(y)
    return mb.build()


FC_CASES = [
    dict(in_shape=(1, 32), n_out=10),
    dict(in_shape=(3, 20), n_out=7, act="RELU"),
    dict(in_shape=(2, 16), n_out=8, per_channel=True),
    dict(in_shape=(2, 3, 12), n_out=5, keep=True, act="RELU6"),
    dict(in_shape=(1, 24), n_out=6, bias=False),
    dict(in_shape=(2, 24), n_out=6, dtype="int16"),
    dict(in_shape=(2, 24), n_out=6, dtype="int16", bias_dtype="int32", per_channel=True),
]


@pytest.mark.parametrize("case", FC_CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_fully_connected(case):
    check(fc_model(3, **case))


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("case", [
    dict(shape=(1, 9, 9, 3), k=3, stride=2, padding="SAME"),
    dict(shape=(2, 8, 8, 4), k=2, stride=2, padding="VALID", act="RELU"),
    dict(shape=(1, 7, 6, 2), k=3, stride=1, padding="SAME", act="RELU6"),
    dict(shape=(1, 6, 6, 3), k=3, stride=2, padding="SAME", dtype="int16"),
], ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_pool(op, case):
    dtype = case.get("dtype", "int8")
    mb = ModelBuilder()
    s, z = (0.1, 5) if dtype == "int8" else (0.001, 0)
    x = mb.input(case["shape"], dtype, scale=s, zero_point=z)
    n, h, w, c = case["shape"]
    k, st = case["k"], case["stride"]
    oh, ow = ((-(-h // st), -(-w // st)) if case["padding"] == "SAME" else ((h - k) // st + 1, (w - k) // st + 1))
    y = mb.tensor((n, oh, ow, c), dtype, scale=s, zero_point=z)
    mb.op(op, [x], [y], "Pool2DOptions", Padding=case["padding"], StrideH=st, StrideW=st, FilterHeight=k,
          FilterWidth=k, FusedActivationFunction=case.get("act", "NONE"))
    mb.output(y)
    check(mb.build())


@pytest.mark.parametrize("case", [
    dict(shape=(2, 10), scale=0.1, zp=3, out="int8"),
    dict(shape=(1, 3, 17), scale=0.5, zp=-10, out="int8", beta=0.7),
    dict(shape=(4, 5), scale=0.02, zp=0, out="int16"),
    dict(shape=(1, 300), scale=0.08, zp=-128, out="int8"),
    dict(shape=(3, 12), scale=0.0003, zp=0, out="int16", dtype="int16"),
    dict(shape=(2, 40), scale=0.00002, zp=0, out="int16", dtype="int16", beta=1.3),
], ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_softmax(case):
    mb = ModelBuilder()
    dtype = case.get("dtype", "int8")
    x = mb.input(case["shape"], dtype, scale=case["scale"], zero_point=case["zp"])
    out_q = {"int8": dict(scale=1 / 256, zero_point=-128),
             "int16": dict(scale=1 / 65536, zero_point=-32768) if dtype == "int8" else dict(scale=1 / 32768, zero_point=0)}
    y = mb.tensor(case["shape"], case["out"], **out_q[case["out"]])
    mb.op("SOFTMAX", [x], [y], "SoftmaxOptions", Beta=case.get("beta", 1.0))
    mb.output(y)
    check(mb.build())


@pytest.mark.parametrize("src,dst", [("float32", "int8"), ("float32", "int16"), ("int8", "int8"),
                                     ("int16", "int8"), ("int8", "int16"), ("int16", "int32"),
                                     ("int16", "int16"), ("int8", "int32"), ("int32", "int8"), ("int32", "int16"),
                                     ("uint8", "int8"), ("int8", "uint8")])
def test_quantize(src, dst):
    mb = ModelBuilder()
    qin = {} if src == "float32" else dict(scale={"int8": 0.03, "uint8": 0.03, "int16": 0.0004, "int32": 0.0000007}[src],
                                          zero_point={"int8": -7, "uint8": 121}.get(src, 0))
    x = mb.input((3, 40), src, **qin)
    qout = dict(scale={"int8": 0.021, "uint8": 0.021, "int16": 0.00031, "int32": 0.00002}[dst],
                zero_point={"int8": 4, "uint8": 133}.get(dst, 0))
    y = mb.tensor((3, 40), dst, **qout)
    mb.op("QUANTIZE", [x], [y])
    mb.output(y)
    inputs = None
    if src == "float32":
        r = rng(5)
        inputs = [[r.uniform(-4, 4, (3, 40)).astype(np.float32)] for _ in range(5)]
        inputs.append([np.round(r.uniform(-40, 40, (3, 40))).astype(np.float32) * np.float32(0.0105)])
    check(mb.build(), inputs=inputs)


@pytest.mark.parametrize("src", ["int8", "int16"])
def test_dequantize(src):
    mb = ModelBuilder()
    x = mb.input((2, 33), src, scale=0.013 if src == "int8" else 0.00021, zero_point=9 if src == "int8" else 0)
    y = mb.tensor((2, 33), "float32")
    mb.op("DEQUANTIZE", [x], [y])
    mb.output(y)
    check(mb.build())


def binary_model(op, shapes, dtype="int8", act="NONE", seed=0):
    r = rng(seed)
    mb = ModelBuilder()
    if dtype == "int8":
        qa = dict(scale=float(r.uniform(0.01, 0.1)), zero_point=int(r.integers(-20, 20)))
        qb = dict(scale=float(r.uniform(0.01, 0.1)), zero_point=int(r.integers(-20, 20)))
        qy = dict(scale=0.06 if op != "MUL" else 0.2, zero_point=int(r.integers(-10, 10)))
    else:
        qa, qb = dict(scale=0.0003, zero_point=0), dict(scale=0.0005, zero_point=0)
        qy = dict(scale=0.0006 if op != "MUL" else 0.15, zero_point=0)
    a = mb.input(shapes[0], dtype, **qa)
    b = mb.input(shapes[1], dtype, **qb)
    y = mb.tensor(np.broadcast_shapes(*shapes), dtype, **qy)
    mb.op(op, [a, b], [y], {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}[op],
          FusedActivationFunction=act)
    mb.output(y)
    return mb.build()


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("shapes,dtype,act", [
    (((2, 5, 6), (2, 5, 6)), "int8", "NONE"),
    (((1, 4, 4, 3), (3,)), "int8", "RELU"),
    (((2, 1, 5), (3, 1)), "int8", "RELU6"),
    (((3, 7), (3, 7)), "int16", "NONE"),
    (((2, 3, 4), (1, 4)), "int16", "NONE"),
])
def test_elementwise(op, shapes, dtype, act):
    check(binary_model(op, shapes, dtype, act))


def unary_model(op, dtype, qx, qy, options=None, shape=(4, 64), **fields):
    mb = ModelBuilder()
    x = mb.input(shape, dtype, **qx)
    y = mb.tensor(shape, dtype, **qy)
    mb.op(op, [x], [y], options, **fields)
    mb.output(y)
    return mb.build()


@pytest.mark.parametrize("op,dtype,qx,qy,extra", [
    ("RELU", "int8", dict(scale=0.05, zero_point=-3), dict(scale=0.03, zero_point=-128), {}),
    ("RELU", "int16", dict(scale=0.0005, zero_point=0), dict(scale=0.0004, zero_point=0), {}),
    ("RELU6", "int8", dict(scale=0.05, zero_point=10), dict(scale=0.05, zero_point=10), {}),
    ("RELU6", "int16", dict(scale=0.0004, zero_point=0), dict(scale=0.0004, zero_point=0), {}),
    ("LEAKY_RELU", "int8", dict(scale=0.04, zero_point=5), dict(scale=0.03, zero_point=-20),
     dict(options="LeakyReluOptions", Alpha=0.1)),
    ("LEAKY_RELU", "int16", dict(scale=0.0004, zero_point=0), dict(scale=0.0003, zero_point=0),
     dict(options="LeakyReluOptions", Alpha=0.3)),
    ("HARD_SWISH", "int8", dict(scale=0.05, zero_point=4), dict(scale=0.03, zero_point=-60), {}),
    ("LOGISTIC", "int8", dict(scale=0.06, zero_point=-2), dict(scale=1 / 256, zero_point=-128), {}),
    ("LOGISTIC", "int16", dict(scale=2 ** -12, zero_point=0), dict(scale=2 ** -15, zero_point=0), {}),
    ("LOGISTIC", "int16", dict(scale=0.00037, zero_point=0), dict(scale=2 ** -15, zero_point=0), {}),
    ("TANH", "int8", dict(scale=0.04, zero_point=7), dict(scale=1 / 128, zero_point=0), {}),
    ("TANH", "int16", dict(scale=2 ** -11, zero_point=0), dict(scale=2 ** -15, zero_point=0), {}),
    ("TANH", "int16", dict(scale=0.00029, zero_point=0), dict(scale=2 ** -15, zero_point=0), {}),
], ids=lambda v: v if isinstance(v, str) else None)
def test_activation(op, dtype, qx, qy, extra):
    check(unary_model(op, dtype, qx, qy, **extra))


def svdf_model(seed, batch=2, input_size=12, units=5, rank=2, memory=6, state_dtype="int8"):
    r = rng(seed)
    filters = units * rank
    mb = ModelBuilder()
    x = mb.input((batch, input_size), "int8", scale=0.05, zero_point=-4)
    wf, wfs = weights(r, (filters, input_size))
    f = mb.const(wf, scale=wfs)
    if state_dtype == "int8":
        wt, wts = weights(r, (filters, memory))
        st_scale, st_zp = 0.4, 3
    else:
        wt = r.integers(-20000, 20000, (filters, memory)).astype(np.int16)
        wts, st_scale, st_zp = np.array([0.00002], np.float32), 0.002, 0
    t = mb.const(wt, scale=wts)
    b = mb.const(r.normal(0, 500, units).astype(np.int32), scale=float(np.float32(st_scale) * wts[0]))
    state = mb.tensor((batch, filters * memory), state_dtype, scale=st_scale, zero_point=st_zp, variable=True)
    y = mb.tensor((batch, units), "int8", scale=0.05 * rank * memory / 3, zero_point=2)
    mb.op("SVDF", [x, f, t, b, state], [y], "SVDFOptions", Rank=rank)
    mb.output(y)
    return mb.build()


@pytest.mark.parametrize("state_dtype", ["int8", "int16"])
def test_svdf_streaming(state_dtype):
    """A sequence of inputs: the state carries over between inferences in both TFLM and smelt."""
    data = svdf_model(7, state_dtype=state_dtype)
    cmp = tflm.compare(data, 12, seed=4)
    assert cmp.mismatches == 0, cmp.table()
    check(data, n=1)   # the numpy reference: one inference from the initial state


# ---------------------------------------------------------------- data movement and reductions
Q8 = dict(scale=0.07, zero_point=-5)


def test_concatenation():
    mb = ModelBuilder()
    a = mb.input((2, 3, 4), "int8", **Q8)
    b = mb.input((2, 3, 2), "int8", **Q8)
    y = mb.tensor((2, 3, 6), "int8", **Q8)
    mb.op("CONCATENATION", [a, b], [y], "ConcatenationOptions", Axis=-1)
    mb.output(y)
    check(mb.build())


@pytest.mark.parametrize("op,dtype", [("PAD", "int8"), ("PADV2", "int8"), ("PAD", "int16")])
def test_pad(op, dtype):
    mb = ModelBuilder()
    q = Q8 if dtype == "int8" else dict(scale=0.001, zero_point=0)
    x = mb.input((1, 4, 5, 3), dtype, **q)
    pads = mb.const(np.array([[0, 0], [1, 2], [2, 0], [0, 1]], np.int32))
    ins = [x, pads] + ([mb.const(np.array([17], np.int8), **q)] if op == "PADV2" else [])
    y = mb.tensor((1, 7, 7, 4), dtype, **q)
    mb.op(op, ins, [y])
    mb.output(y)
    check(mb.build())


def test_transpose():
    mb = ModelBuilder()
    x = mb.input((2, 3, 4, 5), "int8", **Q8)
    perm = mb.const(np.array([0, 3, 1, 2], np.int32))
    y = mb.tensor((2, 5, 3, 4), "int8", **Q8)
    mb.op("TRANSPOSE", [x, perm], [y])
    mb.output(y)
    check(mb.build())


@pytest.mark.parametrize("begin,end,strides,masks,out", [
    ([0, 1, 0], [2, 5, 6], [1, 2, 1], {}, (2, 2, 6)),
    ([1, -1, 0], [2, 0, 6], [1, -1, 2], dict(BeginMask=0b100), (1, 5, 3)),
    ([1, 2, 0], [0, 0, 0], [1, 1, 1], dict(ShrinkAxisMask=0b011, EndMask=0b100), (6,)),
    ([-2, 0, 1], [0, 0, -1], [1, 3, 1], dict(EndMask=0b011), (2, 2, 4)),
])
def test_strided_slice(begin, end, strides, masks, out):
    mb = ModelBuilder()
    x = mb.input((3, 6, 6), "int8", **Q8)
    ins = [x] + [mb.const(np.array(v, np.int32)) for v in (begin, end, strides)]
    y = mb.tensor(out, "int8", **Q8)
    mb.op("STRIDED_SLICE", ins, [y], "StridedSliceOptions", **masks)
    mb.output(y)
    check(mb.build())


@pytest.mark.parametrize("op", ["RESHAPE", "SQUEEZE"])
def test_reshape_int8(op):
    mb = ModelBuilder()
    x = mb.input((1, 4, 1, 6), "int8", **Q8)
    y = mb.tensor((4, 6), "int8", **Q8)
    if op == "RESHAPE":
        mb.op("RESHAPE", [x, mb.const(np.array([4, 6], np.int32))], [y])
    else:
        mb.op("SQUEEZE", [x], [y], "SqueezeOptions", SqueezeDims=[0, 2])
    mb.output(y)
    check(mb.build())


@pytest.mark.parametrize("shape,axes,keep,dtype,q_out", [
    ((1, 5, 6, 3), [1, 2], True, "int8", dict(scale=0.05, zero_point=3)),      # TFLM's spatial path
    ((2, 4, 5, 3), [2, 1], True, "int8", Q8),                                  # spatial, same quant
    ((2, 4, 5, 3), [1], False, "int8", Q8),                                    # plain integer mean
    ((2, 4, 5, 3), [-1, 1], False, "int8", dict(scale=0.03, zero_point=10)),   # requantizing path
    ((3, 7), [0], True, "int8", dict(scale=0.05, zero_point=-20)),
    ((1, 6, 6, 4), [1, 2], True, "int16", dict(scale=0.0007, zero_point=0)),
    ((2, 6, 4), [1], False, "int16", dict(scale=0.0007, zero_point=0)),
])
def test_mean(shape, axes, keep, dtype, q_out):
    mb = ModelBuilder()
    q_in = Q8 if dtype == "int8" else dict(scale=0.001, zero_point=0)
    x = mb.input(shape, dtype, **q_in)
    rank = len(shape)
    red = {a + rank if a < 0 else a for a in axes}
    out = tuple(1 if i in red else d for i, d in enumerate(shape)) if keep else \
        tuple(d for i, d in enumerate(shape) if i not in red)
    y = mb.tensor(out, dtype, **q_out)
    mb.op("MEAN", [x, mb.const(np.array(axes, np.int32))], [y], "ReducerOptions", KeepDims=keep)
    mb.output(y)
    check(mb.build())


@pytest.mark.parametrize("size,align,half", [((7, 9), False, False), ((3, 2), False, True),
                                             ((8, 5), True, False), ((9, 12), False, True)])
def test_resize_nearest(size, align, half):
    mb = ModelBuilder()
    x = mb.input((2, 4, 6, 3), "int8", **Q8)
    y = mb.tensor((2,) + size + (3,), "int8", **Q8)
    mb.op("RESIZE_NEAREST_NEIGHBOR", [x, mb.const(np.array(size, np.int32))], [y],
          "ResizeNearestNeighborOptions", AlignCorners=align, HalfPixelCenters=half)
    mb.output(y)
    check(mb.build())


@pytest.mark.parametrize("xs,ys,adj_x,adj_y,dtype", [
    ((2, 3, 5), (2, 5, 4), False, False, "int8"),
    ((3, 5), (2, 3, 5, 4), False, False, "int8"),
    ((2, 1, 5, 3), (1, 3, 4, 5), True, True, "int8"),
    ((2, 4, 6), (2, 6, 3), False, False, "int16"),
])
def test_batch_matmul(xs, ys, adj_x, adj_y, dtype):
    r = rng(4)
    mb = ModelBuilder()
    if dtype == "int8":
        qx, qy, qo = dict(scale=0.05, zero_point=3), dict(scale=0.04, zero_point=-7), dict(scale=0.3, zero_point=1)
    else:
        qx, qy, qo = dict(scale=0.001, zero_point=0), dict(scale=0.002, zero_point=0), dict(scale=0.03, zero_point=0)
    x = mb.input(xs, dtype, **qx)
    y = mb.const(r.integers(-100, 100, ys).astype(dtype), **qy)
    m = xs[-1] if adj_x else xs[-2]
    n = ys[-2] if adj_y else ys[-1]
    out = np.broadcast_shapes(xs[:-2], ys[:-2]) + (m, n)
    o = mb.tensor(out, dtype, **qo)
    mb.op("BATCH_MATMUL", [x, y], [o], "BatchMatMulOptions", AdjX=adj_x, AdjY=adj_y)
    mb.output(o)
    check(mb.build())


# ---------------------------------------------------------------- float models (float IR ops)
def test_float_mlp_within_rounding():
    r = rng(9)
    mb = ModelBuilder()
    x = mb.input((2, 6), "float32")
    w = mb.const(r.normal(0, 0.5, (5, 6)).astype(np.float32))
    b = mb.const(r.normal(0, 0.5, 5).astype(np.float32))
    h = mb.tensor((2, 5), "float32")
    mb.op("FULLY_CONNECTED", [x, w, b], [h], "FullyConnectedOptions", FusedActivationFunction="RELU6")
    s = mb.tensor((2, 5), "float32")
    mb.op("LOGISTIC", [h], [s])
    a = mb.tensor((2, 5), "float32")
    mb.op("ADD", [s, h], [a], "AddOptions", FusedActivationFunction="RELU")
    y = mb.tensor((2, 5), "float32")
    mb.op("SOFTMAX", [a], [y], "SoftmaxOptions", Beta=1.0)
    mb.output(y)
    cmp = tflm.compare(mb.build(), 10, 0)
    assert max(cmp.max_abs_error.values()) < 1e-6, cmp.table()


def lstm_model(seed, batch=2, steps=5, input_size=6, state=7, time_major=False, cell_clip=0.0,
               hidden_zp=0, cell_scale=2 ** -11):
    r = rng(seed)
    mb = ModelBuilder()
    xs = (steps, batch, input_size) if time_major else (batch, steps, input_size)
    sx, sh = 0.05, 1 / 128
    x = mb.input(xs, "int8", scale=sx, zero_point=3)
    ins = [x]
    w_scales = []
    for k in range(8):
        shape = (state, input_size) if k < 4 else (state, state)
        w, s = weights(r, shape)
        s = s * 4
        w_scales.append(s)
        ins.append(mb.const(w, scale=s))
    ins += [-1, -1, -1]                                   # no peephole
    for k in range(4):
        ins.append(mb.const(r.normal(0, 3000, state).astype(np.int32), scale=sx * w_scales[k]))
    ins += [-1, -1]                                       # no projection
    ins.append(mb.tensor((batch, state), "int8", scale=sh, zero_point=hidden_zp, variable=True))
    ins.append(mb.tensor((batch, state), "int16", scale=cell_scale, zero_point=0, variable=True))
    ins += [-1, -1, -1, -1]                               # no layer norm
    y = mb.tensor(xs[:2] + (state,), "int8", scale=sh, zero_point=hidden_zp)
    mb.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], "UnidirectionalSequenceLSTMOptions",
          FusedActivationFunction="TANH", CellClip=cell_clip, TimeMajor=time_major)
    mb.output(y)
    return mb.build()


@pytest.mark.parametrize("case", [dict(), dict(time_major=True, batch=3), dict(cell_clip=2.5, hidden_zp=-9),
                                  dict(cell_scale=2 ** -14, steps=3)],
                         ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()) or "default")
def test_lstm(case):
    data = lstm_model(11, **case)
    cmp = tflm.compare(data, 8, seed=2)   # a sequence: the states carry over between inferences
    assert cmp.mismatches == 0, cmp.table()
    check(data, n=1)


def test_float_ops_within_rounding():
    """The float operators map onto smelt's float IR ops (given in ONNX form)."""
    r = rng(10)
    mb = ModelBuilder()
    x = mb.input((2, 3, 4), "float32")
    t = [mb.tensor(s, "float32") for s in [(2, 3, 4), (2, 3, 4), (2, 3, 4), (2, 3, 4), (2, 3, 8), (2, 5, 8),
                                            (2, 8, 5), (2, 8), (2, 8, 3), (2, 4, 3), (2, 4, 3), (24,)]]
    mb.op("LEAKY_RELU", [x], [t[0]], "LeakyReluOptions", Alpha=0.2)
    mb.op("HARD_SWISH", [t[0]], [t[1]])
    mb.op("MUL", [t[1], x], [t[2]], "MulOptions", FusedActivationFunction="RELU_N1_TO_1")
    mb.op("SUB", [t[2], t[0]], [t[3]], "SubOptions", FusedActivationFunction="NONE")
    mb.op("CONCATENATION", [t[3], x], [t[4]], "ConcatenationOptions", Axis=2)
    mb.op("PAD", [t[4], mb.const(np.array([[0, 0], [1, 1], [0, 0]], np.int32))], [t[5]])
    mb.op("TRANSPOSE", [t[5], mb.const(np.array([0, 2, 1], np.int32))], [t[6]])
    mb.op("MEAN", [t[6], mb.const(np.array([2], np.int32))], [t[7]], "ReducerOptions", KeepDims=False)
    mb.op("BATCH_MATMUL", [t[6], mb.const(r.normal(0, 1, (5, 3)).astype(np.float32))], [t[8]], "BatchMatMulOptions")
    mb.op("STRIDED_SLICE", [t[8]] + [mb.const(np.array(v, np.int32)) for v in ([0, 1, 0], [2, 8, 3], [1, 2, 1])],
          [t[9]], "StridedSliceOptions")
    mb.op("TANH", [t[9]], [t[10]])
    mb.op("RESHAPE", [t[10], mb.const(np.array([24], np.int32))], [t[11]])
    mb.output(t[11], t[7])
    cmp = tflm.compare(mb.build(), 10, 0)
    assert max(cmp.max_abs_error.values()) < 1e-5, cmp.table()


def test_float_conv_pool_within_rounding():
    """Float NHWC CONV_2D / DEPTHWISE_CONV_2D / pools run as NCHW Conv / pools between Transposes."""
    r = rng(12)
    mb = ModelBuilder()
    x = mb.input((1, 9, 8, 3), "float32")
    w = mb.const(r.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32))
    b = mb.const(r.normal(0, 0.3, 4).astype(np.float32))
    t1 = mb.tensor((1, 5, 4, 4), "float32")
    mb.op("CONV_2D", [x, w, b], [t1], "Conv2DOptions", Padding="SAME", StrideH=2, StrideW=2,
          DilationHFactor=1, DilationWFactor=1, FusedActivationFunction="RELU6")
    dw = mb.const(r.normal(0, 0.3, (1, 3, 3, 8)).astype(np.float32))
    db = mb.const(r.normal(0, 0.3, 8).astype(np.float32))
    t2 = mb.tensor((1, 5, 4, 8), "float32")
    mb.op("DEPTHWISE_CONV_2D", [t1, dw, db], [t2], "DepthwiseConv2DOptions", Padding="SAME", StrideH=1,
          StrideW=1, DepthMultiplier=2, DilationHFactor=1, DilationWFactor=1, FusedActivationFunction="RELU")
    t3 = mb.tensor((1, 3, 2, 8), "float32")
    mb.op("AVERAGE_POOL_2D", [t2], [t3], "Pool2DOptions", Padding="SAME", StrideH=2, StrideW=2,
          FilterHeight=3, FilterWidth=3)
    t4 = mb.tensor((1, 2, 1, 8), "float32")
    mb.op("MAX_POOL_2D", [t3], [t4], "Pool2DOptions", Padding="VALID", StrideH=1, StrideW=1,
          FilterHeight=2, FilterWidth=2)
    mb.output(t4)
    cmp = tflm.compare(mb.build(), 10, 0)
    assert max(cmp.max_abs_error.values()) < 1e-5, cmp.table()
