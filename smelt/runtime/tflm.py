"""TensorFlow Lite Micro (the `tflite-micro` Python package) as the oracle for TFLite models.

    smelt.runtime.tflm.compare("model.tflite", n_inputs=100, seed=0, layers=True)

runs the same random inputs through TFLM's interpreter and through smelt's compiled C (host build)
and counts mismatching bytes per output, and with layers=True per intermediate tensor too.
Inputs are fed as one sequence to both, so stateful models (SVDF, LSTM variable tensors) are
compared step by step from the same initial state.

`arena_bytes()` measures the arena TFLM needs: the recording allocator's report (printed on fd 2
by print_allocations) and the smallest arena that allocates and runs, found by bisection in
child processes (TFLM crashes on some too-small arenas).
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SmeltError, ToolchainError


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise ToolchainError("TFLM's Python interpreter is missing; install it with "
                             "pip install --pre tflite-micro") from None
    return runtime


def _model_bytes(model) -> bytes:
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    return Path(model).read_bytes()


@contextlib.contextmanager
def _capture_fd2():
    """Collect what C code writes on file descriptor 2 (TFLM logs and reports there)."""
    import sys
    sys.stderr.flush()
    saved = os.dup(2)
    out: list[str] = []
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            f.seek(0)
            out.append(f.read().decode("utf-8", "replace"))


def interpreter(model, arena_size: int | None = None, preserve_all: bool = False):
    """A TFLM interpreter; preserve_all keeps every intermediate tensor readable after invoke."""
    rt = _runtime()
    config = rt.InterpreterConfig.kPreserveAllTensors if preserve_all else rt.InterpreterConfig.kAllocationRecording
    with _capture_fd2() as log:
        try:
            return rt.Interpreter.from_bytes(_model_bytes(model), arena_size=arena_size, intrepreter_config=config)
        except Exception as e:
            err = e
    raise SmeltError(f"TFLM cannot load the model: {err}; {log[0].strip()[-500:]}")


def tensor(it, index: int) -> np.ndarray:
    """TFLite tensor `index` of subgraph 0 (needs preserve_all)."""
    t = it.GetTensor(index, 0)
    return np.asarray(t["tensor_data"] if isinstance(t, dict) else t)


# ---------------------------------------------------------------- arena size
@dataclass
class Arena:
    total: int          # recording allocator: head + tail
    head: int           # non-persistent (activations, scratch)
    tail: int           # persistent (tensor structs, op data, variables)
    minimum: int | None = None   # smallest arena_size that allocates and runs (bisection)


def recorded_arena(model) -> Arena:
    """The recording allocator's figures after one inference on zeros."""
    it = interpreter(model)
    _invoke_zeros(it, _num_inputs(model))
    with _capture_fd2() as log:
        it.print_allocations()
    text = log[0]
    vals = {k: int(v) for k, v in re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text)}
    if len(vals) != 3:
        raise SmeltError(f"unexpected print_allocations() report from TFLM: {text[:300]!r}")
    return Arena(vals["total"], vals["head"], vals["tail"])


def _num_inputs(model) -> int:
    import tflite
    return tflite.Model.GetRootAsModel(_model_bytes(model), 0).Subgraphs(0).InputsLength()


def _invoke_zeros(it, n_inputs: int) -> None:
    for k in range(n_inputs):
        d = it.get_input_details(k)
        it.set_input(np.zeros(d["shape"], d["dtype"]), k)
    it.invoke()


def _probe(model: bytes, size: int) -> None:
    with _capture_fd2():
        try:
            it = _runtime().Interpreter.from_bytes(model, arena_size=size)
            _invoke_zeros(it, _num_inputs(model))
        except Exception:
            os._exit(1)
    os._exit(0)


def _fits(model: bytes, size: int) -> bool:
    proc = multiprocessing.get_context("fork").Process(target=_probe, args=(model, size))
    proc.start()
    proc.join()
    return proc.exitcode == 0


def arena_bytes(model, bisect: bool = True) -> Arena:
    """TFLM's arena for the model: the recorded figures, and (bisect) the minimum that works."""
    arena = recorded_arena(model)
    if bisect:
        data = _model_bytes(model)
        lo, hi = 0, max(2 * arena.total, arena.total + 4096)
        while not _fits(data, hi):
            lo, hi = hi, 2 * hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if _fits(data, mid) else (mid, hi)
        arena.minimum = hi
    return arena


