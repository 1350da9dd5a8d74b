"""The four MLPerf Tiny v0.5+ reference architectures as ONNX models (opset 13, NCHW float32).

Weights are random but deterministic (fixed seed per model, He-normal init as the Keras reference
code uses); every conv/dense that has a BatchNormalization in the reference is followed by one with
random, non-trivial statistics, as an unfolded export has them (smelt folds them). The
architectures follow mlcommons/tiny benchmark/training/*/keras_model.py:

  ds_cnn            KWS, input [1,1,49,10]: Conv 64 10x4 /2 'same'; 4 x (depthwise 3x3, pointwise
                    1x1 64), each conv + BN + ReLU; AveragePool 24x5 (as the reference: its
                    pool_size=(49//2, 10//2) covers the first 24 of the 25 rows of the 25x5 map);
                    Flatten; Gemm 12; Softmax.
  mobilenet_v1_025  VWW, input [1,3,96,96]: MobileNetV1 alpha 0.25 (Conv 8 3x3 /2, 13 depthwise
                    separable blocks up to 256 channels), each conv + BN + ReLU; AveragePool 3x3;
                    Flatten; Gemm 2; Softmax.
  resnet8           IC, input [1,3,32,32]: Conv 16 + BN + ReLU; three residual stacks of 16, 32,
                    64 channels (two 3x3 convs with BN; stacks 2 and 3 stride 2 with a 1x1 stride-2
                    projection shortcut, which has no BN in the reference); Add; ReLU;
                    AveragePool 8x8; Flatten; Gemm 10; Softmax.
  fc_autoencoder    AD, input [1,640]: Gemm 128 x4, 8, 128 x4, each + BN + ReLU; Gemm 640.

Keras 'same' padding is written as explicit (possibly asymmetric) pads, as tf2onnx exports it.

    python -m bench.models      # list the models with their MACs against MLPerf Tiny's figures
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

NAMES = ("ds_cnn", "mobilenet_v1_025", "resnet8", "fc_autoencoder")

# MACs per inference published with MLPerf Tiny (see ../shared/notes/anchors.md).
MLPERF_MACS = {"ds_cnn": 2_660_000, "mobilenet_v1_025": 7_490_000, "resnet8": 12_500_000,
               "fc_autoencoder": 260_000}

INPUT_SHAPES = {"ds_cnn": (1, 1, 49, 10), "mobilenet_v1_025": (1, 3, 96, 96),
                "resnet8": (1, 3, 32, 32), "fc_autoencoder": (1, 640)}
OUTPUT_SHAPES = {"ds_cnn": (1, 12), "mobilenet_v1_025": (1, 2), "resnet8": (1, 10),
                 "fc_autoencoder": (1, 640)}

SEEDS = {"ds_cnn": 1001, "mobilenet_v1_025": 1002, "resnet8": 1003, "fc_autoencoder": 1004}
OPSET = 13
BN_EPSILON = 1e-3      # the Keras default

CACHE = Path(os.environ.get("SMELT_CACHE", Path.home() / ".cache" / "smelt")) / "models"


class _Net:
    """Appends ONNX nodes with random weights, tracking every tensor's shape."""

    def __init__(self, name: str):
        self.name = name
        self.rng = np.random.default_rng(SEEDS[name])
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shapes = {"input": INPUT_SHAPES[name]}
        self.counts: dict[str, int] = {}

    def _node(self, op: str, kind: str, inputs: list[str], shape, **attrs) -> str:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        out = f"{kind}{self.counts[kind]}"
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        self.shapes[out] = tuple(shape)
        return out

    def _const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    def _he(self, shape, fan_in: int) -> np.ndarray:
        return self.rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)

    def conv(self, x: str, cout: int, kernel, stride: int = 1, depthwise: bool = False) -> str:
        n, cin, h, w = self.shapes[x]
        kh, kw = kernel
        group = cin if depthwise else 1
        if depthwise and cout != cin:
            raise ValueError("a depthwise convolution keeps the channel count")
        # Keras padding='same': out = ceil(in / stride), the odd pixel of padding at the end.
        oh, ow = -(-h // stride), -(-w // stride)
        ph = max((oh - 1) * stride + kh - h, 0)
        pw = max((ow - 1) * stride + kw - w, 0)
        kind = "dwconv" if depthwise else "conv"
        i = self.counts.get(kind, 0) + 1
        fan_in = cin // group * kh * kw
        wname = self._const(f"{kind}{i}.weight", self._he((cout, cin // group, kh, kw), fan_in))
        bname = self._const(f"{kind}{i}.bias", self.rng.normal(0.0, 0.05, cout))
        return self._node("Conv", kind, [x, wname, bname], (n, cout, oh, ow),
                          kernel_shape=[kh, kw], strides=[stride, stride], dilations=[1, 1],
                          pads=[ph // 2, pw // 2, ph - ph // 2, pw - pw // 2], group=group)

    def dense(self, x: str, units: int) -> str:
        n, k = self.shapes[x]
        i = self.counts.get("dense", 0) + 1
        wname = self._const(f"dense{i}.weight", self._he((units, k), k))
        bname = self._const(f"dense{i}.bias", self.rng.normal(0.0, 0.05, units))
        return self._node("Gemm", "dense", [x, wname, bname], (n, units), transB=1)

    def bn(self, x: str) -> str:
        c = self.shapes[x][1]
        i = self.counts.get("bn", 0) + 1
        params = [self._const(f"bn{i}.{p}", v) for p, v in (
            ("scale", self.rng.uniform(0.5, 1.5, c)), ("bias", self.rng.normal(0.0, 0.1, c)),
            ("mean", self.rng.normal(0.0, 0.1, c)), ("var", self.rng.uniform(0.5, 1.5, c)))]
        return self._node("BatchNormalization", "bn", [x, *params], self.shapes[x], epsilon=BN_EPSILON)

    def relu(self, x: str) -> str:
        return self._node("Relu", "relu", [x], self.shapes[x])

    def conv_bn_relu(self, x: str, cout: int, kernel, stride: int = 1, depthwise: bool = False) -> str:
        return self.relu(self.bn(self.conv(x, cout, kernel, stride, depthwise)))

    def add(self, a: str, b: str) -> str:
        return self._node("Add", "add", [a, b], self.shapes[a])

    def avgpool(self, x: str, kernel) -> str:
        n, c, h, w = self.shapes[x]
        kh, kw = kernel
        return self._node("AveragePool", "avgpool", [x], (n, c, (h - kh) // kh + 1, (w - kw) // kw + 1),
                          kernel_shape=[kh, kw], strides=[kh, kw])

    def flatten(self, x: str) -> str:
        s = self.shapes[x]
        return self._node("Flatten", "flatten", [x], (s[0], math.prod(s[1:])), axis=1)

    def softmax(self, x: str) -> str:
        return self._node("Softmax", "softmax", [x], self.shapes[x], axis=-1)

    def model(self, out: str) -> onnx.ModelProto:
        self.nodes[-1].output[0] = "output"     # `out` is the last node's output
        assert self.nodes[-1].name == out
        f32 = onnx.TensorProto.FLOAT
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info("input", f32, self.shapes["input"])],
            [helper.make_tensor_value_info("output", f32, self.shapes[out])], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="smelt.bench.models", ir_version=7)
        onnx.checker.check_model(model, full_check=True)
        return model


def _ds_cnn() -> onnx.ModelProto:
    net = _Net("ds_cnn")
    x = net.conv_bn_relu("input", 64, (10, 4), stride=2)              # -> 64 x 25 x 5
    for _ in range(4):
        x = net.conv_bn_relu(x, 64, (3, 3), depthwise=True)
        x = net.conv_bn_relu(x, 64, (1, 1))
    x = net.avgpool(x, (49 // 2, 10 // 2))                             # 24 x 5 -> 64 x 1 x 1
    return net.model(net.softmax(net.dense(net.flatten(x), 12)))


def _mobilenet_v1_025() -> onnx.ModelProto:
    net = _Net("mobilenet_v1_025")
    x = net.conv_bn_relu("input", 8, (3, 3), stride=2)                 # -> 8 x 48 x 48
    # (pointwise output channels, depthwise stride) of MobileNetV1's 13 blocks, alpha 0.25
    for cout, stride in [(16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), *[(128, 1)] * 5,
                         (256, 2), (256, 1)]:
        x = net.conv_bn_relu(x, net.shapes[x][1], (3, 3), stride, depthwise=True)
        x = net.conv_bn_relu(x, cout, (1, 1))
    x = net.avgpool(x, net.shapes[x][2:])                              # 256 x 3 x 3 -> 256 x 1 x 1
    return net.model(net.softmax(net.dense(net.flatten(x), 2)))


def _resnet8() -> onnx.ModelProto:
    net = _Net("resnet8")
    x = net.conv_bn_relu("input", 16, (3, 3))
    for cout, stride in [(16, 1), (32, 2), (64, 2)]:
        y = net.conv_bn_relu(x, cout, (3, 3), stride)
        y = net.bn(net.conv(y, cout, (3, 3)))
        if stride != 1:
            x = net.conv(x, cout, (1, 1), stride)                      # projection shortcut, no BN
        x = net.relu(net.add(x, y))
    x = net.avgpool(x, net.shapes[x][2:])                              # 64 x 8 x 8 -> 64 x 1 x 1
    return net.model(net.softmax(net.dense(net.flatten(x), 10)))


def _fc_autoencoder() -> onnx.ModelProto:
    net = _Net("fc_autoencoder")
    x = "input"
    for units in [128, 128, 128, 128, 8, 128, 128, 128, 128]:
        x = net.relu(net.bn(net.dense(x, units)))
    return net.model(net.dense(x, 640))


_BUILDERS = {"ds_cnn": _ds_cnn, "mobilenet_v1_025": _mobilenet_v1_025, "resnet8": _resnet8,
             "fc_autoencoder": _fc_autoencoder}


def build(name: str) -> onnx.ModelProto:
    """The model `name` (one of NAMES), built afresh; the same bytes every time."""
    if name not in _BUILDERS:
        raise KeyError(f"unknown benchmark model '{name}'; the models are {', '.join(NAMES)}")
    return _BUILDERS[name]()


def path(name: str) -> Path:
    """The model saved as <cache>/models/<name>.onnx (rewritten only if its bytes changed)."""
    data = build(name).SerializeToString()
    p = CACHE / f"{name}.onnx"
    if not p.exists() or p.read_bytes() != data:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, p)
    return p


def example_input(name: str, seed: int = 0) -> dict[str, np.ndarray]:
    """A deterministic standard-normal input for the model `name`: {'input': array}."""
    rng = np.random.default_rng(seed)
    return {"input": rng.standard_normal(INPUT_SHAPES[name]).astype(np.float32)}


def _shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    g = inferred.graph
    shapes = {t.name: tuple(t.dims) for t in g.initializer}
    for vi in [*g.input, *g.value_info, *g.output]:
        dims = vi.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = tuple(d.dim_value for d in dims)
    return shapes


def macs(model: onnx.ModelProto) -> int:
    """Multiply-accumulates per inference of the Conv, Gemm and MatMul nodes, from ONNX's own
    shape inference (independent of smelt). Pooling, normalization, activations and additions are
    not counted, the convention of MLPerf Tiny's figures."""
    shapes = _shapes(model)
    total = 0
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        out = shapes[node.output[0]]
        a = shapes[node.input[0]]
        if node.op_type == "Conv":       # each output element: C/group x kernel products
            per_output = math.prod(shapes[node.input[1]][1:])
        elif node.op_type == "Gemm":
            per_output = a[0] if attrs.get("transA", 0) else a[1]
        else:
            per_output = a[-1]
        total += math.prod(out) * per_output
    return total


def params(model: onnx.ModelProto) -> int:
    """Elements in the model's initializers."""
    return sum(math.prod(t.dims) for t in model.graph.initializer)


def main() -> None:
    rows = [("model", "input", "output", "params", "MACs", "MLPerf MACs", "diff")]
    for name in NAMES:
        m = build(name)
        n = macs(m)
        rows.append((name, "x".join(map(str, INPUT_SHAPES[name])), "x".join(map(str, OUTPUT_SHAPES[name])),
                     f"{params(m):,}", f"{n:,}", f"{MLPERF_MACS[name]:,}",
                     f"{100 * (n / MLPERF_MACS[name] - 1):+.2f}%"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print("  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if k == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    print("\nMACs: Conv/Gemm multiply-accumulates from ONNX shape inference (BN, pooling, adds not "
          "counted); MLPerf MACs: the figures published with MLPerf Tiny, rounded to 10 k.")
    print(f"models cached in {CACHE}/<name>.onnx (python -c 'import bench.models as m; m.path(name)')")


if __name__ == "__main__":
    main()
