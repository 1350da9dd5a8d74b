"""Int8 convolution and fully connected layers with block-sparse weights (unstructured pruning:
smelt.prune.magnitude, then passes/sparsify.py where it saves flash).

Each output channel's K weights (OHWI order for a convolution, [N, K] for FC) are cut into blocks
of BLOCK = 4 consecutive weights (the last block zero-padded); only the blocks holding a nonzero
weight are stored:
    values  int8 [4 * blocks]          the stored blocks' weights, row after row
    index   uint16 [R + 1 + blocks]    CSR: the rows' first block numbers (R + 1 of them), then
                                       each stored block's column (first weight / 4)
The kernel (sparse.c) skips the zero blocks; the arithmetic is QConv2D's / QFullyConnected's, so
`reference` decodes the weights and runs those ops' references (one oracle for both).
Inputs: x, values, bias, index; attrs: the int8 op's plus w_shape (the dense shape), format.
"""
from __future__ import annotations

import numpy as np

from .. import quant, registry
from ..registry import register
from .qbase import EncodedWeightsOp
from .qconv import conv_fields
from .qfc import fc_fields

BLOCK = 4


def blocks_of(w: np.ndarray) -> np.ndarray:
    """Dense weights [R, K] as blocks [R, ceil(K / 4), 4] (zero-padded)."""
    r, k = w.shape
    pad = np.zeros((r, -(-k // BLOCK) * BLOCK), w.dtype)
    pad[:, :k] = w
    return pad.reshape(r, -1, BLOCK)


def encode(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values, index) of dense rows [R, K]."""
    b = blocks_of(w)
    keep = np.any(b != 0, axis=2)
    rows, cols = np.nonzero(keep)
    ptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))])
    return b[rows, cols].reshape(-1).astype(np.int8), np.concatenate([ptr, cols]).astype(np.uint16)


def decode(values: np.ndarray, index: np.ndarray, rows: int, k: int) -> np.ndarray:
    """Dense rows [R, K] of (values, index)."""
    ptr = index[:rows + 1].astype(np.int64)
    cols = index[rows + 1:].astype(np.int64)
    dense = np.zeros((rows, -(-k // BLOCK), BLOCK), np.int8)
    r = np.repeat(np.arange(rows), np.diff(ptr))
    dense[r, cols] = np.asarray(values, np.int8).reshape(-1, BLOCK)
    return dense.reshape(rows, -1)[:, :k]


def sparse_bytes(w: np.ndarray) -> int:
    """Flash of rows [R, K] in this format: 4 bytes per stored block + its 2-byte column + the
    rows' 2-byte pointers."""
    nb = int(np.any(blocks_of(w) != 0, axis=2).sum())
    return 6 * nb + 2 * (w.shape[0] + 1)


class _Sparse(EncodedWeightsOp):
    kernel = ("qfixed", "qconv", "qfc", "sparse")
    decoded_suffix = "/dense"

    def infer(self, node, g):
        x, v, idx = g[node.inputs[0]], g[node.inputs[1]], g[node.inputs[3]]
        self.check_dtype(node, x.dtype, ("int8",))
        self.check_dtype(node, v.dtype, ("int8",))
        self.check_dtype(node, idx.dtype, ("uint16",))
        return registry.get(self.base).infer(*self.decoded(node, g))

    def dense_weights(self, node, g):
        v, idx = g[node.inputs[1]], g[node.inputs[3]]
        if v.data is None or idx.data is None:
            return None
        shape = tuple(node.attrs["w_shape"])
        return decode(v.data, idx.data, shape[0], int(np.prod(shape[1:]))).reshape(shape)

    def macs(self, node, g):
        """The MACs the kernel does: the stored blocks' weights."""
        n, view = self.decoded(node, g)
        dense = registry.get(self.base).macs(n, view)
        shape = node.attrs["w_shape"]
        return dense * g[node.inputs[1]].size // max(1, int(np.prod(shape)))

    def scratch(self, node, g):
        k = int(np.prod(node.attrs["w_shape"][1:]))
        if self.base == "QFullyConnected" and k % BLOCK == 0:
            return 0
        return -(-k // BLOCK) * BLOCK


@register
class QConv2DSparse(_Sparse):
    base = "QConv2D"

    def emit(self, node, g, ctx):
        n, view = self.decoded(node, g)
        base = registry.get(self.base)
        p = base.prepare(n, view)
        x, w = g[node.inputs[0]], node.attrs["w_shape"]
        if w[3] != x.shape[3]:
            raise self.unsupported(node, "grouped convolution (sparsify leaves it dense)")
        wq = base.conv_weights(n, view)
        q = {**conv_fields(node, g, w[1], w[2], w[3], p, p["multiplier"], p["shift"], ctx), "wide": 0,
             "bias_full": ctx.array("int32_t", quant.wrap32(p["bias"] + p["in_off"] * wq.sum(axis=1))),
             "fast_rq": 0}
        params = ctx.params("smelt_sparse_conv_params", {"q": q, "index": ctx.ptr(node.inputs[3])})
        ctx.call("smelt_sparse_conv2d_i8", ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[1]),
                 ctx.array("int32_t", p["bias"]), ctx.ptr(node.outputs[0]), ctx.scratch("int8_t"), params)


@register
class QFullyConnectedSparse(_Sparse):
    base = "QFullyConnected"

    def emit(self, node, g, ctx):
        n, view = self.decoded(node, g)
        p = registry.get(self.base).prepare(n, view)
        x, w = g[node.inputs[0]], node.attrs["w_shape"]
        q = {**fc_fields(x.size // w[1], w[1], w[0], p, p["multiplier"], p["shift"], ctx), "wide": 0}
        params = ctx.params("smelt_sparse_fc_params", {"q": q, "index": ctx.ptr(node.inputs[3])})
        ctx.call("smelt_sparse_fc_i8", ctx.ptr(node.inputs[0]), ctx.ptr(node.inputs[1]),
                 ctx.array("int32_t", p["bias"]), ctx.ptr(node.outputs[0]),
                 ctx.scratch("int8_t") if self.scratch(node, g) else "NULL", params)
