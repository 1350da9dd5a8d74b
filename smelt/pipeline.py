"""The compiler as one ordered list of passes. Each pass: Graph -> Graph."""
from __future__ import annotations

from .ir import Graph
from .passes import (cancel_transposes, fold_batchnorm, fold_constants, fold_pad, fuse_activation, lower_quantized,
                     remove_dead, remove_identity)

PASSES = [
    ("lower_quantized", lower_quantized.run),      # reads int8 weights through DequantizeLinear: first
    ("cancel_transposes", cancel_transposes.run),
    ("fold_constants", fold_constants.run),
    ("remove_identity", remove_identity.run),
    ("fold_batchnorm", fold_batchnorm.run),
    ("fold_pad", fold_pad.run),
    ("fuse_activation", fuse_activation.run),
    ("remove_dead", remove_dead.run),
]


def optimize(g: Graph, skip: tuple[str, ...] = (), extra: list = ()) -> Graph:
    """extra: (name, pass) steps run after PASSES, e.g. the weight formats of smelt.compress.passes()."""
    g = g.copy()
    for name, fn in list(PASSES) + list(extra):
        if name not in skip:
            g = fn(g)
            g.validate()
    return g
