"""Int8-activation convolution, depthwise convolution and fully connected layers whose weights are
packed low-bit codes: int4, ternary, binary (+-1) and palettized (k-means clusters).

Every format is the same thing to the kernel: weight i is the `bits`-bit code at bit i * bits of a
little-endian bit stream (no padding between channels; codes may straddle a byte), looked up in
a small int8 codebook:
    int4     bits 4, codebook 0..7, -8..-1 (a two's complement nibble)
    ternary  bits 2, codebook 0, 1, -1, 0
    binary   bits 1, codebook -1, 1
    palette  bits ceil(log2 k), codebook = the k cluster centres quantized to int8
The weight's real value is scale[c] * codebook[code] (scale per output channel: the weight tensor's
QuantParams). Arithmetic after the decode is QConv2D's / QFullyConnected's exactly (int32
accumulation of w * (x + input_offset), TFLM requantization), so `reference` decodes the weights
and runs those ops' references: the int8 and the low-bit paths share one oracle.

Inputs: x (int8, NHWC or [.., K]), packed weights (uint8, 1-D, ceil(n * bits / 8) bytes), bias
(int32 in units of s_x * scale[c]), codebook (int8). attrs: those of the int8 op plus w_shape (the
decoded OHWI / 1HWO / [N, K] shape), bits and format (a name for the report).
"""
from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Graph, Node, Tensor
from ..registry import register
from .qbase import QOp

CODEBOOKS = {"int4": (4, list(range(8)) + list(range(-8, 0))), "ternary": (2, [0, 1, -1, 0]),
             "binary": (1, [-1, 1])}


