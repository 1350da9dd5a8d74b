"""Resize (opset 10..19) and Upsample (7, 9): nearest (any element type, every nearest_mode) and
linear (float32, any number of axes), every coordinate_transformation_mode. Nearest is an
index-table copy (smelt_gather); linear runs one 1-D pass per resized axis (ops/resize.c).
Cubic, and antialias when downsampling, are not supported."""
from __future__ import annotations

import math

import numpy as np

from ..registry import Example, Op, Rand, register
from .gather import emit_gather, strides

COORD_MODES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
               "asymmetric", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple")
F32 = np.float32


def source_coords(a: dict, d: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """(input coordinate of each output index along dim d, mask of those outside the roi)."""
    n_out, scale, mode = a["shape"][d], a["scales"][d], a["coord"]
    width = scale * n_in            # the spec's (fractional) output length
    j = np.arange(n_out, dtype=np.float64)
    outside = np.zeros(n_out, bool)
    if mode == "align_corners":
        x = np.zeros(n_out) if width == 1 else j * (n_in - 1) / (width - 1)
    elif mode == "asymmetric":
        x = j / scale
    elif mode == "pytorch_half_pixel":
        x = np.full(n_out, -0.5) if width == 1 else (j + 0.5) / scale - 0.5
    elif mode == "half_pixel_symmetric":
        offset = n_in / 2 * (1 - n_out / width)
        x = offset + (j + 0.5) / scale - 0.5
    elif mode == "tf_crop_and_resize":
        start, end = a["roi"][d], a["roi"][len(a["shape"]) + d]
        x = np.full(n_out, (end - start) * (n_in - 1) / 2) if width == 1 else \
            j * (end - start) * (n_in - 1) / (width - 1)
        x = x + start * (n_in - 1)
        outside = (x < 0) | (x > n_in - 1)
    else:
        x = (j + 0.5) / scale - 0.5
    return x, outside


def nearest_table(a: dict, d: int, n_in: int) -> np.ndarray:
    """Input index for each output index along dim d; -1 outside the roi."""
    x, outside = source_coords(a, d, n_in)
    mode = a["nearest_mode"]
    if mode == "simple":    # Upsample and Resize-10, as onnxruntime: ceil when downsampling
        mode = "ceil" if a["scales"][d] < 1 else "floor"
    i = {"round_prefer_floor": np.ceil(x - 0.5), "round_prefer_ceil": np.floor(x + 0.5),
         "floor": np.floor(x), "ceil": np.ceil(x)}[mode]
    return np.where(outside, -1, np.clip(i, 0, n_in - 1)).astype(np.int64)


def linear_table(a: dict, d: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, w): output index k blends input i0[k] and i1[k] with weight w[k] on i1;
    i0 is -1 outside the roi."""
    x, outside = source_coords(a, d, n_in)
    x0 = np.floor(x)
    w = x - x0
    i0 = np.clip(x0, 0, n_in - 1).astype(np.int64)
    i1 = np.clip(x0 + 1, 0, n_in - 1).astype(np.int64)
    return np.where(outside, -1, i0), i1, np.where(outside, 0.0, w)


def is_identity(a: dict, d: int, n_in: int) -> bool:
    if a["shape"][d] != n_in:
        return False
    if a["mode"] == "nearest":
        return np.array_equal(nearest_table(a, d, n_in), np.arange(n_in))
    i0, _, w = linear_table(a, d, n_in)
    return np.array_equal(i0, np.arange(n_in)) and not w.any()


@register
class Resize(Op):
    """Canonical attrs: mode (nearest / linear), coord (coordinate_transformation_mode),
    nearest_mode (or "simple": floor, or ceil when downsampling), scales and shape (per dim),
    roi (2 x rank, tf_crop_and_resize only), extrapolation_value."""
    kernel = "resize"

    def from_onnx(self, node, g, opset):
        shape = g[node.inputs[0]].shape
        rank = len(shape)
        at = node.attrs
        mode = at.get("mode", "nearest")
        if mode not in ("nearest", "linear"):
            raise self.unsupported(node, f"mode {mode!r} (supported: nearest, linear)")
        if 0 in shape:
            raise self.unsupported(node, f"empty input {shape}")
        if opset < 11:
            scales, sizes, roi = self.const(node, g, 1), None, None
            coord, nearest = "asymmetric", "simple"
        else:
            roi, scales, sizes = (self.const(node, g, i) for i in (1, 2, 3))
            coord = at.get("coordinate_transformation_mode", "half_pixel")
            nearest = at.get("nearest_mode", "round_prefer_floor")
        if coord not in COORD_MODES or nearest not in NEAREST_MODES:
            raise self.unsupported(node, f"coordinate_transformation_mode {coord!r}, nearest_mode {nearest!r}")
        axes = [a + rank if a < 0 else a for a in at.get("axes", range(rank))]
        policy = at.get("keep_aspect_ratio_policy", "stretch")
        given = scales if scales is not None and scales.size else sizes
        if given is None or given.size != len(axes):
            raise self.unsupported(node, f"scales / sizes {given} for axes {axes}")
        if scales is not None and scales.size:
            full = [1.0] * rank
            for a, s in zip(axes, scales.tolist()):
                full[a] = float(s)
            out = [int(F32(n) * F32(s)) for n, s in zip(shape, full)]   # in float32, as onnxruntime
        else:
            out = list(shape)
            for a, s in zip(axes, sizes.tolist()):
                out[a] = int(s)
            full = [o / n for o, n in zip(out, shape)]
            if policy != "stretch":
                pick = min if policy == "not_larger" else max
                s = pick(full[a] for a in axes)
                full = [s if i in axes else 1.0 for i in range(rank)]
                out = [int(s * n + 0.5) if i in axes else n for i, n in enumerate(shape)]
        if at.get("antialias", 0) and min(full) < 1:
            raise self.unsupported(node, "antialias when downsampling")
        if coord == "tf_crop_and_resize":
            if roi is None or roi.size != 2 * len(axes):
                raise self.unsupported(node, f"tf_crop_and_resize with roi {roi}")
            full_roi = [0.0] * rank + [1.0] * rank
            for k, a in enumerate(axes):
                full_roi[a], full_roi[rank + a] = float(roi[k]), float(roi[len(axes) + k])
            roi = full_roi
        node.attrs = {"mode": mode, "coord": coord, "nearest_mode": nearest, "scales": full,
                      "shape": tuple(out), "roi": roi if coord == "tf_crop_and_resize" else None,
                      "extrapolation_value": float(at.get("extrapolation_value", 0.0))}
        node.inputs = node.inputs[:1]
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        if node.attrs["mode"] == "linear":
            self.check_dtype(node, x.dtype, ("float32",))
        if min(node.attrs["shape"], default=1) <= 0:
            raise self.unsupported(node, f"empty resize {x.shape} -> {node.attrs['shape']}")
        return [(node.attrs["shape"], x.dtype)]

    def reference(self, node, g, xs):
        a, y = node.attrs, xs[0]
        for d, n in enumerate(xs[0].shape):
            if is_identity(a, d, n):
                continue
            shape = [1] * y.ndim
            shape[d] = -1
            if a["mode"] == "nearest":
                idx = nearest_table(a, d, n)
                fill = (idx < 0).reshape(shape)
                y = np.where(fill, np.asarray(a["extrapolation_value"]).astype(y.dtype),
                             np.take(y, np.maximum(idx, 0), axis=d))
            else:
                i0, i1, w = linear_table(a, d, n)
                y0, y1 = np.take(y, np.maximum(i0, 0), axis=d), np.take(y, i1, axis=d)
                y = np.where((i0 < 0).reshape(shape), a["extrapolation_value"],
                             y0 + w.reshape(shape) * (y1 - y0.astype(np.float64)))
        return [y.astype(xs[0].dtype)]

    def passes(self, node, g) -> list[int]:
        """The dims a linear resize interpolates: shrinking ones first (smaller intermediates),
        then inner ones first (their pass moves single elements, the others whole rows)."""
        shape = g[node.inputs[0]].shape
        dims = [d for d, n in enumerate(shape) if not is_identity(node.attrs, d, n)]
        return sorted(dims, key=lambda d: (node.attrs["shape"][d] / shape[d], -d))

    def intermediates(self, node, g) -> list[tuple[int, ...]]:
        """Shapes after each linear pass but the last."""
        shape, out = list(g[node.inputs[0]].shape), []
        for d in self.passes(node, g)[:-1]:
            shape[d] = node.attrs["shape"][d]
            out.append(tuple(shape))
        return out

    def scratch(self, node, g):
        if node.attrs["mode"] != "linear":
            return 0
        shapes = self.intermediates(node, g)
        # ping-pong between two buffers when there are more than two passes
        return min(len(shapes), 2) * max((math.prod(s) for s in shapes), default=0) * 4

    def emit(self, node, g, ctx):
        x, y = node.inputs[0], node.outputs[0]
        a = node.attrs
        shape = g[x].shape
        if a["mode"] == "nearest":
            ctx.use("gather")
            st = strides(shape)
            dims = []
            for d, n in enumerate(shape):
                idx = nearest_table(a, d, n)
                dims.append((len(idx), np.where(idx < 0, -1, idx * st[d])))
            crop = a["coord"] == "tf_crop_and_resize"
            emit_gather(self, node, g, ctx, dims, fill=a["extrapolation_value"] if crop else None)
            return
        passes = self.passes(node, g)
        if not passes:
            ctx.copy(ctx.ptr(y), ctx.ptr(x), g[y].nbytes)
            return
        buf = max(math.prod(s) for s in self.intermediates(node, g)) if len(passes) > 1 else 0
        src, cur = ctx.ptr(x), list(shape)
        for k, d in enumerate(passes):
            dst = ctx.ptr(y) if k == len(passes) - 1 else f"({ctx.scratch('float')} + {buf * (k % 2)})"
            i0, i1, w = linear_table(a, d, cur[d])
            ctx.call("smelt_resize_linear_f32", src, dst, ctx.params("smelt_resize_params", {
                "outer": math.prod(cur[:d]), "in_len": cur[d], "out_len": a["shape"][d],
                "inner": math.prod(cur[d + 1:]), "i0": ctx.array("int32_t", i0), "i1": ctx.array("int32_t", i1),
                "w": ctx.array("float", w.astype(F32)), "fill": a["extrapolation_value"]}))
            cur[d] = a["shape"][d]
            src = dst

    examples = [
        Example([Rand((1, 2, 3, 4)), None, np.array([1, 1, 2, 2], F32)], opset=13, name="nearest_2x"),
        Example([Rand((1, 2, 3, 4)), np.zeros(0, F32), np.zeros(0, F32), np.array([1, 2, 5, 7], np.int64)],
                {"mode": "linear"}, opset=11, name="bilinear_sizes"),
        Example([Rand((1, 2, 3, 4)), None, np.array([1, 1, 2, 1.5], F32)],
                {"mode": "linear", "coordinate_transformation_mode": "align_corners"}, opset=13,
                name="linear_align_corners"),
        Example([Rand((1, 1, 6, 8), "uint8", 0, 255), None, np.array([1, 1, 0.5, 0.75], F32)],
                {"coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}, opset=13,
                name="nearest_down_asymmetric_floor_u8"),
        Example([Rand((2, 3, 5)), None, None, np.array([2, 3, 1], np.int64)],
                {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, opset=13,
                name="pytorch_half_pixel_1d_to_1"),
        Example([Rand((1, 1, 4, 5), "int8", -99, 99), None, None, np.array([1, 1, 7, 9], np.int64)],
                {"nearest_mode": "round_prefer_ceil"}, opset=13, name="nearest_round_prefer_ceil_i8"),
        Example([Rand((1, 1, 4, 5), "int32", -99, 99), None, None, np.array([1, 1, 7, 3], np.int64)],
                {"nearest_mode": "ceil", "coordinate_transformation_mode": "align_corners"}, opset=13,
                name="nearest_ceil_align_corners_i32"),
        Example([Rand((1, 2, 4, 6)), None, None, np.array([8, 8], np.int64)],
                {"mode": "linear", "axes": [2, 3], "keep_aspect_ratio_policy": "not_larger"}, opset=18,
                name="axes_not_larger"),
        Example([Rand((1, 2, 4, 6)), None, None, np.array([3, 9], np.int64)],
                {"axes": [3, 2], "keep_aspect_ratio_policy": "not_smaller"}, opset=18,
                name="axes_not_smaller_nearest"),
        Example([Rand((1, 1, 4, 5)), None, np.array([1, 1, 1.7, 0.6], F32)],
                {"mode": "linear", "coordinate_transformation_mode": "half_pixel_symmetric"}, opset=19,
                name="half_pixel_symmetric"),
        Example([Rand((1, 1, 5, 6)), np.array([1, 1, 0.6, 2.5], F32)], {"mode": "nearest"}, opset=10,
                name="opset10_nearest_simple"),
        Example([Rand((1, 1, 5, 6)), np.array([1, 1, 0.6, 2.5], F32)], {"mode": "linear"}, opset=10,
                name="opset10_linear"),
        Example([Rand((1, 1, 4, 5)), np.array([0, 0, 0.2, -0.3, 1, 1, 1.1, 0.9], F32), None,
                 np.array([1, 1, 3, 4], np.int64)],
                {"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize",
                 "extrapolation_value": 7.0}, opset=13, name="tf_crop_and_resize_linear"),
        Example([Rand((1, 1, 4, 5)), np.array([0, 0, 0.2, -0.3, 1, 1, 1.1, 0.9], F32), None,
                 np.array([1, 1, 3, 4], np.int64)],
                {"coordinate_transformation_mode": "tf_crop_and_resize", "extrapolation_value": -1.0},
                opset=13, name="tf_crop_and_resize_nearest"),
        Example([Rand((1, 2, 3, 4, 5)), None, np.array([1, 1, 2, 0.5, 1.4], F32)], {"mode": "linear"},
                opset=13, name="trilinear_three_passes"),
        Example([Rand((2, 3)), None, np.array([1, 1], F32)], {"mode": "linear"}, opset=13, name="identity"),
    ]


@register
class Upsample(Resize):
    """Upsample-7 (scales attribute) and -9 (scales input): Resize-10 semantics."""

    def from_onnx(self, node, g, opset):
        if opset < 9:
            node.inputs.append(g.add_const(f"{node.name}_scales", np.asarray(node.attrs.pop("scales"), F32)).name)
        return super().from_onnx(node, g, 10)

    examples = [
        Example([Rand((1, 2, 3, 4))], {"scales": [1.0, 1.0, 2.0, 3.0]}, opset=7, name="nearest_attr"),
        Example([Rand((1, 2, 3, 4)), np.array([1, 1, 1.5, 2.5], F32)], {"mode": "linear"}, opset=9,
                name="linear_input"),
        Example([Rand((2, 3), "int8", -99, 99), np.array([2, 2], F32)], {"mode": "nearest"}, opset=9,
                name="nearest_i8"),
    ]
