"""Binarize the inner int8 layers into XNOR + popcount layers (smelt/ops/bnn.py), post-training.

Each QConv2D (one group) / QFullyConnected chosen (by default all but the first and the last
int8 layer with weights; depthwise layers stay int8) becomes BConv2D / BFullyConnected:
  activations  x -> sign(x - tau[c]): a QBinarize node, tau the per-channel median of x on the
               calibration data; a +1 stands for beta = mean |x - tau| (the packed tensor's scale);
  weights      sign(w), per output channel scale alpha[c] = mean |w| (XNOR-Net);
  bias         the layer's bias plus sum(w * tau) (the dropped offset, exact inside the image),
               in units of beta * alpha[c].
A layer whose only consumer is another binarized layer outputs bits directly: its scale, bias and
activation fold into one integer threshold per channel on the popcount dot product (no int8
tensor between two binary layers); the last binary layer of a chain requantizes to int8.
`stats` ({int8 tensor: (tau per channel, beta)}) may come from QAT instead of calibration.
"""
from __future__ import annotations

import numpy as np

from .. import quant
from ..ir import Graph, Node, QuantParams, Tensor
from ..ops.bnn import pack_signs, packed_channels
from .lowbit_weights import candidates

OPS = {"QConv2D": "BConv2D", "QFullyConnected": "BFullyConnected"}
INT32_MIN = -2**31


def qp(scale, axis=None) -> QuantParams:
    s = np.asarray(scale, np.float32).reshape(-1)
    return QuantParams(s, np.zeros(s.size, np.int64), axis)


def choose(g: Graph, keep_first_last: bool = True, layers=None) -> list[Node]:
    nodes = candidates(g)
    if keep_first_last:
        nodes = nodes[1:-1]
    nodes = [n for n in nodes if n.op in OPS and (n.op != "QConv2D" or g[n.inputs[1]].shape[3] == g[n.inputs[0]].shape[3])]
    return [n for n in nodes if layers is None or n.name in set(layers)]


def activation_stats(g: Graph, tensors: list[str], samples: list[dict]) -> dict:
    """{int8 tensor: (per-channel median of its real values, mean |x - median|)} over samples."""
    from ..runtime import interp
    vals = {t: [] for t in tensors}
    for s in samples:
        env = interp.run(g, s, keep_all=True)
        for t in tensors:
            x = g[t]
            real = (env[t].astype(np.float64) - quant.zero_point(x)) * float(quant.scale(x))
            vals[t].append(real.reshape(-1, x.shape[-1]))
    out = {}
    for t, v in vals.items():
        v = np.concatenate(v)
        tau = np.median(v, axis=0)
        out[t] = (tau, float(np.abs(v - tau).mean()) or 1.0)
    return out


def run(g: Graph, stats: dict, keep_first_last: bool = True, layers=None) -> Graph:
    chosen = choose(g, keep_first_last, layers)
    names = {n.name for n in chosen}
    for node in chosen:
        x = node.inputs[0]
        tau, beta = stats[x]
        # (scale, bias) in real units of the float layer: y = s_x * s_w[c] * (acc + bias_q)
        xt, w = g[x], g[node.inputs[1]]
        s8 = np.broadcast_to(w.quant.scale.astype(np.float64), (w.shape[0],))
        wf = w.data.astype(np.float64) * s8.reshape((-1,) + (1,) * (w.data.ndim - 1))
        alpha = np.abs(wf).reshape(w.shape[0], -1).mean(axis=1)
        alpha = np.where(alpha > 0, alpha, 1.0)
        bias_q = g[node.inputs[2]].data.astype(np.float64) if len(node.inputs) > 2 and node.inputs[2] else 0.0
        tau_term = (wf * np.broadcast_to(tau, (wf.shape[-1],))).reshape(w.shape[0], -1).sum(axis=1)
        bias = (bias_q * float(quant.scale(xt)) * s8 + tau_term) / (beta * alpha)   # units of beta * alpha
        node.attrs = {**node.attrs, "channels": xt.shape[-1], "out": "int8", "format": "xnor"}
        packed_w = g.add_const(w.name + "_sign", pack_signs(wf >= 0))
        packed_w.quant = qp(alpha, 0)
        node.attrs["_fold"] = (alpha, bias, beta)
        src = g.producer(x)
        if src is not None and src.name in names and len(g.consumers(x)) == 1 and x not in g.outputs:
            node.inputs = [x, packed_w.name]         # the producer will write bits (below)
        else:
            t_q = np.ceil(tau / float(quant.scale(xt)) + quant.zero_point(xt))
            bx = g.add(Tensor(g.unique(x + "_bits"), xt.shape[:-1] + (packed_channels(xt.shape[-1]),), "uint8",
                              quant=qp(beta)))
            g.nodes.insert(g.nodes.index(node), Node("QBinarize", bx.name + "/QBinarize", [x], [bx.name],
                                                     {"threshold": np.clip(t_q, -1000, 1000).astype(int).tolist()}))
            node.inputs = [bx.name, packed_w.name]
        b = g.add_const(node.name + "_bias_bnn", np.clip(np.round(bias), -2**31, 2**31 - 1).astype(np.int32))
        node.inputs.append(b.name)
        node.op = OPS[node.op]
    # outputs feeding a binary layer become bits: threshold = the next layer's tau
    for node in [n for n in g.nodes if n.op in OPS.values() and n.name in names]:
        alpha, bias, _ = node.attrs.pop("_fold")
        y = node.outputs[0]
        users = g.consumers(y)
        if len(users) != 1 or users[0].name not in names or y in g.outputs or users[0].inputs[0] != y:
            continue
        tau, beta_next = stats[y]
        s = beta_of(g, node) * alpha
        relu = node.attrs.get("activation", "NONE") in ("RELU", "RELU6")
        thr = np.ceil(np.broadcast_to(tau, alpha.shape) / s - bias)
        thr = np.where(relu & (np.broadcast_to(tau, alpha.shape) <= 0), INT32_MIN + 1, thr)
        node.attrs.update(out="binary", threshold=np.clip(thr, INT32_MIN + 1, 2**31 - 1).astype(np.int64).tolist(),
                          flip=[0] * alpha.size)
        node.inputs = node.inputs[:2]
        yt = g[y]
        yt.shape, yt.dtype, yt.quant = yt.shape[:-1] + (packed_channels(yt.shape[-1]),), "uint8", qp(beta_next)
    for node in g.nodes:
        node.attrs.pop("_fold", None)
    return g


def beta_of(g: Graph, node: Node) -> float:
    return float(g[node.inputs[0]].quant.scale.reshape(-1)[0])

