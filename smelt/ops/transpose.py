"""Transpose, any rank and element type. Size-1 dims are dropped and input dims that stay
adjacent are merged first: what is left of 2-D and NCHW <-> NHWC is a (batched) 2-D transpose,
done in tiles; any other permutation is a strided copy (smelt_gather)."""
from __future__ import annotations

import math

import numpy as np

from ..registry import Example, Op, Rand, register
from .gather import emit_gather, strides


def reduce_perm(shape, perm) -> tuple[list[int], list[int]]:
    """(input shape, perm) of the same transpose with size-1 dims dropped and every run of input
    dims that stays in order in the output merged into one."""
    keep = [i for i, d in enumerate(shape) if d != 1]
    rank_of = {d: k for k, d in enumerate(keep)}
    groups: list[list[int]] = []        # kept input dims, grouped, in output order
    for k in (rank_of[i] for i in perm if shape[i] != 1):
        if groups and groups[-1][-1] + 1 == k:
            groups[-1].append(k)
        else:
            groups.append([k])
    order = sorted(range(len(groups)), key=lambda j: groups[j][0])
    in_shape = [math.prod(shape[keep[k]] for k in groups[j]) for j in order]
    return in_shape, [order.index(j) for j in range(len(groups))]


@register
class Transpose(Op):
    """Canonical attrs: perm (a full permutation)."""
    kernel = "transpose"

    def from_onnx(self, node, g, opset):
        rank = len(g[node.inputs[0]].shape)
        perm = [int(p) for p in node.attrs.get("perm", range(rank - 1, -1, -1))]
        if sorted(perm) != list(range(rank)):
            raise self.unsupported(node, f"perm {perm} is not a permutation of {rank} dims")
        node.attrs = {"perm": perm}
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        return [(tuple(x.shape[p] for p in node.attrs["perm"]), x.dtype)]

    def reference(self, node, g, xs):
        return [np.transpose(xs[0], node.attrs["perm"])]

    def emit(self, node, g, ctx):
        x, y = node.inputs[0], node.outputs[0]
        shape, perm = reduce_perm(g[x].shape, node.attrs["perm"])
        if perm in ([1, 0], [0, 2, 1]):
            batch, rows, cols = ([1] + shape)[-3:]
            ctx.call("smelt_transpose", ctx.ptr(y), ctx.ptr(x), ctx.params("smelt_transpose_params", {
                "batch": batch, "rows": rows, "cols": cols, "elem": g[x].itemsize}))
            return
        ctx.use("gather")
        st = strides(shape)
        emit_gather(self, node, g, ctx, [(shape[p], st[p]) for p in perm])

    examples = [
        Example([Rand((5, 19))]),
        Example([Rand((2, 3, 9, 10))], {"perm": [0, 2, 3, 1]}, name="nchw_to_nhwc"),
        Example([Rand((1, 9, 10, 3), "uint8", 0, 255)], {"perm": [0, 3, 1, 2]}, name="nhwc_to_nchw_u8"),
        Example([Rand((2, 3, 4, 5), "int16", -99, 99)], name="default_reverse"),
        Example([Rand((3, 4, 2, 5))], {"perm": [1, 0, 2, 3]}, opset=13, name="channel_shuffle_runs"),
        Example([Rand((2, 3, 1, 4, 5), "float64")], {"perm": [3, 0, 4, 2, 1]}, name="5d_float64"),
        Example([Rand((4, 1, 6), "bool")], {"perm": [2, 1, 0]}, name="bool_size1"),
        Example([Rand((3, 4), "int64", -9, 9)], {"perm": [0, 1]}, name="identity_int64"),
        Example([Rand((2, 17, 3), "int8", -99, 99)], {"perm": [0, 2, 1]}, opset=21, name="batched_int8"),
    ]
