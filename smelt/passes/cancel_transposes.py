"""Remove the layout Transposes that lowering NCHW models onto NHWC ops leaves between ops.

  * Transpose(p2) of Transpose(p1): one Transpose of the composed permutation from the first
    input, or nothing when the composition is the identity (the first one dies when nobody else
    reads it).
  * A Transpose feeding an elementwise one-input op (a requantization, an activation, a
    per-tensor QuantizeLinear / DequantizeLinear) whose result only feeds Transposes moves below
    the op, so that it meets, and cancels, the Transpose after it.
  * A Transpose that only moves size-1 dimensions is a Reshape (no data moves, no kernel).
So a quantized CNN lowered by lower_quantized keeps transposes only at the graph's edges.
"""
from __future__ import annotations

from ..ir import Graph, Node, Tensor
from ..ops.transpose import reduce_perm
from . import remove_dead

UNARY = {"QQuantize", "QRelu", "QRelu6", "QLeakyRelu", "QLogistic", "QTanh", "QHardSwish", "QDequantize",
         "Relu", "Clip", "Sigmoid", "Tanh", "LeakyRelu", "Abs", "Neg", "Exp", "Log", "Sqrt", "Cast"}


def _elementwise(node: Node) -> bool:
    if node.op in ("QuantizeLinear", "DequantizeLinear"):
        return node.attrs["axis"] is None
    return node.op in UNARY and len([i for i in node.inputs if i]) == 1


def _cancel_pairs(g: Graph) -> bool:
    changed = False
    for t2 in [n for n in g.nodes if n.op == "Transpose"]:
        t1 = g.producer(t2.inputs[0])
        if t1 is None or t1.op != "Transpose" or t2 not in g.nodes:
            continue
        p1, p2 = t1.attrs["perm"], t2.attrs["perm"]
        perm = [p1[p] for p in p2]
        src, out = t1.inputs[0], t2.outputs[0]
        if perm == list(range(len(perm))) and out not in g.outputs:
            g.nodes.remove(t2)
            for c in g.consumers(out):
                c.inputs = [src if i == out else i for i in c.inputs]
        else:
            t2.inputs[0], t2.attrs["perm"] = src, perm
        changed = True
    return changed


def _sink_through_unary(g: Graph) -> bool:
    changed = False
    for t in [n for n in g.nodes if n.op == "Transpose"]:
        mid = t.outputs[0]
        users = g.consumers(mid)
        if len(users) != 1 or mid in g.outputs or not _elementwise(users[0]):
            continue
        e = users[0]
        y = e.outputs[0]
        after = g.consumers(y)
        if y in g.outputs or not after or any(a.op != "Transpose" for a in after):
            continue
        x = t.inputs[0]
        new = g.add(Tensor(g.unique(y + "_pre"), g[x].shape, g[y].dtype, quant=g[y].quant))
        e.inputs = [x if i == mid else i for i in e.inputs]
        e.outputs = [new.name]
        t.inputs, t.outputs = [new.name], [y]
        del g.tensors[mid]
        i, j = g.nodes.index(t), g.nodes.index(e)
        g.nodes[i], g.nodes[j] = e, t
        changed = True
    return changed


def _size1_to_reshape(g: Graph) -> None:
    for n in g.nodes:
        if n.op != "Transpose":
            continue
        shape = g[n.inputs[0]].shape
        _, perm = reduce_perm(shape, n.attrs["perm"])
        if perm == list(range(len(perm))):
            n.op, n.attrs = "Reshape", {"shape": tuple(g[n.outputs[0]].shape)}


def run(g: Graph) -> Graph:
    if not any(n.op == "Transpose" for n in g.nodes):
        return g
    while _cancel_pairs(g) | _sink_through_unary(g):
        g = remove_dead.run(g)
    _size1_to_reshape(g)
    return remove_dead.run(g)
