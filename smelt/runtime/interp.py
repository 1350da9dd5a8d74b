"""Run any ir.Graph in numpy with each Op's reference: the oracle for kernels and passes."""
from __future__ import annotations

import numpy as np

from .. import registry
from ..ir import Graph


def run(g: Graph, inputs: dict[str, np.ndarray], keep_all: bool = False) -> dict[str, np.ndarray]:
    """Outputs by name (or, with keep_all, every tensor's value)."""
    env: dict[str, np.ndarray] = {}
    for name in g.inputs:
        t = g[name]
        if name not in inputs:
            raise KeyError(f"missing input '{name}' (inputs: {g.inputs})")
        env[name] = np.asarray(inputs[name], dtype=t.dtype).reshape(t.shape)
    for t in g.tensors.values():
        if t.is_const:
            env[t.name] = t.data
    for node in g.nodes:
        op = registry.get(node.op)
        xs = [env[i] if i else None for i in node.inputs]
        ys = op.reference(node, g, xs)
        for name, y in zip(node.outputs, ys):
            if name:
                t = g[name]
                env[name] = np.asarray(y).astype(t.dtype, copy=False).reshape(t.shape)
    return env if keep_all else {o: env[o] for o in g.outputs}
