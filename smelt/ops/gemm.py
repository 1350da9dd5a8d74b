"""Gemm and MatMul (float32), both with a fusable activation.

Both become one smelt_gemm_f32 call. A constant B is stored transposed ([n, k], one row per
output column) so that every output is a contiguous dot product: the fast kernel for the
fully connected layers that dominate MLPs, VGG and AlexNet. Only a B known at run time uses
the [k, n] kernel.
"""
from __future__ import annotations

import numpy as np

from .. import activation
from ..ir import Tensor
from ..registry import Example, Op, Rand, register

F32 = ("float32",)


def _const(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


def emit_product(node, ctx, a, b, c, *, batch, m, n, k, b_const, b_rows, trans_a=False,
                 a_off=None, b_off=None, alpha=1.0, beta=1.0, c_strides=(0, 0)):
    """One smelt_gemm_f32 call. b_const: B's value [batch_b, ...] when known at compile time,
    stored transposed so the kernel sees rows of k; b_rows: B is already stored as [n, k]."""
    if b_const is not None and not b_rows:
        data = np.ascontiguousarray(np.swapaxes(b_const, -1, -2))
        b_ptr = ctx.weight(Tensor(b + "__T", data.shape, "float32", data))
        b_rows = True
    else:
        b_ptr = ctx.ptr(b)
    params = {"batch": batch, "m": m, "n": n, "k": k,
              "a_off": ctx.array("long", a_off) if a_off is not None else "NULL",
              "b_off": ctx.array("long", b_off) if b_off is not None else "NULL",
              "trans_a": int(trans_a), "b_rows": int(b_rows), "alpha": float(alpha),
              "beta": float(beta), "c_rs": c_strides[0], "c_cs": c_strides[1],
              "act": activation.c_struct(node.attrs.get("act"))}
    ctx.call("smelt_gemm_f32", ctx.ptr(a), b_ptr, ctx.ptr(c), ctx.ptr(node.outputs[0]),
             ctx.scratch("float") if trans_a else "NULL", ctx.params("smelt_gemm_params", params))


@register
class Gemm(Op):
    """Y = act(alpha * A' B' + beta * C), A' = A or A^T, B' = B or B^T, C broadcast to [M, N]."""
    kernel = "gemm"
    fusable_activation = True

    def from_onnx(self, node, g, opset):
        a = node.attrs
        node.attrs = {"alpha": float(a.get("alpha", 1.0)), "beta": float(a.get("beta", 1.0)),
                      "transA": int(a.get("transA", 0)), "transB": int(a.get("transB", 0))}
        # beta = 0 ignores C (onnxruntime does not read it).
        if len(node.inputs) < 3 or not node.inputs[2] or node.attrs["beta"] == 0.0:
            node.inputs = node.inputs[:2]
        return node

    def _mnk(self, node, g):
        a, b = g[node.inputs[0]].shape, g[node.inputs[1]].shape
        at, bt = node.attrs["transA"], node.attrs["transB"]
        if len(a) != 2 or len(b) != 2:
            raise self.unsupported(node, f"A {a} and B {b} must be 2-D")
        m, k = (a[1], a[0]) if at else a
        k2, n = (b[1], b[0]) if bt else b
        if k != k2:
            raise ValueError(f"inner dimensions differ: {k} vs {k2}")
        return m, n, k

    def _c_strides(self, node, g, m, n):
        """(row, column) strides of C broadcast to [m, n]."""
        shape = (1, 1) + g[node.inputs[2]].shape
        cm, cn = shape[-2:]
        if len(shape) > 4 or cm not in (1, m) or cn not in (1, n):
            raise ValueError(f"C {g[node.inputs[2]].shape} does not broadcast to [{m}, {n}]")
        return (0 if cm == 1 else cn), (0 if cn == 1 else 1)

    def infer(self, node, g):
        for i in node.inputs:
            self.check_dtype(node, g[i].dtype, F32)
        m, n, _ = self._mnk(node, g)
        if len(node.inputs) > 2:
            self._c_strides(node, g, m, n)
        return [((m, n), "float32")]

    def reference(self, node, g, xs):
        at = node.attrs
        a = xs[0].T if at["transA"] else xs[0]
        b = xs[1].T if at["transB"] else xs[1]
        y = np.float32(at["alpha"]) * (a @ b)
        if len(xs) > 2:
            y = y + np.float32(at["beta"]) * xs[2]
        return [activation.apply(y.astype(np.float32), node.attrs.get("act"))]

    def emit(self, node, g, ctx):
        at = node.attrs
        m, n, k = self._mnk(node, g)
        b = g[node.inputs[1]]
        c = node.inputs[2] if len(node.inputs) > 2 else ""
        # B [k, 1] read as [1, k] is already rows of k.
        b_rows = bool(at["transB"]) or n == 1
        emit_product(node, ctx, node.inputs[0], b.name, c, batch=1, m=m, n=n, k=k,
                     b_const=b.data, b_rows=b_rows, trans_a=bool(at["transA"]),
                     alpha=at["alpha"], beta=at["beta"],
                     c_strides=self._c_strides(node, g, m, n) if c else (0, 0))

    def scratch(self, node, g):
        m, _, k = self._mnk(node, g)
        return 4 * m * k if node.attrs["transA"] else 0

    def macs(self, node, g):
        m, n, k = self._mnk(node, g)
        return m * n * k

    examples = [
        Example([Rand((3, 5)), _const((5, 4), 1), _const((4,), 2)], name="bias_vector"),
        Example([Rand((2, 7)), _const((6, 7), 3), _const((1, 6), 4)], {"transB": 1}, name="transB"),
        Example([Rand((1, 64)), _const((130, 64), 5), _const((130,), 6)], {"transB": 1}, opset=7,
                name="fc_opset7"),
        Example([Rand((4, 3)), _const((4, 5), 7), _const((3, 1), 8)], {"transA": 1, "alpha": 0.5},
                name="transA_column_bias"),
        Example([Rand((6, 3)), _const((5, 6), 9), Rand((3, 5))],
                {"transA": 1, "transB": 1, "alpha": 0.25, "beta": 0.35}, opset=11,
                name="transAB_runtime_C"),
        Example([Rand((2, 9)), Rand((9, 19))], opset=13, name="runtime_B_no_C"),
        Example([Rand((3, 70)), Rand((21, 70)), np.float32(0.5)], {"transB": 1}, name="runtime_BT_scalar_C"),
        Example([Rand((2, 3)), _const((3, 1), 10), _const((1,), 11)], {"beta": 0.0}, name="n1_beta0"),
        Example([Rand((2, 130)), Rand((130, 20)), _const((2, 20), 12)], {"beta": 2.0},
                name="runtime_B_kblocks"),
    ]


@register
class MatMul(Op):
    """numpy matmul: batch dimensions broadcast; a 1-D operand gains (then loses) a unit axis."""
    kernel = "gemm"
    fusable_activation = True

    def _dims(self, node, g):
        """(batch shape, m, n, k, output shape)."""
        a, b = g[node.inputs[0]].shape, g[node.inputs[1]].shape
        if not a or not b:
            raise ValueError("MatMul operands must have at least one dimension")
        a2 = (1,) + a if len(a) == 1 else a
        b2 = b + (1,) if len(b) == 1 else b
        if a2[-1] != b2[-2]:
            raise ValueError(f"inner dimensions differ: {a} @ {b}")
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
        out = batch + a2[-2:-1] * (len(a) > 1) + b2[-1:] * (len(b) > 1)
        return batch, a2[-2], b2[-1], a2[-1], out

    def infer(self, node, g):
        for i in node.inputs:
            self.check_dtype(node, g[i].dtype, F32)
        return [(self._dims(node, g)[4], "float32")]

    def reference(self, node, g, xs):
        return [activation.apply(np.matmul(xs[0], xs[1]).astype(np.float32), node.attrs.get("act"))]

    def emit(self, node, g, ctx):
        batch, m, n, k, _ = self._dims(node, g)
        a, b = g[node.inputs[0]], g[node.inputs[1]]
        a_batch = a.shape[:-2] if len(a.shape) > 1 else ()
        b_batch = b.shape[:-2] if len(b.shape) > 1 else ()
        nb = int(np.prod(batch, dtype=np.int64))
        a_off = b_off = None
        b_const = None if b.data is None else b.data.reshape(b_batch + (k, n))
        if nb > 1 and int(np.prod(b_batch, dtype=np.int64)) == 1:
            # One B for all: the batch of A is just more rows.
            m, nb = m * nb, 1
            b_const = None if b_const is None else b_const.reshape(k, n)
        elif nb > 1:
            a_off = self._offsets(a_batch, batch, m * k)
            b_off = self._offsets(b_batch, batch, k * n)
        emit_product(node, ctx, a.name, b.name, "", batch=nb, m=m, n=n, k=k,
                     b_const=b_const, b_rows=n == 1, a_off=a_off, b_off=b_off)

    @staticmethod
    def _offsets(shape, batch, size):
        """Element offset of each output batch element's matrix in an operand of batch `shape`."""
        idx = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
        return (np.broadcast_to(idx, batch).reshape(-1) * size).tolist()

    def macs(self, node, g):
        batch, m, n, k, _ = self._dims(node, g)
        return int(np.prod(batch, dtype=np.int64)) * m * n * k

    examples = [
        Example([Rand((1, 64)), _const((64, 10), 20)], name="fc"),
        Example([Rand((3, 4)), Rand((4, 5))], name="runtime_2d"),
        Example([Rand((2, 3, 9)), _const((9, 6), 21)], name="batched_A_shared_B"),
        Example([Rand((2, 3, 5, 6)), Rand((2, 3, 6, 7))], name="batched_runtime"),
        Example([Rand((3, 1, 3, 4)), Rand((1, 2, 4, 10))], name="broadcast_batch"),
        Example([Rand((2, 1, 5, 6)), _const((3, 6, 5), 22)], name="broadcast_const_B"),
        Example([Rand((7,)), Rand((7,))], opset=9, name="vec_vec"),
        Example([Rand((6,)), Rand((2, 6, 3))], name="vec_batched"),
        Example([Rand((2, 4, 130)), _const((130,), 23)], name="batched_vec"),
        Example([Rand((5, 33)), Rand((33, 1))], opset=13, name="n1_runtime"),
    ]
