"""Microcontroller table: every model on every Cortex-M target, counted exactly under QEMU.

For each TFLite model in ../shared/models and the MLPerf Tiny models of bench/models.py (float ONNX
with random weights: quantized here to int8 by smelt.quantize on random calibration inputs, so the
table shows "int8 (PTQ)"), per target: instructions per inference, MACs per instruction, flash
(total, and the code part: the ELF's FUNC symbols), RAM (arena, static, peak stack), the output
check against the numpy reference, and on DSP cores the same with the portable kernels
(-DSMELT_PORTABLE) to show the gain. person_detect and micro_speech are also set against
TFLM+CMSIS-NN on the Cortex-M4 (issue 5's anchors, measured with exact counting in QEMU).

    python -m bench.mcu                          # cortex-m4, every model, DSP and portable
    python -m bench.mcu --quick                  # the two anchored TFLite models only
    python -m bench.mcu --targets cortex-m4 cortex-m7 cortex-m33 cortex-m55 --models person_detect
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import numpy as np

import smelt
from smelt import targets
from smelt.targets.cortexm import CORES

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"
if not SHARED.exists():
    SHARED = Path("/work/shared/models")
ONNX_MODELS = ("ds_cnn", "mobilenet_v1_025", "resnet8", "fc_autoencoder")
DSP_TARGETS = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
# TFLM + CMSIS-NN, arm-none-eabi-gcc 12.2 -O2, Cortex-M4F in QEMU mps2-an386 (issue 5).
CMSIS_NN_M4 = {"person_detect": 22_928_385, "micro_speech_quantized": 1_495_380}


def tflite_models() -> list[str]:
    return sorted(p.stem for p in SHARED.glob("*.tflite"))


def load(name: str, calib_samples: int = 8):
    """(artifact, kind) for a model name: a TFLite file, or a bench/models.py model quantized to int8."""
    if name in ONNX_MODELS:
        from smelt import quantize as sq

        from . import models
        m = models.build(name)
        shape = models.INPUT_SHAPES[name]
        rng = np.random.default_rng(1)
        calib = rng.standard_normal((calib_samples, *shape[1:]), dtype=np.float32)[:, None]
        qmodel, _ = sq.quantize(m, {m.graph.input[0].name: calib})
        return smelt.compile(qmodel, name=name), "int8 (PTQ)"
    art = smelt.compile(SHARED / f"{name}.tflite", name=name)
    dtypes = {art.graph[t].dtype for t in art.graph.inputs}
    return art, ("float" if "float32" in dtypes else "int16x8" if "int16" in dtypes else "int8")


def code_bytes(built) -> int:
    """Bytes of machine code: the sizes of the ELF's FUNC symbols (weights and tables excluded)."""
    out = subprocess.run(["arm-none-eabi-readelf", "-sW", str(built.program)], capture_output=True, text=True).stdout
    total = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[3] == "FUNC":
            total += int(parts[2], 0)
    return total


def measure(art, target: str, portable: bool) -> dict:
    t = targets.get(target)
    x = targets.example_inputs(art)
    built = t.build(art, x, portable=portable)
    res = t.run(built, timeout=300)
    m = t.measure(built, res)
    ref = art.reference(x)
    check = targets.compare(res.outputs, [ref[n] for n in art.graph.outputs])
    return {**m, "code_bytes": code_bytes(built), "check": check}


def row(name, kind, art, target, r, base=None) -> str:
    ins = r["instructions"]
    mpi = art.report.macs / ins if ins else 0
    ok = "exact" if r["check"]["ok"] and r["check"]["mode"] == "bit-exact" else (
        "ok (rtol)" if r["check"]["ok"] else f"DIFF {r['check'].get('max_diff')}")
    gain = f"{base / ins:.2f}x" if base else "-"
    anchor = CMSIS_NN_M4.get(name) if target == "cortex-m4" else None
    vs = f"{ins / anchor:.2f}" if anchor else "-"
    return (f"| {name} | {kind} | {ins:,} | {mpi:.3f} | {r['flash_bytes']:,} | {r['code_bytes']:,} | "
            f"{r['arena_bytes']:,} | {r['static_ram_bytes']:,} | {r['stack_bytes']:,} | {ok} | {gain} | {vs} |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", nargs="+", default=["cortex-m4"], choices=list(CORES))
    ap.add_argument("--models", nargs="+", default=None)
    ap.add_argument("--quick", action="store_true", help="only person_detect and micro_speech")
    ap.add_argument("--no-portable", action="store_true", help="skip the portable-kernel builds")
    args = ap.parse_args(argv)
    names = args.models or (list(CMSIS_NN_M4) if args.quick else tflite_models() + list(ONNX_MODELS))
    loaded = {}
    for n in names:
        loaded[n] = load(n)
    for target in args.targets:
        dsp = target in DSP_TARGETS
        print(f"\n### {target} ({CORES[target][0]}){'' if dsp else ' (portable kernels only)'}\n")
        print("| model | type | instructions | MACs/instr | flash B | code B | arena B | static RAM B | "
              "stack B | output | DSP gain | x TFLM+CMSIS-NN |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for n in names:
            art, kind = loaded[n]
            r = measure(art, target, portable=False)
            p = measure(art, target, portable=True) if dsp and not args.no_portable else None
            if p:
                print(row(n, kind + ", portable", art, target, p))
            print(row(n, kind + (", DSP" if dsp else ""), art, target, r, p["instructions"] if p else None),
                  flush=True)


if __name__ == "__main__":
    main()
