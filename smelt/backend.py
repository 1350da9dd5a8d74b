"""onnx.backend.base.Backend on the compiled-C path: every run goes through generated C built
for the host and called through ctypes (never through the numpy interpreter).

    import smelt.backend
    rep = smelt.backend.prepare(model)          # a SmeltRep; compiles lazily
    y, = rep.run([x])                            # compiles for x's shapes on first use
    y, = smelt.backend.run_node(node, [x])       # a one-node model

An ONNX model only fixes its inputs' types; smelt compiles for static shapes, and some ops need
an input's *value* at compile time (a Reshape's shape, a Clip's bounds given as graph inputs).
So a SmeltRep compiles on first run with the given inputs, freezes the graph inputs whose values
are needed, and keeps one compiled artifact per input signature (shapes, dtypes, frozen values).

What smelt does not support (an op, a dtype, a value only known at run time) raises
unittest.SkipTest with the reason, so onnx's BackendTest reports a skip rather than a failure.
"""
from __future__ import annotations

import unittest

import numpy as np
import onnx
from onnx import helper
from onnx.backend.base import Backend, BackendRep, namedtupledict

from .api import Artifact, compile as smelt_compile
from .errors import NeedsConstantError, UnsupportedOpError


def compile_for(model: onnx.ModelProto, feeds: dict[str, np.ndarray],
                frozen=()) -> tuple[Artifact, list[str]]:
    """Compile `model` for these input values; returns (artifact, frozen input names).

    Inputs named in `frozen`, and every input an op turns out to need at compile time
    (NeedsConstantError), become constants with their value in `feeds`; the others keep
    their runtime role with the shape of their value. A NeedsConstantError on a tensor that
    is not a graph input propagates.
    """
    frozen = list(frozen)
    while True:
        shapes = {n: np.shape(v) for n, v in feeds.items() if n not in frozen}
        try:
            art = smelt_compile(model, input_shapes=shapes, freeze={n: feeds[n] for n in frozen})
            return art, frozen
        except NeedsConstantError as e:
            if e.tensor not in feeds or e.tensor in frozen:
                raise
            frozen.append(e.tensor)


class SmeltRep(BackendRep):
    """A prepared model: compiled on first run, one artifact per input signature."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        init = {i.name for i in model.graph.initializer}
        self.input_names = [i.name for i in model.graph.input if i.name not in init]
        self.output_names = [o.name for o in model.graph.output]
        self.frozen: list[str] = []               # inputs compiled in as constants
        self.artifacts: dict[tuple, Artifact] = {}  # input signature -> compiled model

    def _check_tensor_types(self) -> None:
        """Sequences, optionals and maps are an unsupported feature: a skip."""
        for role, values in (("input", self.model.graph.input), ("output", self.model.graph.output)):
            for vi in values:
                kind = vi.type.WhichOneof("value")
                if kind not in ("tensor_type", None):
                    raise unittest.SkipTest(f"graph {role} '{vi.name}' is a {kind.replace('_type', '')}: "
                                            f"smelt compiles tensors only")

    def _feeds(self, inputs) -> dict[str, np.ndarray]:
        if isinstance(inputs, dict):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError(f"missing inputs {missing}; the model's inputs are {self.input_names}")
            return {n: np.asarray(inputs[n]) for n in self.input_names}
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if len(inputs) != len(self.input_names):
            raise ValueError(f"the model takes {len(self.input_names)} inputs ({self.input_names}), "
                             f"got {len(inputs)}")
        return {n: np.asarray(x) for n, x in zip(self.input_names, inputs)}

    def _signature(self, feeds: dict[str, np.ndarray]) -> tuple:
        types = tuple((n, x.shape, x.dtype.str) for n, x in feeds.items())
        values = tuple(np.ascontiguousarray(feeds[n]).tobytes() for n in self.frozen)
        return types + values

    def artifact(self, feeds: dict[str, np.ndarray]) -> Artifact:
        """The compiled model for these inputs (compiled now if not cached)."""
        art = self.artifacts.get(self._signature(feeds))
        if art is None:
            try:
                art, self.frozen = compile_for(self.model, feeds, self.frozen)
            except (UnsupportedOpError, NeedsConstantError) as e:
                raise unittest.SkipTest(str(e)) from e
            self.artifacts[self._signature(feeds)] = art
        return art

    def run(self, inputs, **kwargs) -> tuple:
        """Outputs in the model's output order, as a namedtuple also indexable by name."""
        self._check_tensor_types()
        feeds = self._feeds(inputs)
        art = self.artifact(feeds)
        got = art.run(feeds)
        outputs = [got[n] for n in art.graph.outputs]
        return namedtupledict("Outputs", self.output_names)(*outputs)


class SmeltBackend(Backend):
    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.split(":")[0].upper() == "CPU"

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs) -> SmeltRep:
        if not cls.supports_device(device):
            raise ValueError(f"smelt runs on the CPU only, not on '{device}'")
        super().prepare(model, device, **kwargs)   # onnx.checker
        return SmeltRep(model)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs, device: str = "CPU", outputs_info=None,
                 **kwargs) -> tuple:
        """Run one node: `inputs` are the values of its non-empty inputs, in order (or a dict by
        name); `outputs_info` optionally gives (dtype, shape) per output."""
        if not cls.supports_device(device):
            raise ValueError(f"smelt runs on the CPU only, not on '{device}'")
        super().run_node(node, inputs, device, outputs_info, **kwargs)   # onnx.checker
        names = [n for n in node.input if n]
        if isinstance(inputs, dict):
            values = [np.asarray(inputs[n]) for n in names]
        else:
            values = [np.asarray(x) for x in inputs]
        if len(values) != len(names):
            raise ValueError(f"node '{node.name}' ({node.op_type}) has inputs {names}, got {len(values)} values")
        graph_inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)
                        for n, x in zip(names, values)]
        if outputs_info:
            graph_outputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(np.dtype(dt)), shape)
                             for n, (dt, shape) in zip(node.output, outputs_info)]
        else:
            graph_outputs = [helper.make_empty_tensor_value_info(n) for n in node.output if n]
        graph = helper.make_graph([node], f"{node.op_type}_node", graph_inputs, graph_outputs)
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        return SmeltRep(model).run(values)   # not prepare(): the outputs may have no type


# The module itself is a backend too: onnx.backend.test.BackendTest(smelt.backend, __name__).
is_compatible = SmeltBackend.is_compatible
prepare = SmeltBackend.prepare
run_model = SmeltBackend.run_model
run_node = SmeltBackend.run_node
supports_device = SmeltBackend.supports_device
