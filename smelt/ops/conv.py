"""Conv and ConvTranspose: float32, ONNX layout (N, C, spatial...), 1 to 3 spatial dims.

Canonical attrs after from_onnx: kernel_shape, strides, dilations, pads (all begins, then all
ends), group; ConvTranspose also output_padding. auto_pad and output_shape are resolved into pads.
"""
from __future__ import annotations

import numpy as np

from .. import activation
from ..ir import Tensor
from ..registry import Example, Op, Rand, register

MB = 8   # output channels per packed weight block (SMELT_CONV_MB in conv.c)


def spatial_attrs(op: Op, node, x_shape, kernel) -> dict:
    """kernel_shape, strides, dilations and explicit pads of a Conv or pool (auto_pad resolved)."""
    a, n = node.attrs, len(x_shape) - 2
    if not 1 <= n <= 3:
        raise op.unsupported(node, f"{n} spatial dims (supported: 1 to 3)")
    k = [int(v) for v in a.get("kernel_shape", kernel)]
    s = [int(v) for v in a.get("strides", [1] * n)]
    d = [int(v) for v in a.get("dilations", [1] * n)]
    auto = a.get("auto_pad", "NOTSET") or "NOTSET"
    if auto == "NOTSET":
        pads = [int(v) for v in a.get("pads", [0] * 2 * n)]
    elif auto == "VALID":
        pads = [0] * 2 * n
    elif auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0] * 2 * n
        for i, size in enumerate(x_shape[2:]):
            out = -(-size // s[i])
            total = max(0, (out - 1) * s[i] + (k[i] - 1) * d[i] + 1 - size)
            small, big = total // 2, total - total // 2
            pads[i], pads[n + i] = (small, big) if auto == "SAME_UPPER" else (big, small)
    else:
        raise op.unsupported(node, f"auto_pad {auto}")
    if not len(k) == len(s) == len(d) == n or len(pads) != 2 * n:
        raise op.unsupported(node, f"attributes for {n} spatial dims: kernel {k}, strides {s}, "
                                   f"dilations {d}, pads {pads}")
    if min(pads) < 0 or min(k + s + d) < 1:
        raise op.unsupported(node, "negative pads or non-positive kernel/strides/dilations")
    return {"kernel_shape": k, "strides": s, "dilations": d, "pads": pads}


def three_d(values, fill) -> list[int]:
    """Per-spatial-dim values as D, H, W (the kernels' view of 1-3 spatial dims)."""
    return [fill] * (3 - len(values)) + [int(v) for v in values]


def conv_params(x_shape, y_shape, a: dict, act) -> dict:
    n = len(x_shape) - 2
    ins, outs = three_d(x_shape[2:], 1), three_d(y_shape[2:], 1)
    return {"batch": x_shape[0], "group": a["group"], "c": x_shape[1],
            "d": ins[0], "h": ins[1], "w": ins[2], "m": y_shape[1],
            "od": outs[0], "oh": outs[1], "ow": outs[2],
            **dict(zip(("kd", "kh", "kw"), three_d(a["kernel_shape"], 1))),
            **dict(zip(("sd", "sh", "sw"), three_d(a["strides"], 1))),
            **dict(zip(("dd", "dh", "dw"), three_d(a["dilations"], 1))),
            **dict(zip(("pd", "ph", "pw"), three_d(a["pads"][:n], 0))),
            "act": activation.c_struct(act)}


def _check_float(op: Op, node, g) -> None:
    for name in node.inputs:
        if name:
            op.check_dtype(node, g[name].dtype, ("float32",))


@register
class Conv(Op):
    kernel = "conv"
    fusable_activation = True

    def from_onnx(self, node, g, opset):
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        attrs = spatial_attrs(self, node, x.shape, w.shape[2:])
        node.attrs = {**attrs, "group": int(node.attrs.get("group", 1))}
        return node

    def infer(self, node, g):
        _check_float(self, node, g)
        x, w, a = g[node.inputs[0]], g[node.inputs[1]], node.attrs
        n, grp = len(x.shape) - 2, a["group"]
        if len(w.shape) != n + 2 or w.shape[2:] != tuple(a["kernel_shape"]):
            raise ValueError(f"weights {w.shape} do not match kernel_shape {a['kernel_shape']}")
        if x.shape[1] != w.shape[1] * grp or w.shape[0] % grp:
            raise ValueError(f"{x.shape[1]} input channels, weights {w.shape} and group {grp} disagree")
        out = [(size + a["pads"][i] + a["pads"][n + i] - (k - 1) * d - 1) // s + 1
               for i, (size, k, s, d) in enumerate(zip(x.shape[2:], a["kernel_shape"], a["strides"],
                                                        a["dilations"]))]
        return [((x.shape[0], w.shape[0], *out), "float32")]

    def reference(self, node, g, xs):
        x, w, b = (xs + [None])[:3]
        a, n = node.attrs, x.ndim - 2
        grp = a["group"]
        out = g[node.outputs[0]].shape
        xp = np.pad(x, [(0, 0), (0, 0)] + [(a["pads"][i], a["pads"][n + i]) for i in range(n)])
        xp = xp.reshape(x.shape[0], grp, x.shape[1] // grp, *xp.shape[2:])
        wg = w.reshape(grp, w.shape[0] // grp, *w.shape[1:])
        y = np.zeros((x.shape[0], grp, w.shape[0] // grp, *out[2:]), np.float32)
        for tap in np.ndindex(*a["kernel_shape"]):
            win = tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                        for t, d, s, o in zip(tap, a["dilations"], a["strides"], out[2:]))
            y += np.einsum("ngc...,gmc->ngm...", xp[(slice(None),) * 3 + win],
                           wg[(slice(None),) * 3 + tap], optimize=True)
        y = y.reshape(out)
        if b is not None:
            y += b.reshape((-1,) + (1,) * n)
        return [activation.apply(y, a.get("act"))]

    def _depthwise(self, node, g) -> bool:
        """One input channel per group and too few outputs per group to fill a weight block."""
        w = g[node.inputs[1]].shape
        return w[1] == 1 and w[0] // node.attrs["group"] < MB

    def _params(self, node, g) -> dict:
        """smelt_conv_params. A pointwise conv is a matrix product: one long row of D*H*W
        columns, no edges."""
        x, y, a = g[node.inputs[0]], g[node.outputs[0]], node.attrs
        p = conv_params(x.shape, y.shape, a, a.get("act"))
        if all(k == 1 for k in a["kernel_shape"]) and all(s == 1 for s in a["strides"]) and not any(a["pads"]):
            p.update(d=1, h=1, w=int(np.prod(x.shape[2:])), od=1, oh=1, ow=int(np.prod(y.shape[2:])))
        return p

    def scratch(self, node, g):
        if self._depthwise(node, g):
            # one input channel with its padding written out, as smelt_conv_dw_f32 lays it out
            p = self._params(node, g)
            depth = (p["od"] - 1) * p["sd"] + (p["kd"] - 1) * p["dd"] + 1
            rows = (-(-p["oh"] // 2) * 2 - 1) * p["sh"] + (p["kh"] - 1) * p["dh"] + 1
            length = (-(-p["ow"] // 4) * 4 - 1) * p["sw"] + (p["kw"] - 1) * p["dw"] + 1
            return depth * rows * length * 4
        w = g[node.inputs[1]]
        return 0 if w.is_const else packed_size(w.shape, node.attrs["group"]) * 4

    def emit(self, node, g, ctx):
        x, w, y = g[node.inputs[0]], g[node.inputs[1]], g[node.outputs[0]]
        bias = node.inputs[2] if len(node.inputs) > 2 else ""
        params = ctx.params("smelt_conv_params", self._params(node, g))
        if self._depthwise(node, g):
            ctx.call("smelt_conv_dw_f32", ctx.ptr(x.name), ctx.ptr(w.name), ctx.ptr(bias), ctx.ptr(y.name),
                     ctx.scratch("float"), params)
            return
        if w.is_const:
            group = node.attrs["group"]
            wp = ctx.weight(Tensor(w.name + "_packed", (packed_size(w.shape, group),), "float32",
                                   pack(w.data, group)))
        else:
            wp = ctx.scratch("float")
            ctx.call("smelt_conv_pack_f32", ctx.ptr(w.name), wp, params)
        ctx.call("smelt_conv_f32", ctx.ptr(x.name), wp, ctx.ptr(bias), ctx.ptr(y.name), params)

    def macs(self, node, g):
        w, y = g[node.inputs[1]], g[node.outputs[0]]
        return y.size * int(np.prod(w.shape[1:]))

    examples = [
        Example([Rand((1, 3, 8, 8)), Rand((4, 3, 3, 3)), Rand((4,))], {"pads": [1, 1, 1, 1]},
                name="3x3_pad1_bias_runtime_w"),
        Example([Rand((2, 5, 9, 7)), np.random.default_rng(1).standard_normal((11, 5, 3, 2)).astype(np.float32)],
                {"strides": [2, 1], "pads": [1, 0, 2, 1]}, name="strided_asymmetric_pads_const_w"),
        Example([Rand((1, 16, 10, 12)),
                 np.random.default_rng(2).standard_normal((24, 16, 1, 1)).astype(np.float32),
                 np.random.default_rng(3).standard_normal(24).astype(np.float32)],
                name="pointwise_1x1", opset=11),
        Example([Rand((1, 8, 13, 11)), np.random.default_rng(4).standard_normal((8, 1, 3, 3)).astype(np.float32),
                 np.random.default_rng(5).standard_normal(8).astype(np.float32)],
                {"group": 8, "pads": [1, 1, 1, 1], "strides": [2, 2]}, name="depthwise_s2"),
        Example([Rand((1, 4, 9, 9)), Rand((8, 1, 3, 3))], {"group": 4, "pads": [2, 2, 2, 2], "dilations": [2, 2]},
                name="depthwise_multiplier2_dilated"),
        Example([Rand((1, 6, 12, 10)), Rand((9, 2, 3, 3)), Rand((9,))],
                {"group": 3, "dilations": [2, 1], "pads": [2, 1, 2, 1]}, name="grouped_dilated"),
        Example([Rand((1, 3, 10, 9)), Rand((5, 3, 4, 3))], {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
                name="same_upper", opset=1),
        Example([Rand((1, 3, 10, 9)), Rand((5, 3, 4, 3))], {"auto_pad": "SAME_LOWER", "strides": [3, 2]},
                name="same_lower", opset=22),
        Example([Rand((1, 3, 7, 8)), Rand((2, 3, 3, 3))], {"auto_pad": "VALID", "kernel_shape": [3, 3]},
                name="valid"),
        Example([Rand((2, 4, 20)), Rand((6, 4, 5)), Rand((6,))], {"pads": [2, 3], "strides": [2]}, name="1d"),
        Example([Rand((1, 6, 23)), Rand((6, 1, 3)), Rand((6,))], {"group": 6, "pads": [1, 2]}, name="1d_depthwise"),
        Example([Rand((1, 2, 5, 6, 7)), Rand((3, 2, 3, 2, 3)), Rand((3,))], {"pads": [1, 0, 1, 1, 1, 0]},
                name="3d"),
        Example([Rand((1, 3, 4, 4)), Rand((2, 3, 3, 3))], {"pads": [3, 3, 3, 3]}, name="pads_wider_than_input"),
        Example([Rand((1, 32, 7, 30)), Rand((12, 32, 3, 3))], {"pads": [1, 1, 1, 1]}, name="tiles_and_tail_block",
                rtol=1e-4, atol=1e-4),
        Example([Rand((1, 1, 49, 10)), Rand((16, 1, 10, 4)), Rand((16,))],
                {"strides": [2, 2], "pads": [4, 1, 5, 1]}, name="one_input_channel_ds_cnn_head"),
        Example([Rand((1, 2, 9, 8)), Rand((16, 1, 3, 3))], {"group": 2, "pads": [1, 1, 1, 1]},
                name="depth_multiplier_8"),
    ]


def packed_size(w_shape, group: int) -> int:
    mg = w_shape[0] // group
    return group * -(-mg // MB) * MB * int(np.prod(w_shape[1:]))


def pack(w: np.ndarray, group: int) -> np.ndarray:
    """[m][c/group][k...] -> [group][block][k][c/group][MB], zero-padded (smelt_conv_pack_f32)."""
    m, cg = w.shape[:2]
    mg, taps = m // group, int(np.prod(w.shape[2:]))
    nblk = -(-mg // MB)
    wp = np.zeros((group, nblk * MB, cg, taps), np.float32)
    wp[:, :mg] = w.reshape(group, mg, cg, taps)
    return np.ascontiguousarray(wp.reshape(group, nblk, MB, cg, taps).transpose(0, 1, 4, 3, 2)).reshape(-1)


@register
class ConvTranspose(Op):
    kernel = "conv"
    fusable_activation = True

    def from_onnx(self, node, g, opset):
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        a, n = node.attrs, len(x.shape) - 2
        if not 1 <= n <= 3:
            raise self.unsupported(node, f"{n} spatial dims (supported: 1 to 3)")
        k = [int(v) for v in a.get("kernel_shape", w.shape[2:])]
        s = [int(v) for v in a.get("strides", [1] * n)]
        d = [int(v) for v in a.get("dilations", [1] * n)]
        op = [int(v) for v in a.get("output_padding", [0] * n)]
        auto = a.get("auto_pad", "NOTSET") or "NOTSET"
        full = [s[i] * (x.shape[2 + i] - 1) + op[i] + (k[i] - 1) * d[i] + 1 for i in range(n)]
        target = a.get("output_shape")
        if target is None and auto in ("SAME_UPPER", "SAME_LOWER"):
            target = [x.shape[2 + i] * s[i] for i in range(n)]
        if target is not None:
            target = [int(v) for v in target][-n:]      # some exporters give (N, C, spatial...)
            total = [f - t for f, t in zip(full, target)]
            if any(t < 0 and (auto != "NOTSET" or -t >= si) for t, si in zip(total, s)):
                raise self.unsupported(node, f"output_shape {target} with auto_pad {auto} and full "
                                             f"output {full}")
            # a target beyond the full output (by less than a stride) extends it at the end
            begin = [max(0, t // 2 if auto == "SAME_UPPER" else t - t // 2) for t in total]
            pads = begin + [t - b for t, b in zip(total, begin)]
        elif auto in ("NOTSET", "VALID"):
            pads = [int(v) for v in a.get("pads", [0] * 2 * n)] if auto == "NOTSET" else [0] * 2 * n
            if min(pads) < 0:
                raise self.unsupported(node, f"negative pads {pads}")
        else:
            raise self.unsupported(node, f"auto_pad {auto}")
        node.attrs = {"kernel_shape": k, "strides": s, "dilations": d, "pads": pads,
                      "group": int(a.get("group", 1)), "output_padding": op}
        return node

    def infer(self, node, g):
        _check_float(self, node, g)
        x, w, a = g[node.inputs[0]], g[node.inputs[1]], node.attrs
        n, grp = len(x.shape) - 2, a["group"]
        if len(w.shape) != n + 2 or w.shape[2:] != tuple(a["kernel_shape"]) or x.shape[1] != w.shape[0] \
                or w.shape[0] % grp:
            raise ValueError(f"input {x.shape}, weights {w.shape}, group {grp} and kernel_shape "
                             f"{a['kernel_shape']} disagree")
        out = [s * (size - 1) + op + (k - 1) * d + 1 - a["pads"][i] - a["pads"][n + i]
               for i, (size, k, s, d, op) in enumerate(zip(x.shape[2:], a["kernel_shape"], a["strides"],
                                                            a["dilations"], a["output_padding"]))]
        return [((x.shape[0], w.shape[1] * grp, *out), "float32")]

    def reference(self, node, g, xs):
        x, w, b = (xs + [None])[:3]
        a, n = node.attrs, x.ndim - 2
        grp = a["group"]
        out = g[node.outputs[0]].shape
        xg = x.reshape(x.shape[0], grp, x.shape[1] // grp, *x.shape[2:])
        wg = w.reshape(grp, w.shape[0] // grp, *w.shape[1:])          # g, c, m, k...
        y = np.zeros((x.shape[0], grp, w.shape[1], *out[2:]), np.float32)
        for tap in np.ndindex(*a["kernel_shape"]):
            src, dst = [], []
            for i, t in enumerate(tap):
                s, shift = a["strides"][i], t * a["dilations"][i] - a["pads"][i]
                valid = [j for j in range(x.shape[2 + i]) if 0 <= j * s + shift < out[2 + i]]
                if not valid:
                    break
                src.append(slice(valid[0], valid[-1] + 1))
                dst.append(slice(valid[0] * s + shift, valid[-1] * s + shift + 1, s))
            else:
                y[(slice(None),) * 3 + tuple(dst)] += np.einsum(
                    "ngc...,gcm->ngm...", xg[(slice(None),) * 3 + tuple(src)], wg[(slice(None),) * 3 + tap],
                    optimize=True)
        y = y.reshape(out)
        if b is not None:
            y += b.reshape((-1,) + (1,) * n)
        return [activation.apply(y, a.get("act"))]

    def emit(self, node, g, ctx):
        x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
        bias = node.inputs[2] if len(node.inputs) > 2 else ""
        p = conv_params(g[x].shape, g[y].shape, node.attrs, node.attrs.get("act"))
        ctx.call("smelt_conv_transpose_f32", ctx.ptr(x), ctx.ptr(w), ctx.ptr(bias), ctx.ptr(y),
                 ctx.params("smelt_conv_params", p))

    def macs(self, node, g):
        x, w = g[node.inputs[0]], g[node.inputs[1]]
        return x.size * int(np.prod(w.shape[1:]))

    examples = [
        Example([Rand((1, 3, 5, 4)), Rand((3, 2, 3, 3)), Rand((2,))], name="basic_bias"),
        Example([Rand((2, 4, 5, 6)), np.random.default_rng(1).standard_normal((4, 3, 3, 2)).astype(np.float32)],
                {"strides": [2, 3], "pads": [1, 0, 0, 1], "output_padding": [1, 2]}, name="strided_pads_outpad"),
        Example([Rand((1, 4, 4, 5)), Rand((4, 2, 3, 3))], {"group": 2, "dilations": [2, 1], "strides": [1, 2]},
                name="grouped_dilated"),
        Example([Rand((1, 2, 4, 4)), Rand((2, 3, 3, 3))], {"strides": [2, 2], "output_shape": [8, 9]},
                name="output_shape"),
        Example([Rand((1, 2, 4, 4)), Rand((2, 3, 3, 3))], {"strides": [3, 2], "output_shape": [12, 8]},
                name="output_shape_beyond_full"),
        Example([Rand((1, 2, 3, 4)), Rand((2, 2, 3, 3))], {"strides": [2, 3], "auto_pad": "SAME_UPPER"},
                name="same_upper", opset=11),
        Example([Rand((1, 2, 3, 4)), Rand((2, 2, 4, 3))], {"strides": [3, 2], "auto_pad": "SAME_LOWER"},
                name="same_lower", opset=22),
        Example([Rand((1, 3, 7)), Rand((3, 4, 3)), Rand((4,))], {"strides": [2], "pads": [1, 2]}, name="1d"),
        Example([Rand((1, 2, 3, 4, 3)), Rand((2, 2, 2, 3, 2))], {"strides": [2, 1, 2]}, name="3d"),
    ]
