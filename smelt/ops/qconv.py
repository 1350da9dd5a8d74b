"""QConv2D and QDepthwiseConv2D: TFLite CONV_2D / DEPTHWISE_CONV_2D on int8 and 16x8, NHWC,
bit-exact with TFLM's reference kernels (per-channel or per-tensor weights).

Inputs x [N, H, W, C], weights OHWI (conv; I may be C / groups) or 1HWO (depthwise, O = C * M),
bias [O] (int32; 16x8: int64, or int32 for conv). attrs: strides (h, w), dilations (h, w),
pads (top, left, bottom, right), activation (fused: the clamp range), depth_multiplier (depthwise).
Only in-image taps are summed, as in TFLM (implicit zero padding of x + input_offset).
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..ir import Tensor
from ..registry import register
from .qbase import QOp, act_range, wide_multipliers, window_out


class _QConvBase(QOp):
    kernel = ("qfixed", "qconv")
    depthwise = False

    def infer(self, node, g):
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        self.check_dtype(node, x.dtype, ("int8", "int16"))
        self.check_dtype(node, w.dtype, ("int8",))
        if len(x.shape) != 4 or len(w.shape) != 4:
            raise self.unsupported(node, f"needs 4-D NHWC input and weights, got {list(x.shape)}, {list(w.shape)}")
        b = self._bias(node, g)
        if b is not None:
            allowed = ("int32",) if x.dtype == "int8" else (("int64",) if self.depthwise else ("int32", "int64"))
            self.check_dtype(node, b.dtype, allowed)
        out_c = w.shape[3] if self.depthwise else w.shape[0]
        if self.depthwise:
            if w.shape[0] != 1 or out_c != x.shape[3] * node.attrs["depth_multiplier"]:
                raise self.unsupported(node, f"depthwise weights {list(w.shape)} do not match input {list(x.shape)}")
        elif x.shape[3] % w.shape[3] or out_c % (x.shape[3] // w.shape[3]):
            raise self.unsupported(node, f"weights {list(w.shape)} do not match input {list(x.shape)}")
        (sh, sw), (dh, dw) = node.attrs["strides"], node.attrs.get("dilations", (1, 1))
        top, left, bottom, right = node.attrs["pads"]
        oh = window_out(x.shape[1], w.shape[1], sh, dh, top, bottom)
        ow = window_out(x.shape[2], w.shape[2], sw, dw, left, right)
        return [((x.shape[0], oh, ow, out_c), x.dtype)]

    @staticmethod
    def _bias(node, g):
        return g[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None

    def out_channels(self, node, g) -> int:
        w = g[node.inputs[1]]
        return w.shape[3] if self.depthwise else w.shape[0]

    def prepare(self, node, g) -> dict:
        self.quantized(node, g, 0, 1)
        self.out_quant(node, g)
        x, w, y = g[node.inputs[0]], g[node.inputs[1]], g[node.outputs[0]]
        oc = self.out_channels(node, g)
        if np.any(w.quant.zero_point != 0):
            raise self.unsupported(node, "asymmetric (non-zero zero point) weights")
        if w.quant.per_channel and w.quant.scale.size != oc:
            raise self.unsupported(node, f"{w.quant.scale.size} weight scales for {oc} output channels")
        m, s = quant.conv_multipliers(quant.scale(x), quant.scales(w), quant.scale(y), oc)
        b = self._bias(node, g)
        bias = (np.zeros(oc, np.int64) if b is None
                else self.const_input(node, g, 2, "bias").astype(np.int64).reshape(oc))
        # TFLM: 16x8 depthwise always accumulates in 64 bits; conv only with an int64 bias.
        wide = x.dtype == "int16" and (self.depthwise or (b is not None and b.dtype == "int64"))
        lo, hi = act_range(node, g)
        int8 = x.dtype == "int8"
        return {"multiplier": m, "shift": s, "bias": bias, "wide": wide, "act": (lo, hi),
                "in_off": -quant.zero_point(x) if int8 else 0, "out_off": quant.zero_point(y) if int8 else 0}

    def reference(self, node, g, xs):
        p = self.prepare(node, g)
        y = g[node.outputs[0]]
        x = xs[0].astype(np.int64) + p["in_off"]
        w = xs[1].astype(np.int64)
        (sh, sw), (dh, dw) = node.attrs["strides"], node.attrs.get("dilations", (1, 1))
        top, left = node.attrs["pads"][:2]
        n, h, wd, c = x.shape
        kh, kw = w.shape[1], w.shape[2]
        _, oh, ow, oc = y.shape
        # Zero-pad (x + offset) so that out-of-image taps add nothing, as TFLM skips them.
        ph = max((oh - 1) * sh + (kh - 1) * dh + 1 - top - h, 0)
        pw = max((ow - 1) * sw + (kw - 1) * dw + 1 - left - wd, 0)
        xp = np.pad(x, ((0, 0), (top, ph), (left, pw), (0, 0)))
        acc = np.zeros((n, oh, ow, oc), np.int64)
        for ky in range(kh):
            for kx in range(kw):
                patch = xp[:, ky * dh: ky * dh + (oh - 1) * sh + 1: sh, kx * dw: kx * dw + (ow - 1) * sw + 1: sw, :]
                if self.depthwise:
                    m = node.attrs["depth_multiplier"]
                    acc += np.repeat(patch, m, axis=3) * w[0, ky, kx, :]
                else:
                    groups = c // w.shape[3]
                    per = oc // groups
                    for gi in range(groups):
                        xs_g = patch[..., gi * w.shape[3]:(gi + 1) * w.shape[3]]
                        acc[..., gi * per:(gi + 1) * per] += xs_g @ w[gi * per:(gi + 1) * per, ky, kx, :].T
        acc = acc + p["bias"]
        if p["wide"]:
            out = quant.multiply_by_quantized_multiplier_64(acc, p["multiplier"], p["shift"])
        else:
            out = quant.multiply_by_quantized_multiplier(quant.wrap32(acc), p["multiplier"], p["shift"])
        lo, hi = p["act"]
        return [quant.clamp(out + p["out_off"], lo, hi).astype(y.dtype)]

    def emit(self, node, g, ctx):
        p = self.prepare(node, g)
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        m, s = wide_multipliers(p["multiplier"], p["shift"]) if p["wide"] else (p["multiplier"], p["shift"])
        as_conv = self.depthwise_as_conv(node, g)
        k_w = self.as_conv_weights(w.data).shape[2] if as_conv else w.shape[2]
        params = ctx.params("smelt_qconv_params", {
            **conv_fields(node, g, w.shape[1], k_w, 1 if self.depthwise else w.shape[3], p, m, s, ctx),
            "wide": int(p["wide"]), "bias_full": self.bias_full(node, g, p, ctx),
            "fast_rq": int(self.fast_rq(node, g, p, self.conv_weights(node, g)))})
        int8 = x.dtype == "int8"
        bias = ctx.array("int32_t" if int8 else "int64_t", p["bias"])
        if as_conv:   # the same numbers in OHWI order: a one-channel convolution
            wt = self.as_conv_weights(w.data)
            wptr = ctx.weight(Tensor(f"{w.name}_ohwi", wt.shape, w.dtype, wt, w.quant))
        else:
            wptr = ctx.ptr(node.inputs[1])
        args = [ctx.ptr(node.inputs[0]), wptr, bias, ctx.ptr(node.outputs[0])]
        if self.depthwise and not as_conv:   # one accumulator per output channel
            args.append(ctx.scratch("int32_t" if int8 else "int64_t"))
        elif int8:
            args.append(ctx.scratch("int8_t") if self.scratch(node, g) else "NULL")
        kind = "depthwise" if self.depthwise and not as_conv else "conv2d"
        suffix = "_d" if self.dsp_taken(node, g, p) else ""
        ctx.call(f"smelt_q{kind}_{'i8' if int8 else 'i16'}{suffix}", *args, params)

    def dsp_taken(self, node, g, p) -> bool:
        """Whether the DSP kernels take this int8 layer (the dispatch tests of smelt_qconv2d_i8 /
        smelt_qdepthwise_i8, decided here from the shapes): then it calls the *_d entry, which is
        the DSP kernel itself in DSP builds, so that the portable one is not linked in."""
        x, w, y = g[node.inputs[0]], g[node.inputs[1]], g[node.outputs[0]]
        if x.dtype != "int8" or not (w.data is not None or p["in_off"] == 0):
            return False
        if self.depthwise and not self.depthwise_as_conv(node, g):
            return node.attrs["depth_multiplier"] == 1 and x.shape[3] % 4 == 0
        if not self.depthwise and w.shape[3] != x.shape[3]:
            return False   # grouped
        if y.shape[1] * y.shape[2] < 2 or y.shape[3] < 2:
            return False
        direct = (not self.depthwise and w.shape[1:3] == (1, 1) and tuple(node.attrs["strides"]) == (1, 1)
                  and not any(node.attrs["pads"][:2]) and y.shape[1:3] == x.shape[1:3])
        return direct or bool(self.scratch(node, g))

    def depthwise_as_conv(self, node, g) -> bool:
        """An int8 depthwise convolution of a one-channel input (a first layer: person_detect,
        micro_speech) is a convolution with OHWI weights [C*M, H, W, 1]: it runs as one, so that
        the DSP matrix multiply takes it."""
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        return self.depthwise and x.dtype == "int8" and x.shape[3] == 1 and w.data is not None

    @staticmethod
    def as_conv_weights(w):
        """Depthwise [1, H, W, O] weights of a one-channel input as OHWI [O, H, W', 1], the width
        padded with zero weights to W' = a multiple of 4: each kernel row is then whole words for
        the DSP kernels (the extra taps add 0 in every kernel: they are clipped to the image like
        any tap, and out-of-image taps add nothing)."""
        wt = w.transpose(3, 1, 2, 0)
        pad = -wt.shape[2] % 4
        return np.ascontiguousarray(np.pad(wt, ((0, 0), (0, 0), (0, pad), (0, 0))))

    def conv_weights(self, node, g):
        """The constant weights as [out channels, taps] (None when not constant)."""
        w = g[node.inputs[1]]
        if w.data is None:
            return None
        wq = w.data.astype(np.int64)
        return wq.reshape(-1, wq.shape[3]).T if self.depthwise else wq.reshape(wq.shape[0], -1)

    def fast_rq(self, node, g, p, wq) -> bool:
        """Whether the DSP kernels may requantize with smelt_dsp_rq (exact when every accumulator
        has |acc| < 2^30 and every shift is negative): decided here from the weights, the bias
        and the widest input, |x + input_offset| <= max(|-128 + off|, |127 + off|)."""
        if wq is None or p["wide"] or g[node.inputs[0]].dtype != "int8":
            return False
        s = np.asarray(p["shift"])
        if np.any(s >= 0) or np.any(s < -31):
            return False
        off = p["in_off"]
        bound = np.abs(p["bias"]) + np.abs(wq).sum(axis=1) * max(abs(-128 + off), abs(127 + off))
        if not np.all(bound < (1 << 30)):
            return False
        # The kernels also fold the output offset into the rounding term, (2 off + 1) << (e - 1):
        # |rescaled| + |that| + 1 must stay in int32.
        e = -s.astype(np.int64)
        r = (bound * np.asarray(p["multiplier"], np.int64) >> 31) + 1
        return bool(np.all(r + (2 * abs(p["out_off"]) + 1) * (1 << (e - 1)) + 1 < (1 << 31)))

    def scratch(self, node, g):
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        if self.depthwise and not self.depthwise_as_conv(node, g):
            acc = self.out_channels(node, g) * (4 if x.dtype == "int8" else 8)
            c = x.shape[3]
            if x.dtype == "int8" and node.attrs["depth_multiplier"] == 1 and c % 4 == 0:
                # the DSP kernel's band of k_h input rows padded with the zero point
                # (smelt_qdepthwise_i8_dsp): one output row's windows
                ow, sw = g[node.outputs[0]].shape[2], node.attrs["strides"][1]
                dw = node.attrs.get("dilations", (1, 1))[1]
                return max(acc, w.shape[1] * ((ow - 1) * sw + (w.shape[2] - 1) * dw + 1) * c)
            return acc
        if x.dtype != "int8" or (not self.depthwise and w.shape[3] != x.shape[3]):
            return 0
        y = g[node.outputs[0]]
        if y.shape[1] * y.shape[2] < 2 or y.shape[3] < 2:
            return 0   # the DSP kernel needs two pixels and two channels; the portable one no scratch
        if (not self.depthwise and w.shape[1:3] == (1, 1) and tuple(node.attrs["strides"]) == (1, 1)
                and not any(node.attrs["pads"][:2]) and y.shape[1:3] == x.shape[1:3]):
            # 1x1: the DSP kernel reads x directly; for K % 8 == 0, K >= 16 it first widens two
            # pixels to int16 (2 x 2 K bytes), which saves 2 SXTB16 per 4 inputs and channel pair.
            k = w.shape[3]
            return 4 * k if k % 8 == 0 and k >= 16 else 0
        # The DSP matrix multiply (smelt_qconv2d_i8_dsp): two pixels' im2col, K bytes each.
        k = w.shape[1] * (w.shape[2] + (-w.shape[2] % 4) if self.depthwise else w.shape[2] * w.shape[3])
        return 2 * k

    def in_place_lead(self, node, g) -> int:
        """Bytes L such that the output may start L bytes before the input in memory (the two
        overlapping when L < output bytes), for the memory planner (TinyEngine's in-place
        depthwise, generalised). Every kernel of this op -- portable per pixel, DSP per pixel pair
        or per output row through its band -- reads all inputs of a step before it writes that
        step's outputs, and steps run in order. Time here is the pixel pair (two output pixels,
        the coarser of those steps; for an odd pixel count the last pair re-reads pixel P - 2's
        window); an output byte may overwrite an input byte only when every read of that byte
        happens in an earlier pair than the byte's first write, strictly, which also covers the
        portable kernels' per-channel-group writes and the 1x1 kernel reading x directly."""
        x, y = g[node.inputs[0]], g[node.outputs[0]]
        n, h, wd, c = x.shape
        _, oh, ow, oc = y.shape
        w = g[node.inputs[1]]
        (sh, sw), (dh, dw) = node.attrs["strides"], node.attrs.get("dilations", (1, 1))
        top, left = node.attrs["pads"][:2]

        def last_reader(size, out, k, stride, dil, before):
            """per input index along an axis: the last output index whose window reads it (-1: none)"""
            last = np.full(size, -1)
            o, t = np.meshgrid(np.arange(out), np.arange(k), indexing="ij")
            i = (o * stride - before + t * dil).ravel()
            inside = (i >= 0) & (i < size)
            np.maximum.at(last, i[inside], o.ravel()[inside])
            return last

        ry = last_reader(h, oh, w.shape[1], sh, dh, top)
        rx = last_reader(wd, ow, w.shape[2], sw, dw, left)
        P, T = oh * ow, (oh * ow + 1) // 2            # output pixels and pair steps per batch
        pix = ry[:, None] * ow + rx[None, :]
        read = np.where((ry[:, None] >= 0) & (rx[None, :] >= 0), pix // 2, -1)
        if P % 2:   # the last pair (P - 2, P - 1) re-reads pixel P - 2's window
            qy, qx = divmod(P - 2, ow)
            iy = qy * sh - top + np.arange(w.shape[1]) * dh
            ix = qx * sw - left + np.arange(w.shape[2]) * dw
            iy, ix = iy[(iy >= 0) & (iy < h)], ix[(ix >= 0) & (ix < wd)]
            read[np.ix_(iy, ix)] = T - 1
        read = (np.where(read >= 0, read + (np.arange(n) * T)[:, None, None], -1)).ravel()
        dead = np.maximum.accumulate(read)      # input pixels [0, F(t)) are read before step t
        written = np.repeat(np.arange(T), 2)[:P][None, :] + (np.arange(n) * T)[:, None]
        f = np.searchsorted(dead, written.ravel(), side="left")
        item = np.dtype(x.dtype).itemsize
        ends = (np.arange(n * P) + 1) * oc * item            # each output pixel's end, in bytes
        need = np.where(f < read.size, ends - f * c * item, 0)
        return int(max(need.max(initial=0), 0))

    def bias_full(self, node, g, p, ctx) -> str:
        """bias + input_offset * (sum of each output channel's weights), for int8 with constant
        weights: the kernel's offset-free path for windows inside the image (int32 arithmetic,
        so wrap-around included, it equals summing w * (x + offset))."""
        w = g[node.inputs[1]]
        if w.data is None or not p["in_off"]:
            return "NULL"
        wq = w.data.astype(np.int64)
        sums = wq.sum(axis=(0, 1, 2)) if self.depthwise else wq.sum(axis=(1, 2, 3))
        return ctx.array("int32_t", quant.wrap32(p["bias"] + p["in_off"] * sums))

    def macs(self, node, g):
        w = g[node.inputs[1]]
        per_out = w.shape[1] * w.shape[2] * (1 if self.depthwise else w.shape[3])
        return g[node.outputs[0]].size * per_out



def conv_fields(node, g, k_h: int, k_w: int, w_in_c: int, p: dict, multiplier, shift, ctx) -> dict:
    """The smelt_qconv_params fields every int8 convolution family shares (dense, low-bit, sparse):
    geometry from the NHWC tensors and attributes, offsets, clamp and requantization arrays."""
    x, y = g[node.inputs[0]], g[node.outputs[0]]
    (sh, sw), (dh, dw) = node.attrs["strides"], node.attrs.get("dilations", (1, 1))
    lo, hi = p["act"]
    return {"batches": x.shape[0], "in_h": x.shape[1], "in_w": x.shape[2], "in_c": x.shape[3],
            "out_h": y.shape[1], "out_w": y.shape[2], "out_c": y.shape[3],
            "k_h": k_h, "k_w": k_w, "w_in_c": w_in_c, "depth_multiplier": node.attrs.get("depth_multiplier", 1),
            "stride_h": sh, "stride_w": sw, "dil_h": dh, "dil_w": dw,
            "pad_top": node.attrs["pads"][0], "pad_left": node.attrs["pads"][1],
            "input_offset": p["in_off"], "output_offset": p["out_off"], "act_min": lo, "act_max": hi,
            "multiplier": ctx.array("int32_t", multiplier), "shift": ctx.array("int32_t", shift)}

@register
class QConv2D(_QConvBase):
    pass


@register
class QDepthwiseConv2D(_QConvBase):
    depthwise = True
