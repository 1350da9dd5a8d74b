"""Low-precision weight formats (smelt/compress.py): compiled C == numpy reference (integer formats
byte for byte, fp16 within float rounding), weight bytes == the packed size, and the digits CNN
compiled in every format with its accuracy on the 450 held-out images."""
from pathlib import Path

import numpy as np
import pytest

import smelt
from smelt import compress
from smelt.errors import SmeltError
from smelt.ir import Graph, Node, QuantParams, Tensor
from smelt.ops import bnn, qlowbit
from smelt.passes import lowbit_weights

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_cnn.onnx"


def qp(scale, zp=0, axis=None):
    return QuantParams(np.asarray(scale, np.float32).reshape(-1), np.asarray(zp, np.int64).reshape(-1), axis)


def const(g, name, data, quant=None):
    t = g.add(Tensor(name, tuple(np.shape(data)), str(np.asarray(data).dtype), np.asarray(data), quant))
    return t.name


def check_c(g: Graph, seed=0, runs=3):
    """Compile g, run random inputs through the C and the reference: byte-equal outputs."""
    art = smelt.compile(g)
    rng = np.random.default_rng(seed)
    for _ in range(runs):
        feeds = {n: (rng.integers(-128, 128, g[n].shape).astype(g[n].dtype) if g[n].dtype == "int8"
                     else rng.integers(0, 256, g[n].shape).astype(np.uint8)) for n in g.inputs}
        ref, out = art.reference(feeds), art.run(feeds)
        for o in g.outputs:
            assert out[o].dtype == ref[o].dtype and np.array_equal(out[o], ref[o]), o
    return art


# ------------------------------------------------------------------ packing
@pytest.mark.parametrize("bits", range(1, 9))
def test_pack_roundtrip(bits):
    rng = np.random.default_rng(bits)
    codes = rng.integers(0, 1 << bits, 37)
    packed = qlowbit.pack_codes(codes, bits)
    assert packed.size == (37 * bits + 7) // 8
    assert np.array_equal(qlowbit.unpack_codes(packed, bits, 37), codes)


# ------------------------------------------------------------------ int4 / ternary / binary / palette layers
def int8_layer(kind, x_shape, w_shape, seed, strides=(1, 1), pads=(0, 0, 0, 0), act="NONE", mult=1):
    """A one-node int8 graph: QConv2D / QDepthwiseConv2D / QFullyConnected with random weights."""
    rng = np.random.default_rng(seed)
    g = Graph("layer")
    oc = w_shape[3] if kind == "QDepthwiseConv2D" else w_shape[0]
    g.add(Tensor("x", tuple(x_shape), "int8", quant=qp(0.05, -3)))
    g.inputs = ["x"]
    w = const(g, "w", rng.integers(-127, 128, w_shape).astype(np.int8),
              qp(rng.uniform(0.002, 0.02, oc), np.zeros(oc), 3 if kind == "QDepthwiseConv2D" else 0))
    b = const(g, "b", rng.integers(-3000, 3000, oc).astype(np.int32))
    attrs = {"activation": act}
    if kind != "QFullyConnected":
        attrs.update(strides=strides, dilations=(1, 1), pads=pads, depth_multiplier=mult)
    node = Node(kind, "layer", ["x", w, b], ["y"], attrs)
    shape, dtype = smelt.registry.get(kind).infer(node, g)[0]
    g.add(Tensor("y", shape, dtype, quant=qp(0.08, 5)))
    g.nodes, g.outputs = [node], ["y"]
    return g


LAYERS = [
    ("QConv2D", (1, 7, 6, 5), (6, 3, 3, 5), {"pads": (1, 1, 1, 1), "act": "RELU"}),
    ("QConv2D", (2, 8, 8, 3), (5, 3, 2, 3), {"strides": (2, 1)}),
    ("QConv2D", (1, 5, 5, 12), (9, 1, 1, 12), {}),
    ("QDepthwiseConv2D", (1, 6, 6, 4), (1, 3, 3, 4), {"pads": (1, 1, 1, 1)}),
    ("QDepthwiseConv2D", (1, 5, 7, 3), (1, 3, 3, 6), {"strides": (2, 2), "pads": (0, 1, 1, 1), "mult": 2}),
    ("QFullyConnected", (3, 21), (7, 21), {"act": "RELU"}),
]


@pytest.mark.parametrize("fmt", ["int4", "ternary", "binary", "palette"])
def test_lowbit_layers_c_equals_reference(fmt):
    for i, (kind, xs, ws, kw) in enumerate(LAYERS):
        g = int8_layer(kind, xs, ws, seed=i, **kw)
        n_weights = g["w"].size
        lowbit_weights.run(g, fmt, clusters=6, keep_first_last=False)
        node = g.nodes[0]
        assert node.op == kind + "LowBit" and node.attrs["format"] == fmt
        bits = {"int4": 4, "ternary": 2, "binary": 1, "palette": 3}[fmt]
        assert node.attrs["bits"] == bits
        assert g[node.inputs[1]].nbytes == (n_weights * bits + 7) // 8    # packed: no padding
        check_c(g, seed=i)


