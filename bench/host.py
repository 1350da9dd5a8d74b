"""Host benchmark: smelt's compiled C against onnxruntime (one thread) on this machine.

    python -m bench.host [--models ds_cnn,resnet8] [--repeat 30] [--light] [--json out.json]

For each model: compile with smelt, check the compiled C against onnxruntime (max abs diff on the
same input), time both (median of --repeat runs after a warm-up, the two interleaved so machine
load hits both alike), and measure the working memory of each (smelt: the planned arena;
onnxruntime: the peak of its CPU allocator during one inference, measured by interposing the C++
aligned operator new it allocates with). --light adds the 8 ONNX "light" model-zoo models shipped
in the onnx wheel (224x224 inputs: slow; they use --light-repeat).
"""
from __future__ import annotations

import argparse
import ctypes
import glob
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from bench import models

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
ROOT = Path(__file__).resolve().parents[1]

# --- onnxruntime -----------------------------------------------------------------------------


def ort_session(model_path: Path, arena: bool = True):
    """One thread, sequential execution, default graph optimizations (what a user gets)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.enable_cpu_mem_arena = arena
    so.log_severity_level = 3          # no warnings about unused initializers in the light models
    return ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])


# onnxruntime's CPUAllocator takes every tensor buffer (activations, the memory-pattern block,
# kernel scratch, outputs) from the C++ aligned operator new. This preload library replaces the
# aligned new/delete family and counts the bytes live and their peak; nothing else in the process
# (Python, numpy) uses aligned new.
_SHIM_C = r"""
#include <stdlib.h>

static size_t live, peak;

static void *count_alloc(size_t size, size_t align, int nothrow)
{
    size_t hdr = align < 16 ? 16 : align;   /* room for the size, keeps the alignment */
    void *base = NULL;
    if (posix_memalign(&base, align < sizeof(void *) ? sizeof(void *) : align, size + hdr) != 0) {
        if (nothrow) return NULL;
        abort();
    }
    char *p = (char *)base + hdr;
    ((size_t *)p)[-1] = size;
    size_t now = __atomic_add_fetch(&live, size, __ATOMIC_RELAXED);
    size_t old = __atomic_load_n(&peak, __ATOMIC_RELAXED);
    while (now > old &&
           !__atomic_compare_exchange_n(&peak, &old, now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return p;
}

static void count_free(void *p, size_t align)
{
    if (!p) return;
    __atomic_sub_fetch(&live, ((size_t *)p)[-1], __ATOMIC_RELAXED);
    free((char *)p - (align < 16 ? 16 : align));
}

size_t smelt_shim_live(void) { return __atomic_load_n(&live, __ATOMIC_RELAXED); }
size_t smelt_shim_peak(void) { return __atomic_load_n(&peak, __ATOMIC_RELAXED); }
void smelt_shim_reset_peak(void) { __atomic_store_n(&peak, smelt_shim_live(), __ATOMIC_RELAXED); }

/* operator new / new[] (size_t, std::align_val_t) [, const std::nothrow_t &] */
void *_ZnwmSt11align_val_t(size_t n, size_t a) { return count_alloc(n, a, 0); }
void *_ZnamSt11align_val_t(size_t n, size_t a) { return count_alloc(n, a, 0); }
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t)
{ (void)t; return count_alloc(n, a, 1); }
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *t)
{ (void)t; return count_alloc(n, a, 1); }
/* operator delete / delete[] (void *, [size_t,] std::align_val_t) [, const std::nothrow_t &] */
void _ZdlPvSt11align_val_t(void *p, size_t a) { count_free(p, a); }
void _ZdaPvSt11align_val_t(void *p, size_t a) { count_free(p, a); }
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)n; count_free(p, a); }
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)n; count_free(p, a); }
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t) { (void)t; count_free(p, a); }
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *t) { (void)t; count_free(p, a); }
"""


def _build_shim() -> Path:
    from smelt.runtime import hostlib
    cc = hostlib.compiler()
    lib = hostlib.CACHE / f"ort_alloc_shim-{hashlib.sha256((cc + _SHIM_C).encode()).hexdigest()[:16]}.so"
    if not lib.exists():
        lib.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "shim.c"
            src.write_text(_SHIM_C)
            tmp = Path(d) / "shim.so"
            subprocess.run([cc, "-O2", "-fPIC", "-shared", str(src), "-o", str(tmp)], check=True,
                           capture_output=True, text=True)
            os.replace(tmp, lib)
    return lib


def _random_feeds(sess, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    types = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32}
    feeds = {}
    for i in sess.get_inputs():
        if i.type not in types or not all(isinstance(d, int) for d in i.shape):
            raise ValueError(f"input {i.name}: {i.type} {i.shape} is not a static numeric tensor")
        feeds[i.name] = rng.standard_normal(i.shape).astype(types[i.type])
    return feeds


def _ort_memory_child(model_path: str) -> None:
    """Run under the preload shim: print onnxruntime's allocator peak for one inference."""
    shim = ctypes.CDLL(None)
    for f in ("smelt_shim_live", "smelt_shim_peak"):
        getattr(shim, f).restype = ctypes.c_size_t
    sess = ort_session(Path(model_path), arena=False)   # every tensor straight from the allocator
    feeds = _random_feeds(sess)
    for _ in range(2):                 # the first run records the memory pattern, the second uses it
        sess.run(None, feeds)
    before = shim.smelt_shim_live()
    shim.smelt_shim_reset_peak()
    outs = sess.run(None, feeds)
    print(json.dumps({"peak_bytes": shim.smelt_shim_peak() - before,
                      "output_bytes": sum(o.nbytes for o in outs)}))


