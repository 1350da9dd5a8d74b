"""Remove Identity and inference-time Dropout: consumers read the input directly."""
from ..ir import Graph

PASS_THROUGH = {"Identity", "Dropout"}


def run(g: Graph) -> Graph:
    for node in list(g.nodes):
        if node.op not in PASS_THROUGH:
            continue
        src, dst = node.inputs[0], node.outputs[0]
        if dst in g.outputs and (src in g.inputs or src in g.outputs or g.producer(src) is None):
            continue  # must stay a copy into the caller's output buffer
        if node.op == "Dropout" and len(node.outputs) > 1 and node.outputs[1] and g.consumers(node.outputs[1]):
            continue  # the mask is used
        g.nodes.remove(node)
        if dst in g.outputs:
            # The producer of src writes straight into the graph output.
            rename(g, src, dst)
        else:
            for c in g.consumers(dst):
                c.inputs = [src if i == dst else i for i in c.inputs]
    return g


def rename(g: Graph, old: str, new: str) -> None:
    t = g.tensors.pop(old)
    t.name = new
    g.tensors[new] = t
    for n in g.nodes:
        n.inputs = [new if i == old else i for i in n.inputs]
        n.outputs = [new if o == old else o for o in n.outputs]
