"""Operator definitions: one Op subclass per operator (or family), registered by name.

An Op says, for one operator, everything the compiler needs:
  from_onnx  turn any opset's form of the ONNX node into one canonical Node (attrs, inputs)
  infer      output shapes and dtypes (may read constant inputs)
  reference  the numpy oracle, used by the interpreter, constant folding and every test
  emit       the C: one kernel call (through EmitContext), never a loop
  scratch    bytes of scratch the kernel needs (planned in the arena)
  macs       multiply-accumulates, for the report
Kernels live in smelt/ops/<kernel>.c, are declared SMELT_KERNEL (static) and are included
into the generated model.c (a unity build: the C compiler sees every constant shape).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import NeedsConstantError, UnsupportedOpError

if TYPE_CHECKING:
    from .codegen.c import EmitContext
    from .ir import Graph, Node

REGISTRY: dict[str, Op] = {}        # IR op name -> Op
ONNX_OPS: dict[str, Op] = {}        # ONNX op_type (default domain) -> Op

# dtype -> kernel name suffix
SUFFIX = {"float32": "f32", "float64": "f64", "int8": "i8", "uint8": "u8", "int16": "i16",
          "uint16": "u16", "int32": "i32", "uint32": "u32", "int64": "i64", "uint64": "u64",
          "bool": "b", "float16": "f16"}


@dataclass
class Rand:
    """A runtime input of an Example, drawn at random in [low, high)."""
    shape: tuple[int, ...]
    dtype: str = "float32"
    low: float = -1.0
    high: float = 1.0

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        if self.dtype == "bool":
            return np.asarray(rng.random(self.shape) < 0.5)
        if np.issubdtype(np.dtype(self.dtype), np.integer):
            return rng.integers(int(self.low), int(self.high), self.shape).astype(self.dtype)
        return rng.uniform(self.low, self.high, self.shape).astype(self.dtype)


@dataclass
class Example:
    """A single-node ONNX test case, run automatically by tests/test_ops.py.

    inputs: one entry per node input: Rand (a graph input), np.ndarray (an initializer), or
    None (an absent optional input). The test builds the one-node ONNX model, runs onnxruntime,
    smelt's numpy reference and the compiled C, and compares all three.
    """
    inputs: list[Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    opset: int = 17
    outputs: int = 1
    rtol: float = 1e-4
    atol: float = 1e-5
    name: str = ""
    onnx_op: str | None = None   # when the ONNX op_type differs from the Op's name


class Op:
    name: str = ""
    onnx: tuple[str, ...] | None = None   # ONNX op_types mapped here; None = (name,)
    kernel: str | tuple[str, ...] | None = None   # C file stem(s) in smelt/ops, in include order
    alias: bool = False                   # output 0 is input 0 reinterpreted (Reshape family)
    elementwise: bool = False             # out[i] depends on in[i] only (may run in place)
    foldable: bool = True                 # may be evaluated at compile time on constant inputs
    fusable_activation: bool = False      # accepts attrs['act'] (see smelt_common.h)
    examples: list[Example] = []

    # --- front end ---
    def from_onnx(self, node: Node, g: Graph, opset: int) -> Node:
        """Canonicalize the ONNX node (all opsets) in place of `node`; default: unchanged."""
        return node

    # --- compile time ---
    def infer(self, node: Node, g: Graph) -> list[tuple[tuple[int, ...], str]]:
        x = g[node.inputs[0]]
        return [(x.shape, x.dtype)]

    def reference(self, node: Node, g: Graph, xs: list[np.ndarray | None]) -> list[np.ndarray]:
        raise NotImplementedError(self.name)

    def emit(self, node: Node, g: Graph, ctx: EmitContext) -> None:
        raise self.unsupported(node, "no C kernel")

    def scratch(self, node: Node, g: Graph) -> int:
        return 0

    def macs(self, node: Node, g: Graph) -> int:
        return 0

    # --- helpers for subclasses ---
    @staticmethod
    def const(node: Node, g: Graph, index: int) -> np.ndarray | None:
        """The value of input `index` at compile time, None if the input is absent.
        Raises NeedsConstantError if it is only known at run time."""
        if index >= len(node.inputs) or not node.inputs[index]:
            return None
        t = g[node.inputs[index]]
        if t.data is None:
            raise NeedsConstantError(node.name, node.op, t.name)
        return t.data

    def unsupported(self, node: Node, detail: str) -> UnsupportedOpError:
        return UnsupportedOpError(node.name, node.op, detail=detail)

    def check_dtype(self, node: Node, dtype: str, allowed) -> None:
        if dtype not in allowed:
            raise self.unsupported(node, f"dtype {dtype} (supported: {', '.join(allowed)})")


def register(cls: type[Op]) -> type[Op]:
    """Class decorator: instantiate the Op and make it known by its name and ONNX op_types."""
    op = cls()
    if not op.name:
        op.name = cls.__name__
    REGISTRY[op.name] = op
    for onnx_name in (op.onnx if op.onnx is not None else (op.name,)):
        ONNX_OPS[onnx_name] = op
    return cls


def get(name: str) -> Op:
    _load_ops()
    return REGISTRY[name]


def lookup_onnx(op_type: str) -> Op | None:
    _load_ops()
    return ONNX_OPS.get(op_type)


def all_ops() -> dict[str, Op]:
    _load_ops()
    return REGISTRY


_loaded = False


def _load_ops() -> None:
    """Import every module in smelt.ops: adding an operator needs no list edited."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib
    import pkgutil

    from . import ops
    for mod in pkgutil.iter_modules(ops.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{ops.__name__}.{mod.name}")
