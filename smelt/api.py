"""The public API: load a model into the IR, compile it to a folder of C, run it on the host."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import pipeline, report as report_mod
from .codegen import c as cgen, project
from .errors import SmeltError
from .ir import Graph
from . import plan as plan_mod
from .plan import memory
from .runtime import hostlib, interp


def load(model, input_shapes: dict | None = None, freeze: dict | None = None,
         example_inputs=None, name: str | None = None) -> Graph:
    """A model (path to .onnx/.tflite, ONNX ModelProto or bytes, torch.nn.Module) as an ir.Graph."""
    if isinstance(model, Graph):
        return model
    if _is_torch_module(model):
        from .frontends import torch as torch_fe
        model = torch_fe.to_onnx(model, example_inputs)
    if isinstance(model, (str, os.PathLike)) and str(model).endswith(".tflite"):
        from .frontends import tflite
        return tflite.import_tflite(model, name=name)
    from .frontends import onnx as onnx_fe
    return onnx_fe.import_onnx(model, input_shapes=input_shapes, freeze=freeze, name=name)


def _is_torch_module(model) -> bool:
    mod = type(model).__module__
    return mod.startswith("torch") or any(c.__module__.startswith("torch.nn") for c in type(model).__mro__)


class Artifact:
    """A compiled model: the output folder, the optimized graph, its memory plan and report."""

    def __init__(self, path: Path, name: str, graph: Graph, plan: memory.MemoryPlan,
                 report: report_mod.Report, source_graph: Graph, temp=None):
        self.path, self.name, self.graph, self.plan = Path(path), name, graph, plan
        self.report, self.source_graph = report, source_graph
        self._temp, self._host = temp, None
        self.quant_report = None     # compile(..., quantize="int8"): the PTQ report
        self.patching = None         # compile(..., ram_budget=): the plan.patches.Patching chosen

    def _feeds(self, inputs) -> list[np.ndarray]:
        g = self.graph
        if isinstance(inputs, dict):
            missing = [n for n in g.inputs if n not in inputs]
            if missing:
                raise SmeltError(f"missing inputs {missing}; the model's inputs are {g.inputs}")
            return [np.asarray(inputs[n]) for n in g.inputs]
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if len(inputs) != len(g.inputs):
            raise SmeltError(f"the model takes {len(g.inputs)} inputs ({g.inputs}), got {len(inputs)}")
        return [np.asarray(x) for x in inputs]

    def host(self) -> hostlib.HostModel:
        if self._host is None:
            lib = hostlib.build(self.path, self.name)
            g = self.graph
            self._host = hostlib.HostModel(
                lib, self.name, [(n, g[n].shape, g[n].dtype) for n in g.inputs],
                [(n, g[n].shape, g[n].dtype) for n in g.outputs], self.plan.arena_size,
                io_offsets=([self.plan.offset(n) for n in g.inputs], [self.plan.offset(n) for n in g.outputs])
                if self.plan.io_in_arena else None)
        return self._host

    def run(self, inputs) -> dict[str, np.ndarray]:
        """Run the compiled C on the host: {output name: array}."""
        outs = self.host().run(self._feeds(inputs))
        return dict(zip(self.graph.outputs, outs))

    def reference(self, inputs) -> dict[str, np.ndarray]:
        """Run the optimized graph in the numpy interpreter (the oracle)."""
        return interp.run(self.graph, dict(zip(self.graph.inputs, self._feeds(inputs))))


def compile(model, out: str | os.PathLike | None = None, *, name: str | None = None,
            input_shapes: dict | None = None, freeze: dict | None = None,
            example_inputs=None, quantize: str | None = None, calib=None,
            calib_method: str = "auto", weights: str | None = None, compress: dict | None = None,
            ram_budget: int | str | None = None, io_in_arena: bool = False, planner: str = "best",
            html: bool = False, sparse: bool = False) -> Artifact:
    """Compile a model to a folder of C (a temporary folder when `out` is None).

    quantize="int8" first quantizes a float ONNX model / torch module post-training with the
    calibration inputs `calib` (dict input name -> array, samples first; or a path to .npz),
    see smelt.quantize; `Artifact.quant_report` then holds the per-layer SQNR report.
    quantize="int4" | "ternary" | "binary" | "palette" | "xnor" then packs the int8 weights into that
    format (options in `compress`, e.g. {"clusters": 16}); weights="fp16" stores a float model's
    weights as IEEE half. See smelt.compress. sparse=True stores the int8 conv / FC layers whose
    weights are mostly zero blocks (after smelt.prune.magnitude) block-sparse where that saves flash.
    ram_budget (bytes, or "32K"): when the activation RAM (arena + I/O) exceeds it, the first layers
    run patch by patch (plan/patches.py), or a SmeltError says the smallest RAM reachable.
    io_in_arena=True plans the inputs and outputs inside the arena (as TFLM does; model.h then has
    <name>_input(k) / <name>_output(k) / <name>_invoke()); planner="greedy-by-size" keeps TFLM's
    offset heuristic alone and the node order as given ("best": scheduling, every heuristic, CP-SAT).
    html=True also writes report.html and memory.png (the memory timeline) into the folder."""
    from . import compress as compress_mod
    quant_report = None
    if quantize is not None:
        compress_mod.check_quantize(quantize)
        model, quant_report = _quantize(model, "int8", calib, calib_method, example_inputs)
    source = load(model, input_shapes=input_shapes, freeze=freeze, example_inputs=example_inputs, name=name)
    extra = compress_mod.passes(quantize, compress, weights, calib)
    if sparse:
        from .passes import sparsify
        extra.append(("sparsify", sparsify.run))
    g = pipeline.optimize(source, extra=extra)
    patching = None
    if ram_budget is not None:   # patch-based inference: the split and grid that fit, fewest extra MACs
        from .plan import patches
        g, patching = patches.apply(g, patches.parse_bytes(ram_budget))
    prefix = cgen.c_ident(name or "model").lower()
    g, plan = plan_mod.make(g, io_in_arena=io_in_arena, planner=planner)
    hdr, src, ctx = cgen.generate(g, plan, prefix)
    rep = report_mod.build(g, plan, ctx.weight_bytes, ctx.static_ram_bytes, ctx.state_bytes)
    if patching is not None:
        rep.notes.append(patching.describe())

    text = rep.table() + "\n" + ("" if quant_report is None else "\nint8 quantization\n" + quant_report.table() + "\n")

    def fill(folder: Path) -> None:
        project.write_files(folder, prefix, hdr, src, ctx.kernels,
                            {"report.txt": text, "report.json": rep.to_json(), **(rep.files() if html else {})},
                            needs_libm=cgen.is_float_model(g))

    folder, temp = project.write_output(out, prefix, fill)
    art = Artifact(folder, prefix, g, plan, rep, source, temp)
    art.quant_report = quant_report
    art.patching = patching
    return art


def _quantize(model, scheme: str, calib, method: str, example_inputs):
    """(QDQ ONNX model, QuantReport) of a float model, calibrated on `calib`."""
    from . import quantize as q
    if scheme != "int8":
        raise SmeltError(f"quantize='{scheme}' is not available: use 'int8'")
    if calib is None:
        raise SmeltError("quantize='int8' needs calibration inputs: calib={input name: array [samples, ...]} "
                         "or the path of an .npz")
    if isinstance(calib, (str, os.PathLike)):
        calib = q.load_calib(calib)
    if isinstance(model, Graph) or (isinstance(model, (str, os.PathLike)) and str(model).endswith(".tflite")):
        raise SmeltError("post-training quantization takes a float ONNX model or torch module; "
                         "a .tflite model is already quantized by its converter")
    if _is_torch_module(model):
        from .frontends import torch as torch_fe
        model = torch_fe.to_onnx(model, example_inputs)
    return q.quantize(model, calib, method=method)
