"""MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool: float32, ONNX layout, 1-3 spatial dims.

Canonical attrs of MaxPool/AveragePool after from_onnx: kernel_shape, strides, dilations, pads
(all begins, then all ends), ceil_mode, count_include_pad (0 for MaxPool); MaxPool also
storage_order. MACs are 0: pooling multiplies nothing.
"""
from __future__ import annotations

import numpy as np

from ..registry import Example, Op, Rand, register
from .conv import spatial_attrs, three_d

_FLOAT_LOWEST = np.finfo(np.float32).min


def pooled_size(size: int, k: int, s: int, d: int, pb: int, pe: int, ceil_mode: int) -> int:
    span = size + pb + pe - (k - 1) * d - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + pb:
        out -= 1    # the last window must start inside the input or its leading pad
    return out


class Pool(Op):
    kernel = "pool"
    is_max = False

    def from_onnx(self, node, g, opset):
        a = node.attrs
        if "kernel_shape" not in a:
            raise self.unsupported(node, "no kernel_shape")
        attrs = spatial_attrs(self, node, g[node.inputs[0]].shape, a["kernel_shape"])
        if opset < (10 if self.is_max else 19):
            attrs["dilations"] = [1] * len(attrs["kernel_shape"])   # not yet an attribute
        node.attrs = {**attrs, "ceil_mode": int(a.get("ceil_mode", 0)),
                      "count_include_pad": 0 if self.is_max else int(a.get("count_include_pad", 0))}
        if self.is_max:
            node.attrs["storage_order"] = int(a.get("storage_order", 0))
        return node

    def infer(self, node, g):
        x, a = g[node.inputs[0]], node.attrs
        self.check_dtype(node, x.dtype, ("float32",))
        n = len(x.shape) - 2
        out = tuple(pooled_size(size, a["kernel_shape"][i], a["strides"][i], a["dilations"][i],
                                a["pads"][i], a["pads"][n + i], a["ceil_mode"])
                    for i, size in enumerate(x.shape[2:]))
        shape = x.shape[:2] + out
        if len(node.outputs) > 1 and node.outputs[1]:
            return [(shape, "float32"), (shape, "int64")]
        return [(shape, "float32")]

    def _windows(self, node, g, x, fill):
        """For each window tap: the padded x, the flat input index (-1 in pads) and whether
        AveragePool counts the position, each sliced at that tap of every window."""
        a, n = node.attrs, x.ndim - 2
        out = g[node.outputs[0]].shape[2:]
        ends = [max(a["pads"][n + i], (o - 1) * s + (k - 1) * d + 1 - size - a["pads"][i])
                for i, (size, o, k, s, d) in enumerate(zip(x.shape[2:], out, a["kernel_shape"], a["strides"],
                                                            a["dilations"]))]
        widths = [(0, 0), (0, 0)] + [(a["pads"][i], ends[i]) for i in range(n)]
        xp = np.pad(x, widths, constant_values=fill)
        order = "F" if a.get("storage_order") else "C"
        pos = np.arange(int(np.prod(x.shape[2:]))).reshape(x.shape[2:], order=order)
        # count_include_pad counts the explicit pads but not the extra ceil_mode overhang
        inside = np.pad(np.ones(x.shape[2:], np.float32), [(a["pads"][i], a["pads"][n + i]) for i in range(n)],
                        constant_values=1.0 if a["count_include_pad"] else 0.0)
        inside = np.pad(inside, [(0, ends[i] - a["pads"][n + i]) for i in range(n)])
        pos = np.pad(pos, widths[2:], constant_values=-1)
        for tap in np.ndindex(*a["kernel_shape"]):
            win = tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                        for t, d, s, o in zip(tap, a["dilations"], a["strides"], out))
            yield xp[(slice(None), slice(None)) + win], pos[win], inside[win]

    def reference(self, node, g, xs):
        x = xs[0]
        out = g[node.outputs[0]].shape
        if not self.is_max:
            total, count = np.zeros(out, np.float32), np.zeros(out[2:], np.float32)
            for xw, _, inside in self._windows(node, g, x, 0.0):
                total += xw
                count += inside
            return [(total / count).astype(np.float32)]
        best = np.full(out, _FLOAT_LOWEST, np.float32)
        where = np.zeros(out, np.int64)
        for xw, pw, _ in self._windows(node, g, x, -np.inf):
            better = xw > best
            best = np.where(better, xw, best)
            where = np.where(better, pw, where)
        planes = np.arange(out[0] * out[1], dtype=np.int64).reshape(out[:2] + (1,) * (x.ndim - 2))
        return [best, where + planes * int(np.prod(x.shape[2:]))][:len(self.infer(node, g))]

    def emit(self, node, g, ctx):
        x, y, a = g[node.inputs[0]], g[node.outputs[0]], node.attrs
        n = len(x.shape) - 2
        indices = node.outputs[1] if len(node.outputs) > 1 else ""
        p = {"planes": x.shape[0] * x.shape[1],
             **dict(zip(("d", "h", "w"), three_d(x.shape[2:], 1))),
             **dict(zip(("od", "oh", "ow"), three_d(y.shape[2:], 1))),
             **dict(zip(("kd", "kh", "kw"), three_d(a["kernel_shape"], 1))),
             **dict(zip(("sd", "sh", "sw"), three_d(a["strides"], 1))),
             **dict(zip(("dd", "dh", "dw"), three_d(a["dilations"], 1))),
             **dict(zip(("pd", "ph", "pw"), three_d(a["pads"][:n], 0))),
             **dict(zip(("pd1", "ph1", "pw1"), three_d(a["pads"][n:], 0))),
             "max": int(self.is_max), "count_include_pad": a["count_include_pad"],
             "column_major": a.get("storage_order", 0)}
        ctx.call("smelt_pool_f32", ctx.ptr(x.name), ctx.ptr(y.name), ctx.ptr(indices),
                 ctx.params("smelt_pool_params", p))


