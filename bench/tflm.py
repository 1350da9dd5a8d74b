"""TFLite benchmark: smelt's compiled C against TensorFlow Lite Micro (and LiteRT) on this machine.

    python -m bench.tflm [--models hello_world_int8,person_detect] [--inputs 100] [--repeat 30]
                         [--json out.json]

For each TFLite model in ../shared/models: compile with smelt; compare the arena smelt plans with the
one TFLM's recording allocator reports (head = planned activations, tail = persistent data); time
smelt's compiled C (through art.run and through the C-only driver of bench.host), the tflite-micro
Python interpreter and ai-edge-litert's Interpreter; and count the output bytes where smelt and
TFLM differ over --inputs random inputs (smelt.runtime.tflm.compare).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

from bench.host import ROOT, CTimer, _cpu_name, _time_calls, _wall

MODELS_DIR = ROOT.parent / "shared" / "models"
NAMES = ("hello_world_float", "hello_world_int8", "micro_speech_quantized", "person_detect",
         "keyword_scrambled_8bit")


# --- LiteRT (in a child process: it crashes on some models) ------------------------------------


def _litert_child(model_path: str, repeat: int, seed: int) -> None:
    """Print the median seconds of LiteRT's invoke() over `repeat` calls on the first random input."""
    from ai_edge_litert.interpreter import Interpreter
    from smelt.runtime.tflm import random_inputs
    it = Interpreter(model_path=model_path, num_threads=1)
    it.allocate_tensors()
    details = it.get_input_details()
    feeds = random_inputs([(tuple(d["shape"]), d["dtype"]) for d in details], 1, seed)[0]
    for d, x in zip(details, feeds):
        it.set_tensor(d["index"], x)
    seconds = _time_calls([_wall(it.invoke)], repeat)[0]      # after one warm-up call
    print(json.dumps({"seconds": statistics.median(seconds)}), flush=True)


def litert_ms(model_path: Path, repeat: int, seed: int) -> tuple[float | None, str | None]:
    """(median ms of LiteRT's invoke(), None) or (None, why it could not be measured)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    r = subprocess.run([sys.executable, "-m", "bench.tflm", "--litert-child", str(model_path),
                        "--repeat", str(repeat), "--seed", str(seed)], env=env, capture_output=True, text=True)
    lines = r.stdout.strip().splitlines()
    if r.returncode == 0 and lines:
        return 1e3 * json.loads(lines[-1])["seconds"], None
    if r.returncode < 0:
        why = f"crashed ({signal.Signals(-r.returncode).name})"
        detail = [l for l in r.stderr.splitlines() if l.strip() and not l.startswith(("INFO", "WARNING"))]
        return None, why + (f": {detail[-1].strip()}" if detail else "")
    error = [l for l in r.stderr.splitlines() if "Error" in l] or r.stderr.strip().splitlines()[-1:] or ["?"]
    return None, textwrap.shorten(error[-1], 110, placeholder=" ...")


# --- one model -------------------------------------------------------------------------------


def bench_model(name: str, model_path: Path, n_inputs: int, repeat: int, workdir: Path,
                seed: int = 0) -> dict:
    """One row of the table: memory, latency and bit-exactness of smelt against TFLM."""
    import smelt
    from smelt.runtime import tflm

    art = smelt.compile(model_path, name=name)
    rep = art.report
    arena = tflm.recorded_arena(model_path)
    row = {"model": name, "macs": rep.macs, "arena_bytes": rep.arena_bytes,
           "input_bytes": rep.input_bytes, "output_bytes": rep.output_bytes,
           "weight_bytes": rep.weight_bytes,
           "tflm_head": arena.head, "tflm_tail": arena.tail, "tflm_total": arena.total}
    row["arena_ratio"] = rep.arena_bytes / arena.total
    row["smelt_io_bytes"] = rep.arena_bytes + rep.input_bytes + rep.output_bytes
    row["io_ratio"] = row["smelt_io_bytes"] / arena.head

    g = art.graph
    inputs = tflm.random_inputs([(g[n].shape, g[n].dtype) for n in g.inputs], n_inputs, seed)
    cmp = tflm.compare(model_path, inputs=inputs)
    row.update(inputs=cmp.inputs, mismatch_bytes=cmp.mismatches,
               compared_bytes=sum(cmp.bytes_compared[n] for n in cmp.outputs),
               max_abs_diff=max(cmp.max_abs_error.values()) if cmp.max_abs_error else None)

    # latency on the first input set, the three in-process timings interleaved
    feeds = inputs[0]
    timer = CTimer(art, workdir)
    got = art.run(feeds)
    outs, _ = timer.run(feeds, 1)
    if not all(np.array_equal(o, got[n]) for o, n in zip(outs, g.outputs)):
        raise RuntimeError(f"{name}: the timing driver's output differs from art.run's")
    it = tflm.interpreter(model_path)
    for k, x in enumerate(feeds):
        it.set_input(np.ascontiguousarray(x), k)
    smelt_s, c_s, tflm_s = _time_calls(
        [_wall(lambda: art.run(feeds)), lambda: float(timer.run(feeds, 1)[1][0]), _wall(it.invoke)], repeat)
    row["smelt_ms"] = 1e3 * statistics.median(smelt_s)
    row["smelt_c_ms"] = 1e3 * statistics.median(c_s)
    row["tflm_ms"] = 1e3 * statistics.median(tflm_s)
    row["litert_ms"], row["litert_error"] = litert_ms(model_path, repeat, seed)
    return row


# --- the table -------------------------------------------------------------------------------

COLUMNS = [("model", "model"), ("MACs", "macs"), ("smelt arena B", "arena_bytes"),
           ("TFLM head B", "tflm_head"), ("TFLM tail B", "tflm_tail"), ("TFLM total B", "tflm_total"),
           ("arena/total", "arena_ratio"), ("smelt+I/O B", "smelt_io_bytes"), ("+I/O/head", "io_ratio"),
           ("smelt ms", "smelt_ms"), ("smelt C ms", "smelt_c_ms"), ("TFLM ms", "tflm_ms"),
           ("LiteRT ms", "litert_ms"), ("mismatch B", "mismatch"), ("max|diff|", "max_abs_diff")]

FOOTER = """\
MACs          multiply-accumulates per inference, from smelt's compile report.
smelt arena B smelt's statically planned arena (activations + scratch), fixed at compile time;
              inputs and outputs are the caller's buffers.
