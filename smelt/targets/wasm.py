"""wasm32: clang --target=wasm32 -nostdlib, no C library, and an ES module wrapper run with node.

`emit(art, folder)` writes <name>.wasm and <name>.mjs (`load()` / `run(...inputs)`): what
`smelt compile --target wasm` ships. The bench program is that same module driven by
firmware/wasm_bench.mjs under node.

No libc: firmware/wasm/string.h and math.h stand in for the headers. memcpy/memset become
bulk-memory instructions, sqrt/fabs/floor/... wasm instructions; any other libm function a float
model uses (expf, tanhf, ...) is imported from "env" and provided by the .mjs from JavaScript's
Math (float32 arguments, results rounded back to float32 by wasm). Integer models import nothing.

measure(): no instruction count (no deterministic counter for a JIT); flash_bytes is the .wasm
size; static_ram_bytes is the linear memory taken by data (weights included: wasm has no flash);
stack_bytes is the shadow stack's peak, found by painting it before the run.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from .common import (FIRMWARE, Built, RunResult, Target, WARNINGS, compile_objects, new_workdir,
                     parse_outputs, run_checked, run_guest, tensor_specs, tool, write_bench_data)

CFLAGS = ["--target=wasm32", "-O2", "-std=c99", *WARNINGS, "-nostdlib", "-mbulk-memory",
          "-ffunction-sections", "-fdata-sections"]
EXPORTS = ["smelt_input", "smelt_output", "smelt_run", "__data_end", "__heap_base"]
GLOBAL_BASE = 1024   # wasm-ld's default start of static data
CLANG_PACKAGE = "clang lld"


def _specs(art, names) -> str:
    return json.dumps([{"name": n, "shape": list(shape), "dtype": dt, "size": int(np.prod(shape, dtype=np.int64))}
                       for n, shape, dt in tensor_specs(art, names)])


def emit(art, folder: Path, workdir: Path | None = None) -> tuple[Path, Path]:
    """Write <name>.wasm and the ES module <name>.mjs into `folder`; returns both paths.
    Intermediate files go to `workdir` (a temporary folder by default)."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix=f"smelt-wasm32-{art.name}-") as tmp:
            return emit(art, folder, Path(tmp))
    folder, workdir = Path(folder), Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    cc = tool("clang", CLANG_PACKAGE)
    tool("wasm-ld", "lld")
    write_bench_data(art, None, workdir)
    flags = [*CFLAGS, "-I", str(FIRMWARE / "wasm"), "-I", str(art.path), "-I", str(workdir)]
    what = f"wasm32 build of {art.name}"
    objs = compile_objects([cc], flags, [art.path / f"{art.name}.c", FIRMWARE / "wasm_module.c"],
                           workdir, what)
    wasm = folder / f"{art.name}.wasm"
    run_checked([cc, "--target=wasm32", "-nostdlib", "-Wl,--no-entry", "-Wl,--gc-sections",
                 "-Wl,--allow-undefined", *[f"-Wl,--export={e}" for e in EXPORTS],
                 *map(str, objs), "-o", str(wasm)], f"{what}: linking", cwd=workdir)
    text = (FIRMWARE / "wasm_module.mjs").read_text()
    text = text.replace("__SMELT_INPUTS__", _specs(art, art.graph.inputs))
    text = text.replace("__SMELT_OUTPUTS__", _specs(art, art.graph.outputs))
    mjs = folder / f"{art.name}.mjs"
    mjs.write_text(text.replace("__SMELT_NAME__", art.name))
    return wasm, mjs


class Wasm32(Target):
    name = "wasm32"

    def build(self, art, inputs, portable: bool = False) -> Built:
        # wasm32 has no optimized kernels: every build is portable.
        workdir, temp = new_workdir(art, self.name)
        wasm, mjs = emit(art, workdir, workdir)
        files = []
        for i, (n, x) in enumerate(zip(art.graph.inputs, art._feeds(inputs))):
            t = art.graph[n]
            f = workdir / f"input{i}.bin"
            x = np.ascontiguousarray(np.asarray(x, dtype=t.dtype).reshape(t.shape))
            f.write_bytes(x.astype(x.dtype.newbyteorder("<")).tobytes())
            files.append(f)
        return Built(self.name, wasm, workdir, art.name, tensor_specs(art, art.graph.outputs),
                     art.plan.arena_size, int(art.report.macs), {"module": mjs, "inputs": files}, temp)

    def run(self, built: Built, timeout: float = 60.0) -> RunResult:
        node = tool("node", "nodejs")
        cmd = [node, str(FIRMWARE / "wasm_bench.mjs"), str(built.extra["module"]), *map(str, built.extra["inputs"])]
        status, log = run_guest(cmd, built, timeout, "wasm32 (node)")
        return RunResult(parse_outputs(log, status, built, "wasm32 (node)"), status, None, log)

    def measure(self, built: Built, run: RunResult | None = None, timeout: float = 60.0) -> dict:
        run = run if run is not None else self.run(built, timeout)
        info = next(ln.split()[1:] for ln in run.log.splitlines() if ln.startswith("smelt-wasm "))
        info = {k: int(v) for k, v in (kv.split("=") for kv in info)}
        return {"instructions": None, "flash_bytes": built.program.stat().st_size,
                "static_ram_bytes": info["data_end"] - GLOBAL_BASE, "stack_bytes": info["stack_used"],
                "arena_bytes": built.arena_bytes}
