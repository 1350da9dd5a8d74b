"""The intermediate representation: a Graph of Nodes over named Tensors. Small and typed."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ShapeError

# numpy dtype name -> C type
C_TYPES = {
    "float32": "float", "float64": "double", "float16": "uint16_t",
    "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "uint16": "uint16_t",
    "int32": "int32_t", "uint32": "uint32_t", "int64": "int64_t", "uint64": "uint64_t",
    "bool": "uint8_t",
}


@dataclass
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point); per-tensor or per-channel along axis."""
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None = None   # set for constants (weights, folded values)
    quant: QuantParams | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def itemsize(self) -> int:
        return np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def ctype(self) -> str:
        return C_TYPES[self.dtype]


@dataclass
class Node:
    op: str
    name: str
    inputs: list[str]          # '' marks a missing optional input
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    name: str
    tensors: dict[str, Tensor] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> Tensor:
        return self.tensors[name]

    def add(self, tensor: Tensor) -> Tensor:
        self.tensors[tensor.name] = tensor
        return tensor

    def add_const(self, name: str, data: np.ndarray) -> Tensor:
        name = self.unique(name)
        data = np.asarray(data)
        return self.add(Tensor(name, tuple(data.shape), str(data.dtype), data))

    def unique(self, base: str) -> str:
        name, i = base, 1
        while name in self.tensors:
            name, i = f"{base}_{i}", i + 1
        return name

    def producer(self, tensor: str) -> Node | None:
        for n in self.nodes:
            if tensor in n.outputs:
                return n
        return None

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def node_inputs(self, node: Node) -> list[Tensor | None]:
        return [self.tensors[i] if i else None for i in node.inputs]

    def copy(self) -> Graph:
        """A deep copy that shares constant arrays (they are never mutated in place)."""
        g = Graph(self.name, {}, [], list(self.inputs), list(self.outputs))
        for t in self.tensors.values():
            g.tensors[t.name] = Tensor(t.name, tuple(t.shape), t.dtype, t.data, copy.deepcopy(t.quant))
        g.nodes = [Node(n.op, n.name, list(n.inputs), list(n.outputs), dict(n.attrs)) for n in self.nodes]
        return g

    def validate(self) -> None:
        """Nodes are in topological order and every tensor used is defined."""
        known = set(self.inputs) | {t.name for t in self.tensors.values() if t.is_const}
        for n in self.nodes:
            for i in n.inputs:
                if i and i not in known:
                    raise ShapeError(f"node '{n.name}' ({n.op}) reads tensor '{i}' before it is produced", i)
            known.update(n.outputs)
        for o in self.outputs:
            if o not in known:
                raise ShapeError(f"graph output '{o}' is never produced", o)

    def summary(self) -> str:
        lines = [f"graph {self.name}: inputs {self.inputs} outputs {self.outputs}"]
        for n in self.nodes:
            shapes = [self.tensors[o].shape for o in n.outputs]
            lines.append(f"  {n.name}: {n.op}({', '.join(n.inputs)}) -> {n.outputs} {shapes}")
        return "\n".join(lines)