TFLM head B   TFLM's recording allocator (print_allocations() after one inference on zeros):
TFLM tail B   head = planned non-persistent memory (activations, including the input and output
TFLM total B  tensors, and scratch), tail = persistent (tensor structs, op data, variables),
              total = head + tail. These are host figures: the tail holds 64-bit pointers, so it
              overstates a 32-bit device slightly.
arena/total   smelt arena B / TFLM total B.
smelt+I/O B   smelt arena B + input bytes + output bytes: smelt's activation RAM counted the way
+I/O/head     TFLM counts it (TFLM keeps the I/O tensors in its arena), and its ratio to TFLM head B.
smelt ms      median wall time of art.run(feeds): the compiled C (gcc {cflags}) called from Python
              through ctypes, including input checks and output allocation.
smelt C ms    median time of the model function alone, timed in C with clock_gettime (bench.host's
              C-only driver: no Python, no ctypes).
TFLM ms       median wall time of invoke() alone of the tflite-micro {tflm} Python interpreter
              (its default configuration).
LiteRT ms     median wall time of invoke() alone of ai-edge-litert {litert}'s Interpreter, num_threads=1,
              default op resolver (XNNPACK where it applies), in a child process after the others.
              smelt ms, smelt C ms and TFLM ms alternate within each of {repeat} rounds after a
              warm-up; all on the first random input.
mismatch B    output bytes where smelt's compiled C differs from TFLM, summed over {inputs} random
              inputs (integers over their whole range, floats uniform in [-1, 1)) fed as one
              sequence (smelt.runtime.tflm.compare), out of the bytes compared.
max|diff|     float outputs only: the largest absolute difference from TFLM over those inputs."""


def _fmt(key: str, row: dict) -> str:
    if key == "mismatch":
        return f"{row['mismatch_bytes']:,} of {row['compared_bytes']:,}"
    v = row.get(key)
    if v is None:
        return "-"
    if key == "model":
        return v
    if key.endswith("_ms"):
        return f"{v:.4f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.1f}"
    if key.endswith("_ratio"):
        return f"{v:.2f}"
    if key == "max_abs_diff":
        return f"{v:.1e}"
    return f"{v:,}"


def table(rows: list[dict], meta: dict) -> str:
    lines = [[h for h, _ in COLUMNS]] + [[_fmt(k, r) for _, k in COLUMNS] for r in rows]
    widths = [max(len(l[i]) for l in lines) for i in range(len(COLUMNS))]
    out = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(l, widths)))
           for l in lines]
    out.insert(1, "-" * len(out[0]))
    for r in rows:
        if r.get("litert_error"):
            out.append(f"{r['model']}: LiteRT not timed: {r['litert_error']}")
    out += ["", FOOTER.format(cflags=" ".join(meta["cflags"]), tflm=meta["tflite_micro"],
                              litert=meta["ai_edge_litert"], repeat=meta["repeat"], inputs=meta["inputs"]),
            f"machine: {meta['cpu']}, {meta['cores']} cores, load average {meta['loadavg'][0]:.2f} at start;"
            f" shared with other jobs, so host latencies are noisy."]
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.tflm", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", help=f"comma-separated subset (default: all of {', '.join(NAMES)})")
    p.add_argument("--inputs", type=int, default=100, help="random inputs compared with TFLM (default 100)")
    p.add_argument("--repeat", type=int, default=30, help="timed runs per model and runtime (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--json", metavar="PATH", help="also write the rows and settings as JSON")
    p.add_argument("--litert-child", metavar="MODEL", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.litert_child:
        _litert_child(args.litert_child, args.repeat, args.seed)
        return 0

    from smelt.runtime import hostlib
    names = list(NAMES)
    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
        unknown = [n for n in names if n not in NAMES]
        if unknown:
            p.error(f"unknown model(s) {unknown}; choose from {', '.join(NAMES)}")
    meta = {"cpu": _cpu_name(), "cores": os.cpu_count(), "loadavg": os.getloadavg(),
            "python": platform.python_version(), "cc": hostlib.compiler(),
            "cflags": [f for f in hostlib.OPT + hostlib.CFLAGS if f.startswith(("-O", "-std"))],
            "tflite_micro": importlib.metadata.version("tflite-micro"),
            "ai_edge_litert": importlib.metadata.version("ai-edge-litert"),
            "repeat": args.repeat, "inputs": args.inputs, "seed": args.seed}
    rows = []
    with tempfile.TemporaryDirectory(prefix="smelt-bench-tflm-") as d:
        for n in names:
            print(f"{n} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            rows.append(bench_model(n, MODELS_DIR / f"{n}.tflite", args.inputs, args.repeat, Path(d), args.seed))
            print(f"  {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    print(table(rows, meta))
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
