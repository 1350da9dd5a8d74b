"""QResizeNearest: TFLite RESIZE_NEAREST_NEIGHBOR (NHWC, any element type), bit-exact with
TFLM: each output row / column reads the input row / column TFLM's float32 index formula picks
(computed here at compile time); the copy is the index-mapped gather of ops/gather.c.
attrs: size (out_h, out_w), align_corners, half_pixel_centers.
"""
from __future__ import annotations

import math

import numpy as np

from ..registry import register
from .gather import emit_gather, strides
from .qbase import QOp


def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel: bool) -> np.ndarray:
    """TFLM GetNearestNeighbor for every output index, in float32 as TFLM computes it."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel else f32(0.0)
    out = []
    for v in range(out_size):
        pos = f32(f32(v) + offset) * scale
        idx = int(math.copysign(math.floor(abs(float(pos)) + 0.5), float(pos))) if align_corners \
            else int(math.floor(float(pos)))
        idx = min(idx, in_size - 1)
        out.append(max(idx, 0) if half_pixel else idx)
    return np.array(out, np.int64)


@register
class QResizeNearest(QOp):
    kernel = "gather"

    def infer(self, node, g):
        x = g[node.inputs[0]]
        if len(x.shape) != 4:
            raise self.unsupported(node, f"needs a 4-D NHWC input, got {list(x.shape)}")
        h, w = node.attrs["size"]
        return [((x.shape[0], h, w, x.shape[3]), x.dtype)]

    def tables(self, node, g):
        x = g[node.inputs[0]]
        h, w = node.attrs["size"]
        a, hp = bool(node.attrs.get("align_corners")), bool(node.attrs.get("half_pixel_centers"))
        return nearest_indices(x.shape[1], h, a, hp), nearest_indices(x.shape[2], w, a, hp)

    def reference(self, node, g, xs):
        rows, cols = self.tables(node, g)
        return [xs[0][:, rows][:, :, cols]]

    def emit(self, node, g, ctx):
        x = g[node.inputs[0]]
        rows, cols = self.tables(node, g)
        st = strides(x.shape)
        emit_gather(self, node, g, ctx, [(x.shape[0], st[0]), (len(rows), rows * st[1]),
                                         (len(cols), cols * st[2]), (x.shape[3], st[3])])