def test_on_grid_weights_are_packed_exactly():
    """QAT-style int8 weights already in -7..7 keep their values and scales (no re-quantization)."""
    g = int8_layer("QConv2D", (1, 5, 5, 4), (3, 3, 3, 4), seed=1, pads=(1, 1, 1, 1))
    w = g["w"]
    w.data = np.random.default_rng(2).integers(-7, 8, w.shape).astype(np.int8)
    ref_scale, ref_bias = w.quant.scale.copy(), g["b"].data.copy()
    x = np.random.default_rng(3).integers(-128, 128, g["x"].shape).astype(np.int8)
    before = smelt.compile(g).reference({"x": x})["y"]
    lowbit_weights.run(g, "int4")
    node = g.nodes[0]
    assert np.array_equal(qlowbit.decode(g[node.inputs[1]].data, 4, g[node.inputs[3]].data, w.shape), w.data)
    assert np.array_equal(g[node.inputs[1]].quant.scale, ref_scale) and np.array_equal(g[node.inputs[2]].data, ref_bias)
    art = check_c(g)
    assert np.array_equal(art.run({"x": x})["y"], before)


# ------------------------------------------------------------------ fp16
def float_graph(op, x_shape, w, b=None, attrs=None):
    g = Graph("f")
    g.add(Tensor("x", tuple(x_shape), "float32"))
    g.inputs = ["x"]
    ins = ["x", const(g, "w", w.astype(np.float32))] + ([const(g, "b", b.astype(np.float32))] if b is not None else [])
    node = Node(op, "layer", ins, ["y"], dict(attrs or {}))
    shape, dtype = smelt.registry.get(op).infer(node, g)[0]
    g.add(Tensor("y", shape, dtype))
    g.nodes, g.outputs = [node], ["y"]
    return g


FLOAT_LAYERS = [
    ("Conv", (1, 3, 9, 8), (6, 3, 3, 3), {"kernel_shape": [3, 3], "strides": [1, 1], "dilations": [1, 1],
                                          "pads": [1, 1, 1, 1], "group": 1, "act": ("Relu", 0.0, 0.0)}),
    ("Conv", (2, 4, 7, 7), (8, 2, 3, 3), {"kernel_shape": [3, 3], "strides": [2, 2], "dilations": [1, 2],
                                          "pads": [0, 1, 1, 0], "group": 2}),
    ("Conv", (1, 6, 5, 5), (6, 1, 3, 3), {"kernel_shape": [3, 3], "strides": [1, 1], "dilations": [1, 1],
                                          "pads": [1, 1, 1, 1], "group": 6}),
    ("Gemm", (3, 20), (20, 9), {"alpha": 0.5, "beta": 2.0, "transA": 0, "transB": 0}),
    ("Gemm", (2, 33), (11, 33), {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 1}),
    ("MatMul", (2, 3, 10), (10, 4), {}),
]


@pytest.mark.parametrize("case", range(len(FLOAT_LAYERS)))
def test_fp16_layers(case):
    op, xs, ws, attrs = FLOAT_LAYERS[case]
    rng = np.random.default_rng(case)
    n_out = ws[0] if op == "Conv" else (ws[0] if attrs.get("transB") else ws[1])
    g = float_graph(op, xs, rng.normal(0, 0.5, ws), rng.normal(0, 0.5, n_out) if op != "MatMul" else None, attrs)
    h = compress.to_fp16(g)
    node = h.nodes[0]
    assert node.op in ("ConvW16", "FullyConnectedW16") and h[node.inputs[1]].nbytes == g["w"].nbytes // 2
    art = smelt.compile(h)
    x = rng.normal(0, 1, xs).astype(np.float32)
    ref, out = art.reference({"x": x})["y"], art.run({"x": x})["y"]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    # the reference is the float layer with its weights rounded to half
    g["w"].data = g["w"].data.astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(smelt.compile(g).reference({"x": x})["y"], ref, rtol=1e-5, atol=1e-6)


def test_half_to_float_every_pattern():
    """The C conversion of all 65536 half bit patterns (subnormals, inf, NaN) equals numpy's."""
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    g = Graph("h")
    g.add(Tensor("x", (1, 1), "float32"))
    w = const(g, "w", bits)
    g.add(Tensor("y", (1, bits.size), "float32"))
    g.nodes = [Node("FullyConnectedW16", "fc", ["x", w, ""], ["y"],
                    {"alpha": 1.0, "beta": 1.0, "w_shape": [bits.size, 1]})]
    g.inputs, g.outputs = ["x"], ["y"]
    out = smelt.compile(g).run({"x": np.ones((1, 1), np.float32)})["y"].reshape(-1)
    np.testing.assert_array_equal(out, bits.view(np.float16).astype(np.float32))