def ort_peak_bytes(model_path: Path) -> dict | None:
    """{'peak_bytes', 'output_bytes'} of one steady-state onnxruntime inference (arena off), or None
    if it cannot be measured here (no C compiler, or onnxruntime no longer allocates this way)."""
    try:
        shim = _build_shim()
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"note: onnxruntime memory not measured (building the allocator shim failed: {e})",
              file=sys.stderr)
        return None
    env = dict(os.environ, LD_PRELOAD=str(shim),
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    r = subprocess.run([sys.executable, "-m", "bench.host", "--ort-memory-child", str(model_path)],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        print(f"note: onnxruntime memory not measured for {model_path}:\n{r.stderr[-2000:]}",
              file=sys.stderr)
        return None
    result = json.loads(r.stdout.strip().splitlines()[-1])
    return result if result["peak_bytes"] > 0 else None


# --- smelt -----------------------------------------------------------------------------------

_DRIVER_C = """\
#define _POSIX_C_SOURCE 199309L
#include <time.h>
#include "{name}.h"

/* Times n back-to-back calls of the model; seconds[i] = duration of call i. */
int smelt_bench_time(int n, double *seconds, void *arena{params})
{{
    for (int i = 0; i < n; ++i) {{
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if ({name}_run_with_arena(arena{args}) != 0) return 1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        seconds[i] = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    }}
    return 0;
}}
"""


class CTimer:
    """Times the compiled model inside C (clock_gettime around each call), with no Python or
    ctypes overhead: a small driver library linked against the same host library art.run uses."""

    def __init__(self, art, workdir: Path):
        from smelt.runtime import hostlib
        self.host = art.host()
        lib = hostlib.build(art.path, art.name)
        ports = [f"in{i}" for i in range(len(self.host.inputs))] + \
                [f"out{i}" for i in range(len(self.host.outputs))]
        src = workdir / f"{art.name}_timer.c"
        src.write_text(_DRIVER_C.format(name=art.name, params="".join(f", void *{p}" for p in ports),
                                        args="".join(f", {p}" for p in ports)))
        so = workdir / f"{art.name}_timer.so"
        r = subprocess.run([hostlib.compiler(), *hostlib.CFLAGS, "-I", str(art.path), str(src),
                            "-o", str(so), str(lib)], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"building the timing driver failed:\n{r.stderr[-2000:]}")
        self.fn = ctypes.CDLL(str(so)).smelt_bench_time
        self.fn.restype = ctypes.c_int

    def run(self, feeds: list[np.ndarray], n: int) -> tuple[list[np.ndarray], np.ndarray]:
        """(outputs of the last call, seconds of each of the n calls)."""
        ins = [np.ascontiguousarray(np.asarray(x, dtype=dt).reshape(shape))
               for x, (_, shape, dt) in zip(feeds, self.host.inputs)]
        outs = [np.zeros(shape, dtype=dt) for _, shape, dt in self.host.outputs]
        seconds = np.zeros(n)
        ptr = ctypes.c_void_p
        rc = self.fn(ctypes.c_int(n), seconds.ctypes.data_as(ptr), self.host.arena.ctypes.data_as(ptr),
                     *[a.ctypes.data_as(ptr) for a in ins + outs])
        if rc != 0:
            raise RuntimeError(f"the model returned {rc}")
        return outs, seconds


# --- one model -------------------------------------------------------------------------------


def _short_error(e: Exception, model: onnx.ModelProto) -> str:
    from smelt import UnsupportedOpError, registry
    missing = sorted({n.op_type for n in model.graph.node if n.domain in ("", "ai.onnx")
                      and registry.lookup_onnx(n.op_type) is None})
    if missing:
        return "missing ops: " + ", ".join(missing)
    if isinstance(e, UnsupportedOpError):
        return str(e).split("; supported ops:")[0]
    compiler_error = next((line.strip() for line in str(e).splitlines() if "error:" in line), None)
    return f"{type(e).__name__}: {compiler_error or ' '.join(str(e).split())}"[:240]


def bench_model(name: str, model_path: Path, repeat: int, workdir: Path) -> dict:
    import smelt
    from smelt import SmeltError
    model = onnx.load(str(model_path))
    row = {"model": name, "macs": models.macs(model)}
    sess = ort_session(model_path)
    feeds = _random_feeds(sess)
    out_names = [o.name for o in sess.get_outputs()]
    expected = dict(zip(out_names, sess.run(None, feeds)))
    ort_run = _wall(lambda: sess.run(None, feeds))
    row["ort_memory"] = ort_peak_bytes(model_path)
    try:
        art = smelt.compile(model, name=name)
        got = art.run(feeds)          # builds the host library
    except SmeltError as e:           # report the model as not compiled, keep benchmarking the others
        row["error"] = _short_error(e, model)
        row["ort_ms"] = 1e3 * statistics.median(_time_calls([ort_run], repeat)[0])
        return row
    row.update(smelt_macs=art.report.macs, arena_bytes=art.report.arena_bytes,
               weight_bytes=art.report.weight_bytes,
               max_abs_diff=max(float(np.max(np.abs(got[n].astype(np.float64) - expected[n])))
                                for n in out_names))
    timer = CTimer(art, workdir)
    inputs = [feeds[n] for n in art.graph.inputs]
    outs, _ = timer.run(inputs, 1)
    if not all(np.array_equal(o, got[n]) for o, n in zip(outs, art.graph.outputs)):
        raise RuntimeError(f"{name}: the timing driver's output differs from art.run's")
    smelt_s, c_s, ort_s = _time_calls(
        [_wall(lambda: art.run(feeds)), lambda: float(timer.run(inputs, 1)[1][0]), ort_run], repeat)
    row["smelt_ms"] = 1e3 * statistics.median(smelt_s)
    row["smelt_c_ms"] = 1e3 * statistics.median(c_s)
    row["ort_ms"] = 1e3 * statistics.median(ort_s)
    row["ratio"] = row["smelt_ms"] / row["ort_ms"]
    return row


def _wall(f):
    """f timed by its wall-clock duration."""
    def timed() -> float:
        t0 = time.perf_counter()
        f()
        return time.perf_counter() - t0
    return timed


def _time_calls(timed_fns, repeat: int) -> list[list[float]]:
    """The seconds each function reports over `repeat` rounds, after one warm-up call each; the
    functions alternate within a round, so that changes in machine load hit them alike."""
    for f in timed_fns:
        f()
    times = [[] for _ in timed_fns]
    for _ in range(repeat):
        for f, t in zip(timed_fns, times):
            t.append(f())
    return times


# --- the table -------------------------------------------------------------------------------

COLUMNS = [("model", "model"), ("MACs", "macs"), ("smelt ms", "smelt_ms"), ("smelt C ms", "smelt_c_ms"),
           ("ort ms", "ort_ms"), ("smelt/ort", "ratio"), ("arena B", "arena_bytes"),
           ("ort peak B", "ort_peak_bytes"), ("weights B", "weight_bytes"), ("max|diff|", "max_abs_diff")]

FOOTER = """\
MACs        Conv/Gemm/MatMul multiply-accumulates from ONNX shape inference (bench.models.macs).
smelt ms    median wall time of art.run(feeds): the compiled C (gcc {cflags}) called from
            Python through ctypes, including input checks and output allocation.
smelt C ms  median time of the model function alone, measured in C with clock_gettime around
            the call (no Python, no ctypes), in the same rounds.
ort ms      median wall time of InferenceSession.run: onnxruntime {ort} CPU, intra_op_num_threads=1,
            inter_op_num_threads=1, sequential execution, default graph optimizations.
smelt/ort   smelt ms / ort ms (both called from Python). The three timings alternate within each
            of the --repeat rounds (--light-repeat for light models), after one warm-up each.
arena B     smelt's working memory: the statically planned arena (activations + scratch); inputs and
            outputs are the caller's buffers.
ort peak B  onnxruntime's peak heap during one steady-state inference (memory pattern on, CPU
            arena off, so each tensor comes straight from its allocator; counted by interposing
            the aligned operator new it allocates with): activations + kernel scratch + the output
            tensors it allocates. Excludes weights and the session's fixed overhead.
weights B   smelt's constant data (flash on a device).
max|diff|   max abs difference between smelt's and onnxruntime's outputs on one standard-normal input."""


def _fmt(key: str, v) -> str:
    if v is None:
        return "-"
    if key == "model":
        return v
    if key in ("smelt_ms", "smelt_c_ms", "ort_ms"):
        return f"{v:.4f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.1f}"
    if key == "ratio":
        return f"{v:.2f}"
    if key == "max_abs_diff":
        return f"{v:.1e}"
    return f"{v:,}"


def table(rows: list[dict], meta: dict) -> str:
    lines = [[h for h, _ in COLUMNS]]
    for r in rows:
        vals = dict(r, ort_peak_bytes=(r.get("ort_memory") or {}).get("peak_bytes"))
        lines.append([_fmt(k, vals.get(k)) for _, k in COLUMNS])
    widths = [max(len(l[i]) for l in lines) for i in range(len(COLUMNS))]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(l, widths)))
           for l in lines]
    out.insert(1, "-" * len(out[0]))
    if any(r["model"] in LIGHT_NAMES for r in rows):
        out.append("light models: almost all their conv/dense weights are ConstantOfShape fills (one value "
                   "each), so max|diff| checks little and weights B is not a trained model's size.")
    for r in rows:
        if "error" in r:
            out.append(f"{r['model']}: not compiled by smelt ({r['error']})")
    out += ["", FOOTER.format(cflags=" ".join(meta["cflags"]), ort=meta["onnxruntime"]),
            f"machine: {meta['cpu']}, {meta['cores']} cores, load average {meta['loadavg'][0]:.2f} at start;"
            f" shared with other jobs, so timings are noisy."]
    return "\n".join(out)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def light_models() -> dict[str, Path]:
    """The onnx wheel's model-zoo 'light' models: {name without 'light_': path}."""
    paths = sorted(glob.glob(str(LIGHT_DIR / "*.onnx")))
    return {Path(p).stem.removeprefix("light_"): Path(p) for p in paths}


