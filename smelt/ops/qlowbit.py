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

The C kernels (qlowbit.c) read, for bits 1, 2, 4 and 8, a faster layout written at emit time
(`fast_layout`): rows (an output channel; a depthwise tap) start on a word boundary, so they can be
a little larger than the IR's stream (the report and the flash count the bytes emitted), and each
32-bit word holds its codes so that a shift and a mask yield four weights SXTB16/SMLAD can use.
Other widths (palettes of 5..8 or 17..128 entries) keep the stream, decoded one weight at a time.
"""
from __future__ import annotations

import numpy as np

from .. import quant, registry
from ..ir import Tensor
from ..registry import register
from .qbase import EncodedWeightsOp
from .qconv import conv_fields
from .qfc import fc_fields

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


STREAM, SIGNED, LOOKUP = 0, 1, 2      # qlowbit.c's SMELT_LB_* layouts


def rows_layout(fields: np.ndarray, bits: int) -> np.ndarray:
    """Rows [R, n] of bits-bit fields -> [R, row bytes] uint8 in qlowbit.c's fast layout: words of
    G = 32 / bits fields, byte j of a word holding at bits [f * bits, (f + 1) * bits) the field of
    weight 4 f + j; a last partial word keeps only the bytes it uses (min(4, n % G))."""
    per = 8 // bits
    r, n = fields.shape
    words = -(-n // (4 * per))
    c = np.zeros((r, words * 4 * per), np.int64)
    c[:, :n] = fields
    c = c.reshape(r, words, per, 4) << (bits * np.arange(per))[None, None, :, None]
    return c.sum(axis=2).astype(np.uint8).reshape(r, words * 4)[:, :row_bytes(n, bits)]


def row_bytes(n: int, bits: int) -> int:
    """Bytes of a fast-layout row of n weights."""
    g = 32 // bits
    return 4 * (n // g) + min(4, n % g)


def pair_rows(rows: np.ndarray) -> np.ndarray:
    """Fast-layout rows [R, row bytes] as channel-pair blocks for qlowbit.c's smelt_lb_mm2_k: the
    two rows' whole words interleaved, then their partial last words; an odd R gets a zero row."""
    r, rb = rows.shape
    if r % 2:
        rows = np.concatenate([rows, np.zeros((1, rb), np.uint8)])
    whole = rb // 4 * 4
    pairs = rows.reshape(-1, 2, rb)
    words = pairs[:, :, :whole].reshape(len(pairs), 2, -1, 4).transpose(0, 2, 1, 3).reshape(len(pairs), -1)
    return np.concatenate([words, pairs[:, 0, whole:], pairs[:, 1, whole:]], axis=1)


def fast_layout(codes: np.ndarray, codebook: np.ndarray, bits: int):
    """(mode, mul, off, packed rows [R, row bytes]) of code rows [R, n] for qlowbit.c, or None
    (keep the stream). SIGNED stores each weight as mul * t + off with t a bits-bit two's
    complement field (int4, ternary: t = the weight; two-entry codebooks {a, b}: t = 0 or -1);
    LOOKUP stores the code itself (other palettes of 2 or 4 bits)."""
    if bits not in (1, 2, 4, 8):
        return None
    cb = np.asarray(codebook, np.int64)
    m = (1 << bits) - 1
    if bits == 1:
        a = int(cb[0])
        b = int(cb[1]) if cb.size > 1 else a
        return SIGNED, a - b, a, rows_layout(codes, 1)
    if cb.min() >= -(1 << (bits - 1)) and cb.max() < 1 << (bits - 1):
        return SIGNED, 1, 0, rows_layout(cb[codes] & m, bits)
    if bits == 8:
        return None
    return LOOKUP, 1, 0, rows_layout(codes, bits)