# ------------------------------------------------------------------ binary (XNOR + popcount)
def bnn_graph(seed, fc=False):
    """int8 -> QBinarize -> binary layer (binary out, thresholds) -> binary layer (int8 out)."""
    rng = np.random.default_rng(seed)
    g = Graph("bnn")
    c0, c1, c2 = (21, 13, 9) if fc else (11, 16, 7)
    xs = (2, c0) if fc else (1, 6, 5, c0)
    g.add(Tensor("x", xs, "int8", quant=qp(0.05, -3)))
    g.inputs = ["x"]
    g.nodes.append(Node("QBinarize", "bin", ["x"], ["xb"], {"threshold": rng.integers(-20, 20, c0).tolist()}))

    def layer(name, x, cin, cout, out, quant=None):
        op = "BFullyConnected" if fc else "BConv2D"
        wshape = (cout, bnn.packed_channels(cin)) if fc else (cout, 3, 3, bnn.packed_channels(cin))
        bits = rng.integers(0, 2, wshape[:-1] + (cin,))
        w = const(g, name + "_w", bnn.pack_signs(bits), qp(rng.uniform(0.01, 0.1, cout), np.zeros(cout), 0))
        attrs = {"channels": cin, "out": out}
        if not fc:
            attrs.update(strides=(1, 1), pads=(1, 1, 1, 1))
        inputs = [x, w]
        if out == "binary":
            attrs.update(threshold=rng.integers(-12, 12, cout).tolist(), flip=rng.integers(0, 2, cout).tolist())
        else:
            inputs.append(const(g, name + "_b", rng.integers(-30, 30, cout).astype(np.int32)))
        node = Node(op, name, inputs, [name + "_y"], attrs)
        g.nodes.append(node)
        return node

    for n in g.nodes:
        shape, dtype = smelt.registry.get(n.op).infer(n, g)[0]
        g.add(Tensor(n.outputs[0], shape, dtype, quant=qp(0.5)))
    l1 = layer("l1", "xb", c0, c1, "binary")
    g.add(Tensor("l1_y", *smelt.registry.get(l1.op).infer(l1, g)[0]))
    l2 = layer("l2", "l1_y", c1, c2, "int8")
    g.add(Tensor("l2_y", *smelt.registry.get(l2.op).infer(l2, g)[0], quant=qp(0.3, 4)))
    g["l1_y"].quant = qp(0.5)
    g.outputs = ["l1_y", "l2_y"]
    return g