@register
class MaxPool(Pool):
    is_max = True
    examples = [
        Example([Rand((1, 3, 9, 9))], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
                name="3x3_s2_pad1"),
        Example([Rand((2, 2, 10, 11))], {"kernel_shape": [2, 3], "strides": [2, 2], "ceil_mode": 1}, name="ceil",
                opset=12),
        Example([Rand((1, 2, 8, 9))], {"kernel_shape": [2, 2], "dilations": [2, 3], "pads": [1, 0, 0, 1]},
                name="dilated_asymmetric", opset=22),
        Example([Rand((1, 3, 7, 6))], {"kernel_shape": [3, 2], "auto_pad": "SAME_UPPER", "strides": [2, 2]},
                name="same_upper", opset=8),
        Example([Rand((1, 3, 7, 6))], {"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER"}, name="same_lower"),
        Example([Rand((1, 4, 17))], {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}, name="1d"),
        Example([Rand((1, 2, 5, 6, 7))], {"kernel_shape": [2, 3, 2], "strides": [2, 1, 2], "pads": [0, 1, 1, 1, 1, 0]},
                name="3d"),
        Example([Rand((2, 3, 6, 7))], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
                outputs=2, name="indices"),
        Example([Rand((1, 2, 6, 7))], {"kernel_shape": [2, 3], "strides": [2, 2], "storage_order": 1,
                                       "ceil_mode": 1}, outputs=2, name="indices_column_major"),
    ]


@register
class AveragePool(Pool):
    examples = [
        Example([Rand((1, 3, 9, 9))], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
                name="exclude_pad"),
        Example([Rand((1, 3, 9, 8))], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 2, 1, 0],
                                       "count_include_pad": 1}, name="include_pad", opset=7),
        Example([Rand((2, 2, 10, 11))], {"kernel_shape": [3, 2], "strides": [2, 3], "ceil_mode": 1,
                                         "pads": [1, 0, 0, 1], "count_include_pad": 1}, name="ceil_include_pad",
                opset=11),
        Example([Rand((1, 2, 11, 10))], {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1},
                name="ceil_exclude_pad"),
        Example([Rand((1, 2, 9, 9))], {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 1, 1, 1]},
                name="dilated", opset=19),
        Example([Rand((1, 3, 7, 6))], {"kernel_shape": [3, 2], "auto_pad": "SAME_UPPER", "strides": [2, 2]},
                name="same_upper"),
        Example([Rand((1, 4, 17))], {"kernel_shape": [4], "strides": [3]}, name="1d"),
        Example([Rand((1, 2, 5, 6, 7))], {"kernel_shape": [2, 3, 2], "pads": [1, 1, 0, 0, 1, 1]}, name="3d",
                opset=22),
        Example([Rand((1, 8, 25, 5))], {"kernel_shape": [24, 5]}, name="ds_cnn_head"),
    ]


class GlobalPool(Op):
    kernel = "pool"
    is_max = False

    def infer(self, node, g):
        x = g[node.inputs[0]]
        self.check_dtype(node, x.dtype, ("float32",))
        if len(x.shape) < 3:
            raise self.unsupported(node, f"input rank {len(x.shape)} (needs spatial dims)")
        return [(x.shape[:2] + (1,) * (len(x.shape) - 2), "float32")]

    def reference(self, node, g, xs):
        axes = tuple(range(2, xs[0].ndim))
        fn = np.max if self.is_max else np.mean
        return [fn(xs[0], axis=axes, keepdims=True).astype(np.float32)]

    def emit(self, node, g, ctx):
        x = g[node.inputs[0]]
        ctx.call("smelt_global_pool_f32", ctx.ptr(x.name), ctx.ptr(node.outputs[0]), x.shape[0] * x.shape[1],
                 int(np.prod(x.shape[2:])), int(self.is_max))


@register
class GlobalAveragePool(GlobalPool):
    examples = [Example([Rand((2, 5, 7, 7))]), Example([Rand((1, 3, 10))], name="1d"),
                Example([Rand((1, 2, 3, 4, 5))], name="3d", opset=22)]


@register
class GlobalMaxPool(GlobalPool):
    is_max = True
    examples = [Example([Rand((2, 5, 7, 7))]), Example([Rand((1, 3, 10))], name="1d"),
                Example([Rand((1, 2, 3, 4, 5))], name="3d", opset=22)]
