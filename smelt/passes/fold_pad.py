"""Fold a constant zero Pad over spatial dims into the following Conv or AveragePool
(count_include_pad=1), or a -inf Pad into MaxPool: the kernel pads implicitly."""
from __future__ import annotations

import numpy as np

from ..ir import Graph


def run(g: Graph) -> Graph:
    for pad in [n for n in g.nodes if n.op == "Pad"]:
        y = pad.outputs[0]
        users = g.consumers(y)
        if len(users) != 1 or y in g.outputs or pad.attrs.get("mode", "constant") != "constant":
            continue
        user = users[0]
        if user.inputs[0] != y or "pads" not in user.attrs or user.attrs.get("act"):
            continue
        value = float(pad.attrs.get("value", 0.0))
        if not _absorbs(user, value):
            continue
        pads = list(pad.attrs["pads"])
        rank = len(pads) // 2
        if any(p < 0 for p in pads) or any(pads[i] or pads[rank + i] for i in range(2)):
            continue  # only non-negative padding of the spatial dims (NCHW: dims 2..)
        spatial = rank - 2
        up = list(user.attrs["pads"])
        for i in range(spatial):
            up[i] += pads[2 + i]
            up[spatial + i] += pads[rank + 2 + i]
        user.attrs["pads"] = up
        user.inputs[0] = pad.inputs[0]
        g.nodes.remove(pad)
    return g


def _absorbs(user, value: float) -> bool:
    if user.op == "Conv":
        return value == 0.0
    if user.op == "AveragePool":
        return value == 0.0 and user.attrs.get("count_include_pad", 0) == 1
    if user.op == "MaxPool":
        return value == -np.inf
    return False
