"""N heads on one backbone as one library vs N separate models: flash, RAM, instructions.

The backbone is a DS-CNN-style keyword-spotting front (input 1x1x49x10: conv 10x4 stride 2 -> 64
channels, two depthwise-separable blocks, global average pool -> 64 features); head k is
Linear(64, 32) -> ReLU -> Linear(32, 4 + 4k). Random weights (the figures do not depend on them),
int8 by smelt.quantize (minmax) on the same 64 random calibration inputs for every model, so the
backbone quantizes identically and the library shares it. For N = 1..4:

- separate: the N models compiled alone, linked into one program (each with its own arena and
  its own copy of the kernels and backbone), calling each <task>_run once;
- library:  smelt.compile_library of the N models, one program calling <lib>_run_all once
  (backbone once, then every head on its features).

Each program is built for the target (default cortex-m4, QEMU mps2-an386, exact instruction count
between bench_begin/bench_end), flash = text + data, RAM = static (arenas, I/O buffers) + peak
stack. The library's outputs are checked byte for byte against the separate models' outputs.

    python -m bench.multitask                     # cortex-m4, N = 1..4
    python -m bench.multitask --target host       # no cross toolchain: report figures only
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import smelt
from smelt.quantize import quantize
from smelt.targets import common, get, measure

INPUT = (1, 1, 49, 10)


def models(n_max: int, seed: int = 0):
    """[ONNX int8 model of backbone + head k for k < n_max], quantized alike."""
    import torch
    from torch import nn

    from smelt.frontends import torch as torch_fe
    torch.manual_seed(seed)

    def dw_block(c):
        return [nn.Conv2d(c, c, 3, padding=1, groups=c), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU()]

    backbone = nn.Sequential(nn.Conv2d(1, 64, (10, 4), stride=2, padding=(5, 1)), nn.BatchNorm2d(64), nn.ReLU(),
                             *dw_block(64), *dw_block(64), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    heads = [nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4 + 4 * k)).eval() for k in range(n_max)]
    x = torch.randn(INPUT)
    calib = {"input": np.random.default_rng(seed).standard_normal((64, *INPUT[1:])).astype(np.float32)}
    return [quantize(torch_fe.to_onnx(nn.Sequential(backbone, h), (x,)), calib, method="minmax")[0]
            for h in heads]


def _bench_data(workdir: Path, headers: list[str], x: np.ndarray, outputs: list, calls: list[str]) -> None:
    """bench_data.h for the firmware harness: the input, every output buffer, SMELT_RUN()."""
    lines = ["#ifndef BENCH_DATA_H", "#define BENCH_DATA_H", "#include <stdint.h>",
             *[f'#include "{h}"' for h in headers],
             common._union("static const ", "smelt_in0", "float", x.nbytes, x.size, x.astype("<f4").tobytes())]
    outs = []
    for i, (_, shape, dtype) in enumerate(outputs):
        n = int(np.prod(shape))
        lines.append(common._union("static ", f"smelt_out{i}", "float", n * 4, n, None))
        outs.append(f"{{smelt_out{i}.bytes, {n * 4}}}")
    lines += [f"#define SMELT_NUM_OUTPUTS {len(outputs)}",
              "static int smelt_bench_run(void)", "{", "    int rc = 0;",
              *[f"    rc |= {c};" for c in calls], "    return rc;", "}",
              "#define SMELT_RUN() smelt_bench_run()",
              "static const struct { const uint8_t *bytes; unsigned long size; } "
              f"smelt_outputs[{len(outs)}] = {{{', '.join(outs)}}};", "#endif", ""]
    (workdir / "bench_data.h").write_text("\n".join(lines))


def build(target, sources: list[Path], headers: list[str], x, outputs, calls, label: str):
    """A bench ELF from several generated C files (each its own object) and the firmware."""
    cc, size_tool, nm = target._tools()
    temp = tempfile.TemporaryDirectory(prefix=f"smelt-mt-{label}-")
    workdir = Path(temp.name)
    _bench_data(workdir, headers, x, outputs, calls)
    flags = [*target.cflags, "-O2", "-std=c99", *common.WARNINGS, "-ffunction-sections", "-fdata-sections",
             "-fstack-usage", "-fcallgraph-info=su", "-I", str(workdir), "-I", str(common.FIRMWARE),
             *[a for s in sources for a in ("-I", str(s.parent))]]
    fw = [common.FIRMWARE / f for f in common.FIRMWARE_SOURCES + target.platform_sources]
    objs = common.compile_objects([cc], flags, [*sources, *fw], workdir, f"{label} build", target.platform_flags)
    elf = workdir / f"{label}.elf"
    common.run_checked([cc, *target.cflags, *target.ldflags, "-Wl,--gc-sections", *map(str, objs), "-lm",
                        "-o", str(elf)], f"{label}: linking", cwd=workdir)
    syms = measure.symbols(nm, elf)
    marks = {k: syms[k] & target.code_alignment_mask for k in ("bench_begin", "bench_end")}
    built = common.Built(target.name, elf, workdir, label, outputs, 0, 0, {"markers": marks}, temp)
    res = target.run(built)
    sizes = measure.elf_sizes(size_tool, elf, target.reserved_sections)
    stack = measure.stack_peak(workdir, "smelt_bench_main")["stack_bytes"]
    return {"outputs": res.outputs, "instructions": res.instructions[0], "flash": sizes["flash_bytes"],
            "ram": sizes["static_ram_bytes"] + stack, "static_ram": sizes["static_ram_bytes"], "stack": stack}


def run(target_name: str = "cortex-m4", n_max: int = 4) -> list[dict]:
    onnx_models = models(n_max)
    x = np.random.default_rng(1).standard_normal(INPUT).astype(np.float32)
    target = None if target_name == "host" else get(target_name)
    rows = []
    for n in range(1, n_max + 1):
        names = [f"h{k}" for k in range(n)]
        lib = smelt.compile_library(onnx_models[:n], names=names, name="mt")
        sep = lib.separate
        host_ref = [o for t in names for o in sep[t].run(x).values()]
        row = {"n": n, "lib_weights": lib.report.weight_bytes, "sep_weights": lib.report.separate_weight_bytes,
               "lib_arena": lib.report.arena_bytes, "sep_arena": lib.report.separate_arena_bytes,
               "lib_macs": lib.report.macs_all, "sep_macs": sum(t["macs"] for t in lib.report.tasks)}
        everything = lib.run_all(x)
        row["host_exact"] = all(a.tobytes() == b.tobytes() for a, b in
                                zip([o for t in names for o in everything[t].values()], host_ref))
        if target is not None:
            outputs = [(o, sep[t].graph[o].shape, "float32") for t in names for o in sep[t].graph.outputs]
            ins = ["smelt_in0.values"]
            outs = [f"smelt_out{i}.values" for i in range(len(outputs))]
            s = build(target, [a.path / f"{a.name}.c" for a in sep.values()], [f"{t}.h" for t in names], x,
                      outputs, [f"{t}_run({ins[0]}, {outs[k]})" for k, t in enumerate(names)], f"sep{n}")
            li = build(target, [lib.path / "mt.c"], ["mt.h"], x, outputs, [f"mt_run_all({', '.join(ins + outs)})"],
                       f"lib{n}")
            row.update({f"sep_{k}": s[k] for k in ("flash", "ram", "instructions", "stack")})
            row.update({f"lib_{k}": li[k] for k in ("flash", "ram", "instructions", "stack")})
            row["target_exact"] = all(a.tobytes() == b.tobytes() for a, b in zip(s["outputs"], li["outputs"]))
            row["target_vs_host"] = max(float(np.max(np.abs(a - b))) for a, b in zip(li["outputs"], host_ref))
        rows.append(row)
    return rows


def table(rows: list[dict], target_name: str) -> str:
    on_target = "sep_flash" in rows[0]
    head = ["N", "weights sep", "weights lib", "arena sep", "arena lib", "MACs sep", "MACs lib"]
    if on_target:
        head += ["flash sep", "flash lib", "RAM sep", "RAM lib", "instr sep", "instr lib"]
    head.append("lib == sep")
    body = []
    for r in rows:
        cells = [str(r["n"]), f"{r['sep_weights']:,}", f"{r['lib_weights']:,}", f"{r['sep_arena']:,}",
                 f"{r['lib_arena']:,}", f"{r['sep_macs']:,}", f"{r['lib_macs']:,}"]
        if on_target:
            cells += [f"{r['sep_flash']:,}", f"{r['lib_flash']:,}", f"{r['sep_ram']:,}", f"{r['lib_ram']:,}",
                      f"{r['sep_instructions']:,}", f"{r['lib_instructions']:,}"]
        cells.append("bit-exact" if r["host_exact"] and r.get("target_exact", True) else "MISMATCH")
        body.append(cells)
    w = [max(len(c[i]) for c in [head] + body) for i in range(len(head))]
    fmt = lambda cells: "| " + " | ".join(c.rjust(w[i]) for i, c in enumerate(cells)) + " |"  # noqa: E731
    lines = [f"N int8 heads on one DS-CNN-style backbone, {target_name}: N separate models vs one library "
             "(run_all). Bytes; RAM = static RAM (arenas, I/O buffers) + peak stack; instructions per "
             "inference of all N tasks.", fmt(head), "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    return "\n".join(lines + [fmt(c) for c in body])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="cortex-m4", help="a Cortex-M or riscv32 target, or host (figures only)")
    ap.add_argument("--max-heads", type=int, default=4)
    args = ap.parse_args(argv)
    print(table(run(args.target, args.max_heads), args.target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