@pytest.mark.parametrize("fc", [False, True])
def test_bnn_layers_c_equals_reference(fc):
    g = bnn_graph(7, fc)
    art = check_c(g, runs=4)
    w1 = g["l1_w"]
    cin = 21 if fc else 11
    assert w1.nbytes == w1.shape[0] * (1 if fc else 9) * ((cin + 7) // 8)     # 1 bit per weight, rows padded to bytes
    assert art.report.weight_bytes == g["l1_w"].nbytes + g["l2_w"].nbytes


# ------------------------------------------------------------------ end to end: the digits CNN
@pytest.fixture(scope="module")
def digits():
    d = np.load(ROOT / "examples" / "digits_test.npz")
    x, y = d["images"], d["labels"]
    g8 = compress.int8_graph(DIGITS, {"image": x[:100]})   # PTQ on the first 100 images
    return x, y, g8


def accuracy_and_check(art, x, y, n_ref=25):
    """Accuracy of the compiled C on all images; C == reference on the first n_ref."""
    out = np.concatenate([art.run({"image": x[i:i + 1]})["logits"] for i in range(len(x))])
    ref = np.array([art.reference({"image": x[i:i + 1]})["logits"][0] for i in range(n_ref)])
    return float((out.argmax(1) == y).mean()), out[:n_ref], ref


def kernel_rows(g):
    """(rows, weights per row) of each int8 conv / FC layer's kernel layout."""
    out = []
    for n in lowbit_weights.candidates(g):
        shape = g[n.inputs[1]].shape
        dw = n.op == "QDepthwiseConv2D"
        out.append((int(np.prod(shape[:-1])), shape[-1]) if dw else (shape[0], int(np.prod(shape[1:]))))
    return out


def test_digits_every_format(digits):
    x, y, g8 = digits
    float_acc, _, _ = accuracy_and_check(smelt.compile(DIGITS), x, y, 0)
    variants = {
        "fp16": compress.to_fp16(DIGITS), "int8": g8, "int4": compress.to_int4(g8),
        "palette16": compress.to_palette(g8, 16), "ternary": compress.to_ternary(g8),
        "binary": compress.to_binary_weights(g8), "xnor": compress.to_xnor(g8, {"image": x[:64]})}
    rows, w = {}, {}
    for name, g in variants.items():
        art = smelt.compile(g)
        acc, out, ref = accuracy_and_check(art, x, y)
        if name == "fp16":
            np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
        else:
            assert np.array_equal(out, ref), name          # integer formats: bit-exact
        rows[name], w[name] = acc, art.report.weight_bytes
    print("\nfloat", float_acc, rows, w)
    assert float_acc > 0.95
    assert abs(rows["fp16"] - float_acc) <= 0.01 and abs(rows["int8"] - float_acc) <= 0.01
    assert rows["int4"] >= float_acc - 0.03 and rows["palette16"] >= float_acc - 0.03
    # flash: conv/FC weights (+ int8 codebooks of the packed formats)
    n8 = sum(n for *_, n in compress.weight_formats(g8))
    assert w["int8"] == n8
    # the kernels' rows (an output channel; a depthwise tap) start on a byte boundary: half a byte
    # more for each odd-length row (the first conv's 9 weights)
    rows4 = sum(qlowbit.row_bytes(k, 4) * r for r, k in kernel_rows(g8))
    assert rows4 == n8 // 2 + 16 // 2
    assert w["int4"] == rows4 + 5 * 16 and w["palette16"] == rows4 + 5 * 16
    first_last = 144 + 640                        # int8 first conv and last FC
    inner = kernel_rows(g8)[1:-1]
    assert w["binary"] == first_last + sum(qlowbit.row_bytes(k, 1) * r for r, k in inner) + 3 * 2
    assert w["binary"] < first_last + (n8 - first_last) // 8 + 2 * 64
    biases = 4 * (16 + 32 + 32 + 64 + 10)          # float32 biases stay float32
    assert (w["fp16"] - biases) * 2 == smelt.compile(DIGITS).report.weight_bytes - biases


def test_compile_options(digits):
    x, y, g8 = digits
    calib = {"image": x[:64]}
    art = smelt.compile(DIGITS, quantize="int4", calib=calib)
    assert {f for _, _, f, _ in compress.weight_formats(art.graph)} == {"int4"}
    assert "w int4 4-bit" in art.report.table()
    art = smelt.compile(DIGITS, quantize="palette", calib=calib, compress={"clusters": 4})
    assert {f for _, _, f, _ in compress.weight_formats(art.graph)} == {"palette-2b"}
    art = smelt.compile(DIGITS, weights="fp16")
    assert {f for _, _, f, _ in compress.weight_formats(art.graph)} == {"fp16"}
    with pytest.raises(SmeltError, match="quantize='int3'"):
        smelt.compile(DIGITS, quantize="int3", calib=calib)
    with pytest.raises(SmeltError, match="int8-quantized graph"):
        compress.to_int4(smelt.compile(DIGITS).graph)
    with pytest.raises(SmeltError, match="clusters"):
        compress.to_palette(g8, clusters=300)


# ------------------------------------------------------------------ the Cortex-M4 (DSP) low-bit kernels
def test_lowbit_dsp_kernels_on_cortex_m4(digits):
    """The ARMv7E-M paths of qlowbit.c (SMLAD on shifted-and-masked fields, codebook lookups, the
    depthwise SMLABB path) on QEMU: outputs == reference, for the digits CNN in every fast layout and
    for layers with partial last words and odd channel counts."""
    import shutil
    from smelt import targets
    if not shutil.which("arm-none-eabi-gcc") or not shutil.which("qemu-system-arm"):
        pytest.fail("the Cortex-M4 toolchain is missing (scripts/setup.sh installs it)")
    x, y, g8 = digits
    graphs = {"int4": compress.to_int4(g8), "ternary": compress.to_ternary(g8, keep_first_last=False),
              "binary": compress.to_binary_weights(g8, keep_first_last=False),
              "palette16": compress.to_palette(g8, 16), "palette4": compress.to_palette(g8, 4)}
    for name, g in graphs.items():
        b = targets.bench(smelt.compile(g), "cortex-m4", inputs=[x[:1]])
        assert b["check"]["ok"], (name, b["check"])
    for fmt in ("int4", "binary", "palette"):
        for i, (kind, xs, ws, kw) in enumerate(LAYERS):
            g = int8_layer(kind, xs, ws, seed=i, **kw)
            lowbit_weights.run(g, fmt, clusters=4, keep_first_last=False)
            b = targets.bench(smelt.compile(g), "cortex-m4")
            assert b["check"]["ok"], (fmt, kind, b["check"])
