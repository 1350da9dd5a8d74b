"""Memory benchmark: how much activation RAM each model the project has needs.

    python -m bench.memory [--models person_detect,resnet8] [--budget 32K] [--no-light] [--json out.json]

Models: the TFLite models of ../shared/models, the MLPerf-Tiny-style ONNX models of bench/models.py
and the onnx "light" model-zoo models shipped in the onnx wheel. Per model:

  greedy B     arena with the baseline planner: node order as given, TFLM's greedy-by-size offsets
               (aliases and elementwise in-place included), I/O in the caller's buffers
  planner B    arena with the full planner: least-peak order, Concat in place, every offset
               heuristic and CP-SAT for small plans (the strategy that won in 'how')
  act B        activation RAM with the I/O inside the arena (compile(..., io_in_arena=True)):
               what TFLM's arena head holds
  patched B    activation RAM (arena + I/O outside it) with patch-based inference under --budget
               (smelt/plan/patches.py; '-' when that module is missing, the model already fits, or
               nothing fits: the reason is printed under the table)
  TFLM head/total  TFLM's recording allocator (planned activations / whole arena, this host)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import onnx

import smelt
from smelt import pipeline, plan as plan_mod

ROOT = Path(__file__).resolve().parent.parent
MODELS_DIR = ROOT.parent / "shared" / "models"
LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"


def models(light: bool = True) -> list[tuple[str, str, object]]:
    """(name, kind, model path or ModelProto) of every model the project has."""
    from bench import models as mcu
    out = [(p.stem, "tflite", p) for p in sorted(MODELS_DIR.glob("*.tflite"))]
    out += [(n, "mcu onnx", mcu.build(n)) for n in mcu.NAMES]
    if light:
        out += [(p.stem.removeprefix("light_"), "onnx light", p) for p in sorted(LIGHT_DIR.glob("light_*.onnx"))]
    return out


def with_patches(g, budget: int) -> tuple[int | None, str]:
    """The hook for patch-based inference (another module): (activation RAM under `budget`, how)."""
    try:
        from smelt.plan import patches
        arena, how = patches.best_under_budget(g, budget)
        return arena + sum(g[n].nbytes for n in dict.fromkeys(g.inputs + g.outputs) if not g[n].is_const), how
    except ImportError:
        return None, "plan/patches.py missing"
    except Exception as e:      # the budget cannot be met, or the model has no patchable prefix
        return None, str(e).split("\n")[0].split("; ")[0]


def parse_bytes(text: str) -> int:
    """'32K' -> 32768, '1M' -> 1048576, '4096' -> 4096."""
    s = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1024, "M": 1024 ** 2}.get(s[-1:], 1)
    return int(float(s[:-1] if mult > 1 else s) * mult)


def measure(name: str, kind: str, model, budget: int) -> dict:
    g = pipeline.optimize(smelt.load(model))
    io = sum(g[n].nbytes for n in dict.fromkeys(g.inputs + g.outputs) if not g[n].is_const)
    _, greedy = plan_mod.make(g, planner="greedy-by-size")
    _, full = plan_mod.make(g)
    _, inside = plan_mod.make(g, io_in_arena=True)
    row = {"model": name, "kind": kind, "nodes": len(g.nodes), "io_bytes": io,
           "greedy": greedy.arena_size, "planner": full.arena_size, "how": f"{full.placement}, {full.order}",
           "act": inside.arena_size, "greedy_act": greedy.arena_size + io}
    row["patched"], row["patched_how"] = (None, "fits") if row["act"] <= budget else with_patches(g, budget)
    if kind == "tflite":
        from smelt.runtime import tflm
        arena = tflm.recorded_arena(model)
        row["tflm_head"], row["tflm_total"] = arena.head, arena.total
    return row


COLUMNS = [("model", "model"), ("kind", "kind"), ("greedy B", "greedy"), ("planner B", "planner"),
           ("plan/greedy", "r_plan"), ("greedy+I/O B", "greedy_act"), ("act B (I/O in)", "act"),
           ("act/greedy+I/O", "r_act"), ("patched B", "patched"), ("TFLM head", "tflm_head"),
           ("TFLM total", "tflm_total"), ("act/head", "r_head"), ("act/total", "r_total"), ("how", "how")]


def table(rows: list[dict]) -> str:
    for r in rows:
        r["r_plan"] = r["planner"] / r["greedy"] if r["greedy"] else None
        r["r_act"] = r["act"] / r["greedy_act"] if r["greedy_act"] else None
        r["r_head"] = r["act"] / r["tflm_head"] if r.get("tflm_head") else None
        r["r_total"] = r["act"] / r["tflm_total"] if r.get("tflm_total") else None

    def cell(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.3f}"
        return f"{v:,}" if isinstance(v, int) else str(v)
    grid = [[h for h, _ in COLUMNS]] + [[cell(r.get(k)) for _, k in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in grid) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) if i in (0, 1, len(COLUMNS) - 1) else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in grid]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="", help="comma-separated names (default: all)")
    ap.add_argument("--budget", default="32K", help="activation RAM budget for the patched column")
    ap.add_argument("--no-light", action="store_true", help="skip the onnx light models (large)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    budget = parse_bytes(args.budget)
    wanted = {m for m in args.models.split(",") if m}
    rows = []
    for name, kind, model in models(light=not args.no_light):
        if wanted and name not in wanted:
            continue
        rows.append(measure(name, kind, model, budget))
        print(f"  {name}: done", flush=True, file=sys.stderr)
    print(table(rows))
    print(f"\nbudget for 'patched B': {budget:,} B; act = activation RAM with inputs and outputs in the arena.")
    for r in rows:
        if r["patched"] is None and r["patched_how"] != "fits":
            print(f"  patched {r['model']}: {r['patched_how']}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
