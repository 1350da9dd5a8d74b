"""ONNX QuantizeLinear and DequantizeLinear (opsets 10-21), per-tensor and per-axis.

  QuantizeLinear    y = saturate(round_half_even(x / scale) + zero_point)   float32 -> int8/uint8/int16/uint16
  DequantizeLinear  y = (x - zero_point) * scale                           int8/uint8/int16/uint16/int32 -> float32

Canonical attrs: scale (float32, 1-D: one value, or one per channel), zero_point (int64, same size),
axis (the channel axis, None when per-tensor), dtype (the integer type). The scale and zero point
must be constants (they are read into attrs). Not supported, with a reason: block quantization
(opset 21 block_size > 0: per-block scales have no kernel), float8 and int4 types, float16 scales
(ONNX then computes in float16).

The lower_quantized pass turns DequantizeLinear -> op -> QuantizeLinear chains into smelt's integer
ops; what stays (at the graph's float edges) runs these kernels (smelt/ops/qdq.c).
"""
from __future__ import annotations

import numpy as np
from onnx import helper

from ..registry import Example, Op, Rand, register

Q_TYPES = ("int8", "uint8", "int16", "uint16")
RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535),
         "int32": (-2**31, 2**31 - 1)}
SUFFIX = {"int8": "i8", "uint8": "u8", "int16": "i16", "uint16": "u16", "int32": "i32"}


def channel_view(shape, axis) -> tuple[int, int, int]:
    """(outer, channels, inner) element counts of `shape` around `axis` (None: per-tensor)."""
    n = int(np.prod(shape, dtype=np.int64))
    if axis is None:
        return 1, 1, n
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    inner = int(np.prod(shape[axis + 1:], dtype=np.int64))
    return outer, int(shape[axis]), inner


