"""Drop nodes whose outputs are all known at compile time (the front end evaluated them)."""
from ..ir import Graph


def run(g: Graph) -> Graph:
    g.nodes = [n for n in g.nodes if not all(g[o].is_const for o in n.outputs if o)]
    return g
