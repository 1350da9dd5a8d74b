"""Gather with indices known at compile time, and the index-mapped copy (ops/gather.c) that the
data-movement ops share: each describes its output as per-dimension source offsets."""
from __future__ import annotations

import numpy as np

from ..codegen import weights
from ..ir import C_TYPES
from ..registry import Example, Op, Rand, register

INT32_MAX = 2**31 - 1
MAX_RANK = 8   # SMELT_MAX_RANK in smelt_common.h


def strides(shape) -> list[int]:
    """Row-major strides in elements."""
    out, s = [], 1
    for d in reversed(shape):
        out.append(s)
        s *= d
    return out[::-1]


def fill_array(ctx, dtype: str, value) -> str:
    """A one-element C array holding value in the tensor's representation."""
    if dtype == "float16":
        return ctx.array("uint16_t", [int(np.float16(value).view(np.uint16))])
    return ctx.array(C_TYPES[dtype], [weights.literal(value, dtype)])


def emit_gather(op: Op, node, g, ctx, dims, base: int = 0, fill=None) -> None:
    """Copy node.inputs[0] into node.outputs[0] (row-major over `dims`), where dims is a list of
    (n, m): m an int step (affine: index i reads i * m) or an array of n offsets (-1: fill);
    offsets in elements of the input, plus `base`. `fill` is the value for -1 entries."""
    x, y = node.inputs[0], node.outputs[0]
    if g[y].size == 0:
        return
    dims, base = _simplify(dims, base)
    if len(dims) == 1 and not isinstance(dims[0][1], np.ndarray) and dims[0][1] == 1:
        ctx.copy(ctx.ptr(y), f"{ctx.ptr(x)} + {base}" if base else ctx.ptr(x), g[y].nbytes)
        return
    if len(dims) > MAX_RANK:
        raise op.unsupported(node, f"copy needs {len(dims)} dimensions (at most {MAX_RANK})")
    e = g[x].itemsize
    if g[x].nbytes > INT32_MAX:
        raise op.unsupported(node, "input larger than 2 GiB")
    lo = hi = 0
    n, last = dims[-1]
    if isinstance(last, np.ndarray):
        lo, hi = _longest_run(last)
    maps = ["NULL" if not isinstance(m, np.ndarray) else
            ctx.array("int32_t", np.where(m < 0, -1, m * e)) for _, m in dims]
    ctx.call("smelt_gather", ctx.ptr(y), ctx.ptr(x), ctx.params("smelt_gather_params", {
        "rank": len(dims), "elem": e, "base": base * e,
        "shape": [d for d, _ in dims],
        "step": [0 if isinstance(m, np.ndarray) else m * e for _, m in dims],
        "map": maps, "lo": lo, "hi": hi,
        "fill": "NULL" if fill is None else fill_array(ctx, g[x].dtype, fill)}))


def _simplify(dims, base):
    """Fewer dims: constant size-1 dims go into base, affine tables become steps, and adjacent
    affine dims that walk memory contiguously merge."""
    out = []
    for n, m in dims:
        if isinstance(m, np.ndarray):
            m = np.asarray(m, np.int64)
            diffs = np.diff(m)
            if m.min() >= 0 and (n == 1 or np.all(diffs == diffs[0])):
                base += int(m[0])
                m = int(diffs[0]) if n > 1 else 0
        if n == 1 and not isinstance(m, np.ndarray):
            continue
        if out and not isinstance(m, np.ndarray) and not isinstance(out[-1][1], np.ndarray) \
                and out[-1][1] == n * m:
            out[-1] = (out[-1][0] * n, m)
            continue
        out.append((n, m))
    return out or [(1, 1)], base


def _longest_run(t: np.ndarray) -> tuple[int, int]:
    """[lo, hi): the longest stretch of the table reading consecutive elements (0, 0 if none)."""
    best, start = (0, 0), 0
    for j in range(1, len(t) + 1):
        if j == len(t) or t[j] < 0 or t[j - 1] < 0 or t[j] != t[j - 1] + 1:
            if j - start > best[1] - best[0] and t[start] >= 0:
                best = (start, j)
            start = j
    return best if best[1] - best[0] > 1 else (0, 0)


@register
class Gather(Op):
    """Canonical attrs: axis (>= 0), indices (int64, non-negative; the input is dropped)."""
    kernel = "gather"

    def from_onnx(self, node, g, opset):
        shape = g[node.inputs[0]].shape
        axis = node.attrs.get("axis", 0)
        axis = axis + len(shape) if axis < 0 else axis
        idx = np.asarray(self.const(node, g, 1), np.int64)
        idx = np.where(idx < 0, idx + shape[axis], idx)
        if idx.size and (idx.min() < 0 or idx.max() >= shape[axis]):
            raise self.unsupported(node, f"indices out of range for dimension {shape[axis]}")
        node.attrs = {"axis": axis, "indices": idx}
        node.inputs = node.inputs[:1]
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        a, idx = node.attrs["axis"], node.attrs["indices"]
        return [(x.shape[:a] + idx.shape + x.shape[a + 1:], x.dtype)]

    def reference(self, node, g, xs):
        return [np.take(xs[0], node.attrs["indices"], axis=node.attrs["axis"])]

    def emit(self, node, g, ctx):
        shape = g[node.inputs[0]].shape
        a, idx = node.attrs["axis"], node.attrs["indices"].reshape(-1)
        st = strides(shape)
        dims = [(shape[i], st[i]) for i in range(a)] + [(idx.size, idx * st[a])]
        dims += [(shape[i], st[i]) for i in range(a + 1, len(shape))]
        emit_gather(self, node, g, ctx, dims)

    examples = [
        Example([Rand((5, 4, 3)), np.array([0, 3, 1], np.int64)]),
        Example([Rand((5, 4, 3)), np.array([[0, -1], [2, 2]], np.int64)], {"axis": 1}, name="2d_negative"),
        Example([Rand((5, 4, 6), "int64", -99, 99), np.array([5, 0, 1, 2], np.int32)], {"axis": -1},
                name="last_axis_int64"),
        Example([Rand((5, 4), "uint8", 0, 255), np.array(2, np.int64)], {"axis": 1}, name="scalar_index"),
        Example([Rand((6, 3), "bool"), np.array([1, 2, 3], np.int64)], opset=11, name="affine_bool"),
        Example([Rand((3, 2, 4, 2), "float64"), np.array([[3], [1]], np.int64)], {"axis": 2}, opset=13,
                name="float64"),
        Example([Rand((4, 8), "int16", -99, 99), np.array([3, 3, 0], np.int64)], name="int16_repeat"),
    ]
