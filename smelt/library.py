"""compile_library: several models (or one multi-output model, one task per output) into one C
library with shared layers, weights stored once and one arena. See codegen/library.py for how.

    lib = smelt.compile_library(["kws.onnx", "speaker.onnx"], "out/", names=["kws", "speaker"])
    lib.run("kws", x)          # <lib>_run_kws(): the kernels of kws compiled alone, bit-exact
    lib.run_all(x)             # <lib>_run_all(): shared layers once, every task's outputs
    print(lib.report.table())  # flash and RAM vs separate compilations, which layers are shared
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import api, report as report_mod
from .codegen import c as cgen, library as libgen, project
from .errors import SmeltError
from .ir import Graph
from .runtime import library as hostlib_library


@dataclass
class LibraryReport:
    name: str
    tasks: list[dict]                 # per task compiled alone: weight, arena, I/O bytes, MACs
    weight_bytes: int                 # the library's constants in flash, each stored once
    arena_bytes: int                  # one arena: the largest entry point's need
    static_ram_bytes: int
    entry_arenas: dict[str, int]      # entry function -> its arena need
    macs_all: int                     # MACs of <lib>_run_all (shared layers once)
    shared: list[dict]                # shared layers: name, op, tasks, bytes of their constant inputs
    constants: int = 0                # unique constant declarations in the C
    deduplicated: int = 0             # declarations found identical to an earlier one
    notes: list[str] = field(default_factory=list)

    @property
    def separate_weight_bytes(self) -> int:
        return sum(t["weight_bytes"] for t in self.tasks)

    @property
    def separate_arena_bytes(self) -> int:
        return sum(t["arena_bytes"] for t in self.tasks)

    @property
    def shared_weight_bytes(self) -> int:
        return sum(s["weight_bytes"] for s in self.shared)

    def table(self) -> str:
        rows = [("task (compiled alone)", "weights B", "arena B", "I/O B", "MACs")]
        rows += [(t["task"], f"{t['weight_bytes']:,}", f"{t['arena_bytes']:,}", f"{t['io_bytes']:,}",
                  f"{t['macs']:,}") for t in self.tasks]
        rows += [("sum of separate", f"{self.separate_weight_bytes:,}", f"{self.separate_arena_bytes:,}", "",
                  f"{sum(t['macs'] for t in self.tasks):,}"),
                 (f"library {self.name}", f"{self.weight_bytes:,}", f"{self.arena_bytes:,}", "",
                  f"{self.macs_all:,} (run_all)")]
        w = [max(len(r[i]) for r in rows) for i in range(5)]
        out = ["  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)) for r in rows]
        out.insert(1, "-" * len(out[0]))
        out.insert(len(self.tasks) + 2, "-" * len(out[0]))
        saved_w = self.separate_weight_bytes - self.weight_bytes
        out += ["", f"flash (weights): {self.weight_bytes:,} B vs {self.separate_weight_bytes:,} B separately "
                f"({saved_w:,} B saved); RAM (arena): {self.arena_bytes:,} B, one arena for every entry point, "
                f"vs {self.separate_arena_bytes:,} B for separate arenas",
                *([f"static RAM (constants filled at init, stored once): {self.static_ram_bytes:,} B"]
                  if self.static_ram_bytes else []),
                "entry points: " + ", ".join(f"{f}() {a:,} B" for f, a in self.entry_arenas.items()), ""]
        if self.shared:
            out.append(f"shared layers ({len(self.shared)}, computed once by run_all; constant inputs "
                       f"{self.shared_weight_bytes:,} B, stored once):")
            wn = max(len(s["name"]) for s in self.shared)
            wo = max(len(s["op"]) for s in self.shared)
            out += [f"  {s['name']:<{wn}}  {s['op']:<{wo}}  {s['weight_bytes']:>8,} B  {', '.join(s['tasks'])}"
                    for s in self.shared]
        else:
            out.append("shared layers: none (no identical layer found; check that the tasks share inputs, "
                       "weights and quantization)")
        out += self.notes
        return "\n".join(out) + "\n"

    def to_json(self) -> str:
        d = asdict(self)
        d.update(separate_weight_bytes=self.separate_weight_bytes, separate_arena_bytes=self.separate_arena_bytes,
                 shared_weight_bytes=self.shared_weight_bytes)
        return json.dumps(d, indent=1)


class LibraryArtifact:
    """A compiled library: the folder, its entry points and the tasks compiled alone."""

    def __init__(self, path: Path, name: str, separate: dict, union: libgen.Union,
                 entries: dict[str, libgen.Entry], report: LibraryReport, temp=None):
        self.path, self.name, self.separate, self.union = Path(path), name, separate, union
        self.entries, self.report, self._temp, self._host = entries, report, temp, None
        self.tasks = list(separate)

    @property
    def arena_size(self) -> int:
        return self.report.arena_bytes

    def host(self) -> dict[str, hostlib_library.HostEntry]:
        """The host build: one HostEntry per entry point ("<task>" and "all"), sharing one arena."""
        if self._host is None:
            lib = hostlib_library.load(self.path, self.name)
            self._host = {}
            arena = None
            for e in self.entries.values():
                g = e.graph
                h = hostlib_library.HostEntry(lib, e.func, f"{self.name}_reset",
                                              [(n, g[n].shape, g[n].dtype) for n in g.inputs],
                                              [(n, g[n].shape, g[n].dtype) for n in g.outputs], self.arena_size)
                arena = h.arena if arena is None else arena
                h.arena = arena
                self._host[e.task] = h
        return self._host

    def _feeds(self, g: Graph, inputs) -> list[np.ndarray]:
        if isinstance(inputs, dict):
            missing = [n for n in g.inputs if n not in inputs]
            if missing:
                raise SmeltError(f"missing inputs {missing}; this entry point takes {g.inputs}")
            return [np.asarray(inputs[n]) for n in g.inputs]
        inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        if len(inputs) != len(g.inputs):
            raise SmeltError(f"this entry point takes {len(g.inputs)} inputs ({g.inputs}), got {len(inputs)}")
        return inputs

    def run(self, task: str, inputs) -> dict[str, np.ndarray]:
        """<lib>_run_<task>() on the host: {output name (as in the task's model): array}."""
        if task not in self.separate:
            raise SmeltError(f"no task '{task}' in library {self.name}; tasks: {self.tasks}")
        e = self.entries[task]
        return dict(zip(e.graph.outputs, self.host()[task].run(self._feeds(e.graph, inputs))))

    def run_all(self, inputs) -> dict[str, dict[str, np.ndarray]]:
        """<lib>_run_all() on the host (shared layers once): {task: {output name: array}}."""
        e = self.entries["all"]
        outs = self.host()["all"].run(self._feeds(e.graph, inputs))
        result, k = {}, 0
        for task in self.tasks:
            names = self.separate[task].graph.outputs
            result[task] = dict(zip(names, outs[k:k + len(names)]))
            k += len(names)
        return result


def _task_name(model, index: int) -> str:
    if isinstance(model, (str, os.PathLike)):
        return Path(model).stem
    if isinstance(model, Graph):
        return model.name
    g = getattr(model, "graph", None)
    return getattr(g, "name", "") or f"task{index}"


def _unique_names(names: list[str]) -> list[str]:
    out = []
    for n in names:
        base = cgen.c_ident(n).lower()
        base = "task_all" if base == "all" else base
        n, k = base, 1
        while n in out:
            n, k = f"{base}_{k}", k + 1
        out.append(n)
    return out


def _split(model, options: dict) -> dict[str, Graph]:
    """One multi-output model -> one graph per output (pipeline's dead-node removal keeps what
    each output needs). Quantization, if asked, happens once, before the split."""
    if options.get("quantize"):
        model, _ = api._quantize(model, options["quantize"], options.get("calib"),
                                 options.get("calib_method", "auto"), options.get("example_inputs"))
        options = {k: v for k, v in options.items() if k not in ("quantize", "calib", "calib_method")}
    g = api.load(model, input_shapes=options.get("input_shapes"), freeze=options.get("freeze"),
                 example_inputs=options.get("example_inputs"))
    parts = {}
    for o in g.outputs:
        part = g.copy()
        part.outputs = [o]
        parts[o] = part
    return parts, options


def compile_library(models, out: str | os.PathLike | None = None, *, names: list[str] | None = None,
                    name: str = "lib", split_outputs: bool | None = None, **options) -> LibraryArtifact:
    """Compile several models (paths to .onnx/.tflite, ModelProto, ir.Graph, torch modules) into
    one library folder `out` (a temporary folder when None). One model with several outputs is
    split into one task per output (split_outputs=None: when a single model is given).
    `options` are api.compile's (quantize=, calib=, input_shapes=, ...), applied to every task.

    Entry points: <name>_run_<task>(in.., out..) for each task and <name>_run_all(in.., outs of
    every task..) which computes the shared layers once; *_with_arena variants take the arena."""
    if options.get("io_in_arena"):
        raise SmeltError("compile_library: entry points take the caller's input and output buffers; "
                         "io_in_arena is not available for a library")
    models = list(models) if isinstance(models, (list, tuple)) else [models]
    if not models:
        raise SmeltError("compile_library needs at least one model")
    lib = cgen.c_ident(name).lower()
    if split_outputs is None:
        split_outputs = len(models) == 1
    if split_outputs:
        if len(models) != 1:
            raise SmeltError("split_outputs=True takes one multi-output model")
        parts, opts = _split(models[0], dict(options))
        graphs, task_opts = list(parts.values()), [opts] * len(parts)
        default_names = list(parts)
    else:
        graphs, task_opts = models, [options] * len(models)
        default_names = [_task_name(m, i) for i, m in enumerate(models)]
    if names is not None and len(names) != len(graphs):
        raise SmeltError(f"compile_library: {len(names)} names for {len(graphs)} tasks")
    tasks = _unique_names(names or default_names)

    separate = {t: api.compile(m, None, name=t, **o) for t, m, o in zip(tasks, graphs, task_opts)}
    union = libgen.merge({t: a.graph for t, a in separate.items()}, f"{lib}_all")
    ug, uplan = libgen.plan_union(union.graph)
    union.graph = ug
    entries = {t: libgen.Entry(f"{lib}_run_{t}", t, a.graph, a.plan) for t, a in separate.items()}
    entries["all"] = libgen.Entry(f"{lib}_run_all", "all", ug, uplan)
    emitted = libgen.generate(list(entries.values()), lib)

    urep = report_mod.build(ug, uplan)
    rep = LibraryReport(
        lib, [{"task": t, "weight_bytes": a.report.weight_bytes, "arena_bytes": a.report.arena_bytes,
               "io_bytes": a.report.input_bytes + a.report.output_bytes, "macs": a.report.macs}
              for t, a in separate.items()],
        emitted.weight_bytes, libgen.arena_size(list(entries.values())), emitted.static_ram_bytes,
        {e.func: e.plan.arena_size for e in entries.values()}, urep.macs,
        [{"name": u.node.name, "op": u.node.op, "tasks": u.tasks, "weight_bytes": u.weight_bytes}
         for u in union.shared()], emitted.constants, emitted.deduplicated)

    def fill(folder: Path) -> None:
        project.write_files(folder, lib, emitted.header, emitted.source, emitted.kernels,
                            {"report.txt": rep.table(), "report.json": rep.to_json()},
                            needs_libm=emitted.float_model)

    folder, temp = project.write_output(out, lib, fill, temp_prefix="smelt-lib-")
    return LibraryArtifact(folder, lib, separate, union, entries, rep, temp)
