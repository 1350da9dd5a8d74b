"""Fuse an activation into the op that produces its input (attrs['act']), when that op
supports it and nobody else reads the pre-activation value."""
from __future__ import annotations

from .. import registry
from ..ir import Graph
from .remove_identity import rename


def run(g: Graph) -> Graph:
    for node in list(g.nodes):
        act_fn = getattr(registry.get(node.op), "act", None)
        if act_fn is None:
            continue
        x = node.inputs[0]
        prod = g.producer(x)
        if prod is None or not registry.get(prod.op).fusable_activation or prod.attrs.get("act"):
            continue
        if len(g.consumers(x)) != 1 or x in g.outputs or g[x].dtype != "float32":
            continue
        prod.attrs["act"] = tuple(act_fn(node, g))
        g.nodes.remove(node)
        out = node.outputs[0]
        del g.tensors[out]
        rename(g, x, out)
    return g