class _LowBit(EncodedWeightsOp):
    kernel = ("qfixed", "qconv", "qfc", "qlowbit")

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

    def dense_weights(self, node, g):
        w, cb = g[node.inputs[1]], g[node.inputs[3]]
        if w.data is None or cb.data is None:
            return None
        return decode(w.data, node.attrs["bits"], cb.data, tuple(node.attrs["w_shape"]))

    def macs(self, node, g):
        return registry.get(self.base).macs(*self.decoded(node, g))

    def rows(self, node, codes: np.ndarray) -> np.ndarray:
        """The weight codes as kernel rows: an output channel's (conv, FC)."""
        return codes.reshape(node.attrs["w_shape"][0], -1)

    def blocks(self, rows: np.ndarray) -> np.ndarray:
        """The kernel's arrangement of the fast-layout rows: channel pairs (conv, FC)."""
        return pair_rows(rows)

    def layout(self, node, g):
        """fast_layout of this node's weights (None: the stream)."""
        w, cb = g[node.inputs[1]], g[node.inputs[3]]
        bits, shape = node.attrs["bits"], tuple(node.attrs["w_shape"])
        if w.data is None or cb.data is None:
            return None
        codes = unpack_codes(w.data, bits, int(np.prod(shape))).reshape(shape)
        rows = self.rows(node, codes)
        if rows.shape[1] >= 1 << 17:   # SIGNED sums 2^(8 - bits) t x in int32
            return None
        lay = fast_layout(rows, cb.data, bits)
        return None if lay is None else (*lay[:3], self.blocks(lay[3]), lay[3].shape[1])

    def wparams(self, node, g, ctx, lay) -> tuple[str, dict]:
        """(the weights' C symbol, the low-bit fields of the params)."""
        fields = {"bits": node.attrs["bits"], "codebook": ctx.ptr(node.inputs[3])}
        if lay is None:
            return ctx.ptr(node.inputs[1]), {**fields, "mode": STREAM, "mul": 0, "off": 0, "row_bytes": 0}
        mode, mul, off, data, rb = lay
        w = g[node.inputs[1]]
        sym = ctx.weight(Tensor(w.name + "_rows", (data.size,), "uint8", data.reshape(-1), w.quant))
        return sym, {**fields, "mode": mode, "mul": mul, "off": off, "row_bytes": rb}


class _LowBitConv(_LowBit):
    base = "QConv2D"
    kind = "conv2d"

    def fast(self, node, g):
        """The fast layout, for an ungrouped convolution (depthwise: always)."""
        if self.kind == "conv2d" and node.attrs["w_shape"][3] != g[node.inputs[0]].shape[3]:
            return None
        return self.layout(node, g)

    def direct(self, node, g) -> bool:
        """A 1x1 stride-1 convolution without padding: the fast kernel reads x itself."""
        x, y, w = g[node.inputs[0]], g[node.outputs[0]], node.attrs["w_shape"]
        return (tuple(w[1:3]) == (1, 1) and tuple(node.attrs["strides"]) == (1, 1)
                and not any(node.attrs["pads"][:2]) and tuple(y.shape[1:3]) == tuple(x.shape[1:3]))

    def scratch(self, node, g):
        if self.kind != "conv2d" or self.direct(node, g) or self.fast(node, g) is None:
            return 0
        w = node.attrs["w_shape"]
        return 2 * w[1] * w[2] * w[3]   # two pixels' im2col

    def emit(self, node, g, ctx):
        n, view = self.decoded(node, g)
        base = registry.get(self.base)
        p = base.prepare(n, view)
        lay = self.fast(node, g)
        wq = base.conv_weights(n, view)
        bias_full = "NULL"
        if lay is not None and self.kind == "conv2d" and p["in_off"]:
            bias_full = ctx.array("int32_t", quant.wrap32(p["bias"] + p["in_off"] * wq.sum(axis=1)))
        w = node.attrs["w_shape"]
        q = {**conv_fields(node, g, w[1], w[2], 1 if base.depthwise else w[3], p, p["multiplier"], p["shift"], ctx),
             "wide": 0, "bias_full": bias_full, "fast_rq": int(base.fast_rq(n, view, p, wq))}
        wsym, fields = self.wparams(node, g, ctx, lay)
        params = ctx.params("smelt_qlowbit_conv_params", {"q": q, **fields})
        args = [ctx.ptr(node.inputs[0]), wsym, ctx.array("int32_t", p["bias"]), ctx.ptr(node.outputs[0])]
        if self.kind == "conv2d":
            args.append(ctx.scratch("int8_t") if self.scratch(node, g) else "NULL")
        ctx.call(f"smelt_qlowbit_{self.kind}_i8", *args, params)


@register
class QConv2DLowBit(_LowBitConv):
    pass


@register
class QDepthwiseConv2DLowBit(_LowBitConv):
    base = "QDepthwiseConv2D"
    kind = "depthwise"

    def rows(self, node, codes):
        return codes.reshape(-1, node.attrs["w_shape"][3])   # 1HWO: a tap's output channels

    def blocks(self, rows):
        return rows


@register
class QFullyConnectedLowBit(_LowBit):
    base = "QFullyConnected"

    def emit(self, node, g, ctx):
        n, view = self.decoded(node, g)
        p = registry.get(self.base).prepare(n, view)
        x, w = g[node.inputs[0]], node.attrs["w_shape"]
        q = {**fc_fields(x.size // w[1], w[1], w[0], p, p["multiplier"], p["shift"], ctx), "wide": 0}
        wsym, fields = self.wparams(node, g, ctx, self.layout(node, g))
        params = ctx.params("smelt_qlowbit_fc_params", {"q": q, **fields})
        ctx.call("smelt_qlowbit_fc_i8", ctx.ptr(node.inputs[0]), wsym,
                 ctx.array("int32_t", p["bias"]), ctx.ptr(node.outputs[0]), params)