LIGHT_NAMES = set(light_models())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.host", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", help=f"comma-separated subset (default: all of {', '.join(models.NAMES)}"
                                    f" and, with --light, the light models)")
    p.add_argument("--repeat", type=int, default=30, help="timed runs per model (default 30)")
    p.add_argument("--light", action="store_true", help="also the onnx 'light' models (224x224, slow)")
    p.add_argument("--light-repeat", type=int, default=3, help="timed runs per light model (default 3)")
    p.add_argument("--json", metavar="PATH", help="also write the rows and settings as JSON")
    p.add_argument("--ort-memory-child", metavar="MODEL", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.ort_memory_child:
        _ort_memory_child(args.ort_memory_child)
        return 0

    import onnxruntime
    from smelt.runtime import hostlib
    pool = {n: models.path(n) for n in models.NAMES}
    light = light_models() if args.light else {}
    pool.update(light)
    names = list(pool)
    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
        unknown = [n for n in names if n not in pool]
        if unknown:
            p.error(f"unknown model(s) {unknown}; choose from {', '.join(pool)}"
                    + ("" if args.light else " (add --light for the light models)"))
    meta = {"cpu": _cpu_name(), "cores": os.cpu_count(), "loadavg": os.getloadavg(),
            "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
            "cc": hostlib.compiler(), "repeat": args.repeat, "light_repeat": args.light_repeat,
            "cflags": [f for f in hostlib.CFLAGS if f.startswith(("-O", "-std"))]}
    rows = []
    with tempfile.TemporaryDirectory(prefix="smelt-bench-") as d:
        for n in names:
            print(f"{n} ...", file=sys.stderr, flush=True)
            rows.append(bench_model(n, pool[n], args.light_repeat if n in light else args.repeat, Path(d)))
    print(table(rows, meta))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