def packed_bytes(n: int, bits: int) -> int:
    return (n * bits + 7) // 8


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """Codes (ints in [0, 2^bits)) as a little-endian bit stream of ceil(n * bits / 8) bytes."""
    c = np.asarray(codes, np.int64).reshape(-1)
    if c.size and (c.min() < 0 or c.max() >= 1 << bits):
        raise ValueError(f"codes outside [0, {1 << bits})")
    stream = ((c[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(stream, bitorder="little")[:packed_bytes(c.size, bits)]


def unpack_codes(packed: np.ndarray, bits: int, n: int) -> np.ndarray:
    stream = np.unpackbits(np.asarray(packed, np.uint8), bitorder="little")[:n * bits]
    return (stream.reshape(n, bits).astype(np.int64) << np.arange(bits)).sum(axis=1)


def decode(packed: np.ndarray, bits: int, codebook: np.ndarray, shape) -> np.ndarray:
    """The int8 weights of a packed tensor."""
    n = int(np.prod(shape))
    return np.asarray(codebook, np.int8)[unpack_codes(packed, bits, n)].reshape(shape)


class _LowBit(QOp):
    kernel = ("qfixed", "qconv", "qfc", "qlowbit")
    base = ""          # the int8 op whose arithmetic this one shares

    def infer(self, node, g):
        x, w, cb = g[node.inputs[0]], g[node.inputs[1]], g[node.inputs[3]]
        self.check_dtype(node, x.dtype, ("int8",))
        self.check_dtype(node, w.dtype, ("uint8",))
        self.check_dtype(node, cb.dtype, ("int8",))
        bits = node.attrs["bits"]
        if not 1 <= bits <= 8 or cb.size > 1 << bits:
            raise self.unsupported(node, f"{cb.size} codebook entries for {bits}-bit codes")
        if w.size != packed_bytes(int(np.prod(node.attrs["w_shape"])), bits):
            raise self.unsupported(node, f"{w.size} packed bytes for weights {node.attrs['w_shape']}")
        return registry.get(self.base).infer(*self.decoded(node, g))

    def decoded(self, node, g) -> tuple[Node, Graph]:
        """The equivalent int8 node (weights decoded) in a view of g."""
        w, cb = g[node.inputs[1]], g[node.inputs[3]]
        shape = tuple(node.attrs["w_shape"])
        data = None
        if w.data is not None and cb.data is not None:
            data = decode(w.data, node.attrs["bits"], cb.data, shape)
        view = Graph(g.name, dict(g.tensors), [], g.inputs, g.outputs)
        name = w.name + "/decoded"
        view.tensors[name] = Tensor(name, shape, "int8", data, w.quant)
        return Node(self.base, node.name, [node.inputs[0], name, node.inputs[2]], node.outputs, node.attrs), view

    def reference(self, node, g, xs):
        n, view = self.decoded(node, g)
        return registry.get(self.base).reference(n, view, [xs[0], view[n.inputs[1]].data, xs[2]])

    def macs(self, node, g):
        return registry.get(self.base).macs(*self.decoded(node, g))

    def wparams(self, node, g, ctx) -> dict:
        return {"bits": node.attrs["bits"], "codebook": ctx.ptr(node.inputs[3])}


class _LowBitConv(_LowBit):
    base = "QConv2D"
    kind = "conv2d"

    def emit(self, node, g, ctx):
        n, view = self.decoded(node, g)
        base = registry.get(self.base)
        p = base.prepare(n, view)
        x, w, y = g[node.inputs[0]], node.attrs["w_shape"], g[node.outputs[0]]
        (sh, sw), (dh, dw) = node.attrs["strides"], node.attrs.get("dilations", (1, 1))
        lo, hi = p["act"]
        q = {"batches": x.shape[0], "in_h": x.shape[1], "in_w": x.shape[2], "in_c": x.shape[3],
             "out_h": y.shape[1], "out_w": y.shape[2], "out_c": y.shape[3],
             "k_h": w[1], "k_w": w[2], "w_in_c": 1 if base.depthwise else w[3],
             "depth_multiplier": node.attrs.get("depth_multiplier", 1),
             "stride_h": sh, "stride_w": sw, "dil_h": dh, "dil_w": dw,
             "pad_top": node.attrs["pads"][0], "pad_left": node.attrs["pads"][1],
             "input_offset": p["in_off"], "output_offset": p["out_off"], "act_min": lo, "act_max": hi,
             "multiplier": ctx.array("int32_t", p["multiplier"]), "shift": ctx.array("int32_t", p["shift"]),
             "wide": 0, "bias_full": "NULL"}
        params = ctx.params("smelt_qlowbit_conv_params", {"q": q, **self.wparams(node, g, ctx)})
        ctx.call(f"smelt_qlowbit_{self.kind}_i8", ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[1]),
                 ctx.array("int32_t", p["bias"]), ctx.ptr(node.outputs[0]), params)


@register
class QConv2DLowBit(_LowBitConv):
    pass


@register
class QDepthwiseConv2DLowBit(_LowBitConv):
    base = "QDepthwiseConv2D"
    kind = "depthwise"


@register
class QFullyConnectedLowBit(_LowBit):
    base = "QFullyConnected"

    def emit(self, node, g, ctx):
        n, view = self.decoded(node, g)
        p = registry.get(self.base).prepare(n, view)
        x, w = g[node.inputs[0]], node.attrs["w_shape"]
        lo, hi = p["act"]
        q = {"batches": x.size // w[1], "in_depth": w[1], "out_depth": w[0],
             "output_offset": p["out_off"], "act_min": lo, "act_max": hi,
             "multiplier": ctx.array("int32_t", p["multiplier"]), "shift": ctx.array("int32_t", p["shift"]),
             "per_channel": int(np.size(p["multiplier"]) > 1), "wide": 0}
        params = ctx.params("smelt_qlowbit_fc_params", {"q": q, **self.wparams(node, g, ctx)})
        ctx.call("smelt_qlowbit_fc_i8", ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[1]),
                 ctx.array("int32_t", p["bias"]), ctx.ptr(node.outputs[0]), params)
