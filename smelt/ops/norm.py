"""BatchNormalization (inference), InstanceNormalization and LayerNormalization (float32).

The fold_batchnorm pass merges a BatchNormalization into a preceding Conv/Gemm when it can;
the kernel here serves the rest (e.g. after a Concat). With constant parameters its per-channel
scale and shift are computed at compile time, leaving one multiply-add per element.
"""
from __future__ import annotations

import numpy as np

from .. import activation
from ..registry import Example, Op, Rand, register

F32 = ("float32",)


def _const(shape, seed, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _var(shape, seed):
    return _const(shape, seed, 0.1, 2.0)


@register
class BatchNormalization(Op):
    """Inputs X, scale, B, mean, var; y = (x - mean) / sqrt(var + epsilon) * scale + B per channel
    (attrs: epsilon; spatial=0, opset 7-8 only, means one parameter per element of a sample)."""
    kernel = "norm"
    fusable_activation = True

    def from_onnx(self, node, g, opset):
        a = node.attrs
        if a.get("training_mode", 0):
            raise self.unsupported(node, "training_mode=1 (only inference is supported)")
        if any(node.outputs[1:]):
            raise self.unsupported(node, "the training outputs (running/saved mean and variance)")
        node.attrs = {"epsilon": float(a.get("epsilon", 1e-5)), "spatial": int(a.get("spatial", 1))}
        node.outputs = node.outputs[:1]
        return node

    def _dims(self, node, g):
        """(batch, channels, inner) of X viewed as [N, parameters, rest]."""
        shape = g[node.inputs[0]].shape
        n, rest = shape[0], int(np.prod(shape[1:], dtype=np.int64))
        c = rest if not node.attrs["spatial"] else shape[1]
        return n, c, rest // c

    def infer(self, node, g):
        x = g[node.inputs[0]]
        for i in node.inputs:
            self.check_dtype(node, g[i].dtype, F32)
        if len(x.shape) < 2:
            raise self.unsupported(node, f"input of rank {len(x.shape)} (needs N x C x ...)")
        _, c, _ = self._dims(node, g)
        for i in node.inputs[1:5]:
            if g[i].size != c:
                raise ValueError(f"parameter '{i}' has {g[i].size} values for {c} channels")
        return [(x.shape, x.dtype)]

    def reference(self, node, g, xs):
        x, scale, bias, mean, var = xs
        pshape = (1,) + (x.shape[1:] if not node.attrs["spatial"] else (x.shape[1],) + (1,) * (x.ndim - 2))
        scale, bias, mean, var = (p.reshape(pshape) for p in (scale, bias, mean, var))
        y = (x - mean) / np.sqrt(var + np.float32(node.attrs["epsilon"])) * scale + bias
        return [activation.apply(y.astype(np.float32), node.attrs.get("act"))]

    def emit(self, node, g, ctx):
        n, c, inner = self._dims(node, g)
        eps = node.attrs["epsilon"]
        params = ctx.params("smelt_norm_params", {"batch": n, "channels": c, "inner": inner, "epsilon": eps,
                                                   "act": activation.c_struct(node.attrs.get("act"))})
        x, scale, bias, mean, var = node.inputs
        values = [g[i].data for i in (scale, bias, mean, var)]
        if all(v is not None for v in values):
            gamma, beta, mu, sigma2 = (v.astype(np.float64).reshape(-1) for v in values)
            s = gamma / np.sqrt(sigma2 + np.float64(np.float32(eps)))
            ctx.call("smelt_batchnorm_f32", ctx.ptr(x), ctx.array("float", s.astype(np.float32)),
                     ctx.array("float", (beta - mu * s).astype(np.float32)), "NULL", "NULL",
                     ctx.ptr(node.outputs[0]), params)
        else:
            ctx.call("smelt_batchnorm_f32", ctx.ptr(x), ctx.ptr(scale), ctx.ptr(bias), ctx.ptr(mean),
                     ctx.ptr(var), ctx.ptr(node.outputs[0]), params)

    def macs(self, node, g):
        return g[node.inputs[0]].size

    examples = [
        Example([Rand((2, 3, 4, 5)), _const((3,), 1), _const((3,), 2), _const((3,), 3), _var((3,), 4)],
                opset=15, name="constant_params"),
        Example([Rand((2, 3, 4, 5)), Rand((3,)), Rand((3,)), Rand((3,)), Rand((3,), low=0.1, high=2.0)],
                {"epsilon": 1e-2}, opset=15, name="runtime_params"),
        Example([Rand((4, 6)), _const((6,), 5), _const((6,), 6), _const((6,), 7), _var((6,), 8)],
                opset=9, name="2d"),
        Example([Rand((1, 8, 10)), _const((8,), 9), _const((8,), 10), _const((8,), 11), _var((8,), 12)],
                {"epsilon": 1e-3, "training_mode": 0}, opset=14, name="3d_opset14"),
        Example([Rand((2, 3, 2, 2)), _const((3, 2, 2), 13), _const((3, 2, 2), 14), _const((3, 2, 2), 15),
                 _var((3, 2, 2), 16)], {"spatial": 0}, opset=7, name="per_element_opset7"),
        Example([Rand((1, 5, 3, 3)), _const((5,), 17), _const((5,), 18), _const((5,), 19), _var((5,), 20)],
                {"spatial": 1, "momentum": 0.9}, opset=7, name="opset7"),
    ]


@register
class InstanceNormalization(Op):
    """y = (x - mean) / sqrt(var + epsilon) * scale[c] + B[c], moments over each (n, c) slice."""
    kernel = "norm"
    fusable_activation = True

    def from_onnx(self, node, g, opset):
        node.attrs = {"epsilon": float(node.attrs.get("epsilon", 1e-5))}
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        for i in node.inputs:
            self.check_dtype(node, g[i].dtype, F32)
        if len(x.shape) < 3:
            raise self.unsupported(node, f"input of rank {len(x.shape)} (needs N x C x D1 x ...)")
        return [(x.shape, x.dtype)]

    def reference(self, node, g, xs):
        x, scale, bias = xs
        axes = tuple(range(2, x.ndim))
        pshape = (1, -1) + (1,) * (x.ndim - 2)
        mean = x.mean(axis=axes, keepdims=True)
        var = np.square(x - mean).mean(axis=axes, keepdims=True)
        y = (x - mean) / np.sqrt(var + np.float32(node.attrs["epsilon"])) * scale.reshape(pshape) \
            + bias.reshape(pshape)
        return [activation.apply(y.astype(np.float32), node.attrs.get("act"))]

    def emit(self, node, g, ctx):
        shape = g[node.inputs[0]].shape
        params = {"batch": shape[0], "channels": shape[1], "inner": int(np.prod(shape[2:], dtype=np.int64)),
                  "epsilon": node.attrs["epsilon"], "act": activation.c_struct(node.attrs.get("act"))}
        ctx.call("smelt_instancenorm_f32", *(ctx.ptr(i) for i in node.inputs), ctx.ptr(node.outputs[0]),
                 ctx.params("smelt_norm_params", params))

    def macs(self, node, g):
        return 2 * g[node.inputs[0]].size   # the variance, then the scale and shift

    examples = [
        Example([Rand((2, 3, 4, 5)), _const((3,), 1), _const((3,), 2)], opset=6, name="4d"),
        Example([Rand((1, 2, 1, 3)), Rand((2,)), Rand((2,))], {"epsilon": 1e-2}, name="runtime_params"),
        Example([Rand((2, 4, 37), low=2.0, high=3.0), _const((4,), 3), _const((4,), 4)], name="3d_offset"),
        Example([Rand((1, 2, 3, 4, 5)), _const((2,), 5), _const((2,), 6)], name="5d"),
    ]


@register
class LayerNormalization(Op):
    """Normalizes over the axes [axis, rank); Scale and B broadcast to that normalized shape.
    Optional outputs Mean and InvStdDev have X's shape with the normalized axes set to 1."""
    kernel = "norm"

    def from_onnx(self, node, g, opset):
        a = node.attrs
        if a.get("stash_type", 1) != 1:
            raise self.unsupported(node, f"stash_type {a['stash_type']} (only 1, float32, is supported)")
        rank = len(g[node.inputs[0]].shape)
        axis = int(a.get("axis", -1))
        if not -rank <= axis < rank:
            raise ValueError(f"axis {axis} out of range for rank {rank}")
        node.attrs = {"axis": axis % rank, "epsilon": float(a.get("epsilon", 1e-5))}
        if len(node.inputs) > 2 and not node.inputs[2]:
            node.inputs = node.inputs[:2]
        return node

    def infer(self, node, g):
        x = g[node.inputs[0]]
        axis = node.attrs["axis"]
        for i in node.inputs:
            self.check_dtype(node, g[i].dtype, F32)
        norm_shape = x.shape[axis:]
        for i in node.inputs[1:]:
            t = g[i]
            if np.broadcast_shapes(t.shape, norm_shape) != norm_shape:
                raise ValueError(f"'{i}' {t.shape} does not broadcast to the normalized shape {norm_shape}")
            if t.shape != norm_shape and t.data is None:
                raise self.unsupported(node, f"'{i}' of shape {t.shape} broadcast at run time")
        stats = (x.shape[:axis] + (1,) * (len(x.shape) - axis), "float32")
        return [(x.shape, x.dtype), stats, stats][:max(len(node.outputs), 1)]

    def reference(self, node, g, xs):
        x, axis = xs[0], node.attrs["axis"]
        axes = tuple(range(axis, x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        var = np.square(x - mean).mean(axis=axes, keepdims=True)
        inv = 1 / np.sqrt(var + np.float32(node.attrs["epsilon"]))
        y = (x - mean) * inv * xs[1]
        if len(xs) > 2:
            y = y + xs[2]
        return [y.astype(np.float32), mean.astype(np.float32), inv.astype(np.float32)][:len(node.outputs)]

    def emit(self, node, g, ctx):
        x = g[node.inputs[0]]
        axis = node.attrs["axis"]
        norm_shape = x.shape[axis:]
        size = int(np.prod(norm_shape, dtype=np.int64))
        params = ctx.params("smelt_layernorm_params", {"rows": x.size // max(size, 1), "size": size,
                                                       "epsilon": node.attrs["epsilon"]})
        vecs = []
        for i in node.inputs[1:]:
            t = g[i]
            vecs.append(ctx.ptr(i) if t.shape == norm_shape else
                        ctx.array("float", np.broadcast_to(t.data, norm_shape).reshape(-1)))
        if len(vecs) < 2:
            vecs.append("NULL")
        outs = [ctx.ptr(o) if o else "NULL" for o in (node.outputs + ["", ""])[:3]]
        ctx.call("smelt_layernorm_f32", ctx.ptr(x.name), *vecs, *outs, params)

    def macs(self, node, g):
        return 2 * g[node.inputs[0]].size   # the variance, then the scale and shift

    examples = [
        Example([Rand((2, 3, 8)), _const((8,), 1), _const((8,), 2)], name="last_axis"),
        Example([Rand((2, 3, 5)), _const((3, 5), 3), _const((3, 5), 4)], {"axis": 1, "epsilon": 1e-2},
                name="axis1"),
        Example([Rand((4, 6)), Rand((6,)), Rand((6,))], name="runtime_params"),
        Example([Rand((3, 10), low=5.0, high=6.0), _const((10,), 5)], {"axis": -1}, name="no_bias"),
        Example([Rand((2, 3, 4)), _const((3, 4), 6), _const((3, 4), 7)], {"axis": -2}, outputs=3,
                name="mean_invstd"),
        Example([Rand((2, 3, 4)), _const((4,), 8), _const((1, 4), 9)], {"axis": 1}, name="broadcast_params"),
    ]