# ---------------------------------------------------------------- comparison
@dataclass
class Comparison:
    """Mismatching bytes of smelt's compiled C against TFLM, summed over all inputs."""
    model: str
    inputs: int
    outputs: dict[str, int] = field(default_factory=dict)        # smelt output name -> bytes
    layers: dict[str, int] = field(default_factory=dict)         # intermediate tensor -> bytes
    tensor_index: dict[str, int] = field(default_factory=dict)   # smelt name -> TFLite tensor index
    bytes_compared: dict[str, int] = field(default_factory=dict)
    max_abs_error: dict[str, float] = field(default_factory=dict)   # float tensors

    @property
    def mismatches(self) -> int:
        return sum(self.outputs.values())

    def table(self) -> str:
        rows = [f"{self.model}: {self.inputs} inputs, {self.mismatches} mismatching output bytes"]
        for kind, d in (("output", self.outputs), ("layer", self.layers)):
            for name, n in d.items():
                err = f", max |diff| {self.max_abs_error[name]:.3g}" if name in self.max_abs_error else ""
                rows.append(f"  {kind} {name} (TFLite tensor {self.tensor_index.get(name, '?')}): "
                            f"{n} of {self.bytes_compared.get(name, 0)} bytes differ{err}")
        return "\n".join(rows)


def random_inputs(details: list[tuple[tuple[int, ...], str]], n: int, seed: int) -> list[list[np.ndarray]]:
    """n sets of inputs: integers over their whole range, floats uniform in [-1, 1)."""
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n):
        one = []
        for shape, dtype in details:
            dt = np.dtype(dtype)
            if dt.kind in "iu":
                info = np.iinfo(dt)
                one.append(rng.integers(info.min, info.max, shape, endpoint=True).astype(dt))
            elif dt == np.bool_:
                one.append(rng.random(shape) < 0.5)
            else:
                one.append(rng.uniform(-1.0, 1.0, shape).astype(dt))
        sets.append(one)
    return sets


def run_tflm(model, inputs: list[list[np.ndarray]], n_outputs: int = 1,
             indices: list[int] = ()) -> list[dict[int, np.ndarray]]:
    """Run the input sets in sequence; per set, the outputs (keys -1, -2, ...: output 0, 1, ...) and
    the TFLite tensors listed in `indices`."""
    it = interpreter(model, preserve_all=bool(indices))
    results = []
    for one in inputs:
        for k, x in enumerate(one):
            it.set_input(np.ascontiguousarray(x), k)
        it.invoke()
        res = {-1 - k: np.array(it.get_output(k)) for k in range(n_outputs)}
        for i in indices:
            res[i] = np.array(tensor(it, i))
        results.append(res)
    return results


def compare(model_path, n_inputs: int = 10, seed: int = 0, layers: bool = False,
            inputs: list[list[np.ndarray]] | None = None) -> Comparison:
    """Compile the TFLite model with smelt, run n_inputs random inputs through it and TFLM, and
    count mismatching bytes per output (and, with layers, per intermediate tensor)."""
    import smelt
    from ..frontends import tflite as tfl

    g, mapping = tfl.read(model_path)
    outputs = list(g.outputs)
    inter = []
    if layers:
        produced = {o for n in g.nodes for o in n.outputs if o}
        inter = [t for t in mapping if t in produced and t not in outputs and not g[t].is_const]
        g.outputs = outputs + inter
    art = smelt.compile(g, name=g.name)
    if inputs is None:
        inputs = random_inputs([(g[n].shape, g[n].dtype) for n in g.inputs], n_inputs, seed)
    want = run_tflm(model_path, inputs, len(outputs), [mapping[t] for t in inter])
    host = art.host()
    host.reset()   # stateful models (SVDF, LSTM) start from their initial state, as TFLM does
    label = "<bytes>" if isinstance(model_path, (bytes, bytearray)) else str(model_path)
    cmp = Comparison(label, len(inputs), tensor_index={t: mapping[t] for t in outputs + inter})
    for one, ref in zip(inputs, want):
        got = dict(zip(art.graph.outputs, host.run(one)))
        for k, name in enumerate(outputs):
            _count(cmp, cmp.outputs, name, got[name], ref[-1 - k])
        for name in inter:
            _count(cmp, cmp.layers, name, got[name], ref[mapping[name]])
    return cmp


def _count(cmp: Comparison, where: dict, name: str, got: np.ndarray, want: np.ndarray) -> None:
    got, want = np.ascontiguousarray(got), np.ascontiguousarray(want)
    if want.dtype != got.dtype or want.size != got.size:
        diff = got.nbytes   # a different type or shape: nothing matches
    else:
        want = want.reshape(got.shape)
        diff = int(np.count_nonzero(got.view(np.uint8) != want.view(np.uint8)))
    where[name] = where.get(name, 0) + diff
    cmp.bytes_compared[name] = cmp.bytes_compared.get(name, 0) + got.nbytes
    if got.dtype.kind == "f" and want.dtype == got.dtype and want.size == got.size:
        err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)), initial=0.0))
        cmp.max_abs_error[name] = max(cmp.max_abs_error.get(name, 0.0), err)
