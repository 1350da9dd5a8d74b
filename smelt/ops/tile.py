"""PlaceTile: write a tile into its box of a bigger tensor (any element type).

Internal op of patch-based inference (passes/patch.py): each patch's piece of the split layer's
output is placed into the full tensor. Inputs: acc (the full tensor so far, '' for the first tile)
and tile; output: acc with the tile written at attrs `starts` (one per dim); attrs `shape` is the
full shape. elementwise: the planner writes the output over acc when acc dies here, so the full
tensor is assembled in place and the kernel's copy of acc is skipped."""
from __future__ import annotations

import math

import numpy as np

from ..registry import Op, register


@register
class PlaceTile(Op):
    onnx = ()          # not an ONNX operator: created by passes/patch.py
    kernel = "tile"
    elementwise = True
    foldable = False

    def infer(self, node, g):
        tile = g[node.inputs[1]]
        shape, starts = tuple(node.attrs["shape"]), node.attrs["starts"]
        if len(shape) != len(tile.shape) or any(s < 0 or s + t > n for s, t, n in zip(starts, tile.shape, shape)):
            raise self.unsupported(node, f"tile {list(tile.shape)} at {list(starts)} is outside {list(shape)}")
        if node.inputs[0] and (g[node.inputs[0]].shape != shape or g[node.inputs[0]].dtype != tile.dtype):
            raise self.unsupported(node, f"acc {g[node.inputs[0]].shape} is not {shape} {tile.dtype}")
        return [(shape, tile.dtype)]

    def reference(self, node, g, xs):
        acc, tile = xs
        out = np.zeros(node.attrs["shape"], tile.dtype) if acc is None else acc.copy()
        out[tuple(slice(s, s + t) for s, t in zip(node.attrs["starts"], tile.shape))] = tile
        return [out]

    def emit(self, node, g, ctx):
        y, tile = g[node.outputs[0]], g[node.inputs[1]]
        full, box, starts = y.shape, tile.shape, node.attrs["starts"]
        # Rows: the last dim the tile does not span whole, with every dim after it whole.
        d = max((i for i in range(len(full)) if box[i] != full[i]), default=0)
        e = y.itemsize
        run = math.prod(box[d:]) * e
        inner = [math.prod(full[i + 1:]) * e for i in range(len(full))]   # byte strides
        # Groups: the dims before d - 1 merge into one step when, from the first of extent > 1 on,
        # every one is whole (NHWC: N; NCHW: N, C).
        wide = [i for i in range(d - 1) if box[i] > 1]
        if wide and any(box[i] != full[i] for i in range(wide[0], d - 1)):
            raise self.unsupported(node, f"tile {list(box)} of {list(full)} is not two-level strided")
        outer = math.prod(box[:d - 1]) if d >= 1 else 1
        ctx.call("smelt_place_tile", ctx.ptr(y.name), ctx.ptr(node.inputs[0]), ctx.ptr(tile.name),
                 ctx.params("smelt_place_tile_params", {
                     "total": y.nbytes, "offset": sum(s * st for s, st in zip(starts, inner)),
                     "outer": outer, "rows": box[d - 1] if d >= 1 else 1, "run": run,
                     "row_step": inner[d - 1] if d >= 1 else 0,
                     "outer_step": inner[d - 2] if d >= 2 else 0}))