def broadcast_params(attrs, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """scale (float32) and zero point (int64) shaped to broadcast against a rank-`rank` tensor."""
    s, z = attrs["scale"], attrs["zero_point"]
    if attrs["axis"] is None:
        return s.reshape(()), z.reshape(())
    shape = [1] * rank
    shape[attrs["axis"]] = s.size
    return s.reshape(shape), z.reshape(shape)


def quantize(x, scale, zero_point, dtype: str) -> np.ndarray:
    """ONNX QuantizeLinear in numpy: x / scale in float32, rounded half to even, saturated."""
    v = np.rint(np.asarray(x, np.float32) / np.asarray(scale, np.float32))
    lo, hi = RANGE[dtype]
    v = np.nan_to_num(v, nan=0.0, posinf=hi, neginf=lo)
    return np.clip(v.astype(np.float64) + np.asarray(zero_point, np.int64), lo, hi).astype(dtype)


def dequantize(x, scale, zero_point) -> np.ndarray:
    """ONNX DequantizeLinear in numpy: (x - zero_point) as float32, times scale."""
    d = (np.asarray(x, np.int64) - np.asarray(zero_point, np.int64)).astype(np.float32)
    return (d * np.asarray(scale, np.float32)).astype(np.float32)


class _QDQ(Op):
    kernel = "qdq"
    quantizes = True

    def from_onnx(self, node, g, opset):
        x = g[node.inputs[0]]
        if node.attrs.get("block_size", 0):
            raise self.unsupported(node, f"block quantization (block_size={node.attrs['block_size']}): "
                                         f"per-block scales have no kernel")
        scale = self.const(node, g, 1)
        zp = self.const(node, g, 2)
        if scale.dtype != np.float32:
            raise self.unsupported(node, f"{scale.dtype} scale (float32 only: ONNX computes in the scale's type)")
        if self.quantizes:
            if zp is not None:
                dtype = zp.dtype.name
            elif node.attrs.get("output_dtype"):
                dtype = np.dtype(helper.tensor_dtype_to_np_dtype(node.attrs["output_dtype"])).name
            else:
                dtype = "uint8"
            allowed = Q_TYPES
        else:
            dtype = x.dtype
            allowed = Q_TYPES + ("int32",)
        if dtype not in allowed:
            raise self.unsupported(node, f"type {dtype} (supported: {', '.join(allowed)})")
        if zp is not None and zp.dtype.name != dtype:
            raise self.unsupported(node, f"zero point of type {zp.dtype} for {dtype} data")
        axis = None
        if scale.size > 1:   # a 1-element scale is the same per tensor or per axis
            axis = int(node.attrs.get("axis", 1))
            axis = axis + len(x.shape) if axis < 0 else axis
            if scale.ndim != 1 or not 0 <= axis < len(x.shape) or x.shape[axis] != scale.size:
                raise self.unsupported(node, f"scale of shape {list(scale.shape)} for input {list(x.shape)} "
                                             f"along axis {axis}")
        zp = np.zeros(scale.size, np.int64) if zp is None else zp.astype(np.int64).reshape(-1)
        if zp.size != scale.size:
            raise self.unsupported(node, f"{zp.size} zero points for {scale.size} scales")
        node.attrs = {"scale": scale.astype(np.float32).reshape(-1), "zero_point": zp, "axis": axis,
                      "dtype": dtype}
        node.inputs = node.inputs[:1]
        return node

    def emit(self, node, g, ctx):
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        outer, channels, inner = channel_view(x.shape, node.attrs["axis"])
        params = ctx.params("smelt_qdq_params", {
            "outer": outer, "channels": channels, "inner": inner,
            "scale": ctx.array("float", node.attrs["scale"]),
            "zero_point": ctx.array("int32_t", node.attrs["zero_point"])})
        fn = (f"smelt_quantize_linear_{SUFFIX[y.dtype]}" if self.quantizes
              else f"smelt_dequantize_linear_{SUFFIX[x.dtype]}")
        ctx.call(fn, ctx.ptr(node.inputs[0]), ctx.ptr(node.outputs[0]), params)


_S = np.float32


@register
class QuantizeLinear(_QDQ):
    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("float32",))
        return [(x.shape, node.attrs["dtype"])]

    def reference(self, node, g, xs):
        s, z = broadcast_params(node.attrs, xs[0].ndim)
        return [quantize(xs[0], s, z, node.attrs["dtype"])]

    examples = [
        Example([Rand((2, 3, 4), low=-2, high=2), np.array(0.02, _S), np.array(3, np.int8)], opset=10,
                name="int8_opset10"),
        Example([Rand((3, 17), low=-1, high=5), np.array(0.02, _S), np.array(17, np.uint8)], name="uint8_saturate"),
        Example([Rand((2, 5)), np.array(0.01, _S)], name="uint8_default_zp"),
        Example([np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 300.0, -300.0], _S), np.array(1.0, _S),
                 np.array(0, np.int8)], name="round_half_even"),
        Example([Rand((2, 3, 4, 5), low=-2, high=2), np.array([0.01, 0.02, 0.03], _S),
                 np.array([0, -5, 9], np.int8)], {"axis": 1}, opset=13, name="per_axis"),
        Example([Rand((4, 6), low=-3, high=3), np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.06], _S),
                 np.array([1, 2, 3, 4, 5, 6], np.uint8)], {"axis": -1}, opset=19, name="per_axis_last"),
        Example([Rand((3, 8), low=-300, high=300), np.array(0.01, _S), np.array(-7, np.int16)], opset=21,
                name="int16"),
        Example([Rand((3, 8), low=-100, high=300), np.array(0.005, _S), np.array(100, np.uint16)], opset=21,
                name="uint16"),
    ]


@register
class DequantizeLinear(_QDQ):
    quantizes = False

    def infer(self, node, g):
        return [(g[node.inputs[0]].shape, "float32")]

    def reference(self, node, g, xs):
        s, z = broadcast_params(node.attrs, xs[0].ndim)
        return [dequantize(xs[0], s, z)]

    examples = [
        Example([Rand((2, 3, 4), "int8", -128, 128), np.array(0.02, _S), np.array(3, np.int8)], opset=10,
                name="int8_opset10"),
        Example([Rand((3, 17), "uint8", 0, 256), np.array(0.5, _S), np.array(128, np.uint8)], name="uint8"),
        Example([Rand((5,), "uint8", 0, 256), np.array(0.25, _S)], name="uint8_default_zp"),
        Example([Rand((2, 3, 4, 5), "int8", -128, 128), np.array([0.01, 0.02, 0.03], _S),
                 np.array([0, -5, 9], np.int8)], {"axis": 1}, opset=13, name="per_axis"),
        Example([Rand((4, 3), "int32", -100000, 100000), np.array([0.001, 0.002, 0.003], _S),
                 np.array([0, 0, 0], np.int32)], {"axis": 1}, opset=13, name="int32_bias"),
        Example([Rand((3, 8), "int16", -32768, 32768), np.array(0.01, _S), np.array(-7, np.int16)], opset=21,
                name="int16"),
        Example([Rand((3, 8), "uint16", 0, 65536), np.array(0.01, _S), np.array(300, np.uint16)], opset=21,
                name="uint16"),
    ]
