"""Remove nodes whose outputs nobody reads, and tensors nobody references."""
from ..ir import Graph


def run(g: Graph) -> Graph:
    needed = set(g.outputs)
    kept = []
    for node in reversed(g.nodes):
        if any(o in needed for o in node.outputs if o):
            kept.append(node)
            needed.update(i for i in node.inputs if i)
    g.nodes = kept[::-1]
    used = needed | set(g.inputs) | {o for n in g.nodes for o in n.outputs if o}
    g.tensors = {k: t for k, t in g.tensors.items() if k in used}
    return g
