"""Targets: build a compiled model into a bench program for a platform, run it, measure it.

    t = smelt.targets.get("cortex-m4")
    built = t.build(art, [x])          # an ELF that embeds x and calls <name>_run once
    res = t.run(built)                 # res.outputs: numpy arrays read back over semihosting
    t.measure(built, res)              # instructions, flash_bytes, static_ram_bytes, stack_bytes, arena_bytes

`bench()` does all of it and checks the outputs against the numpy reference.
"""
from __future__ import annotations

import numpy as np

from ..errors import SmeltError
from .common import Built, GuestFaultError, GuestTimeoutError, RunResult, Target

__all__ = ["get", "names", "bench", "Target", "Built", "RunResult", "GuestFaultError", "GuestTimeoutError"]

CORTEX_M = ("cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
NAMES = ("host", *CORTEX_M, "riscv32", "wasm32")


def names() -> tuple[str, ...]:
    return NAMES


def get(name: str) -> Target:
    """The target called `name` (see names())."""
    if name == "host":
        from .host import Host
        return Host()
    if name in CORTEX_M:
        from .cortexm import CortexM
        return CortexM(name)
    if name == "riscv32":
        from .riscv import RiscV32
        return RiscV32()
    if name == "wasm32":
        from .wasm import Wasm32
        return Wasm32()
    raise SmeltError(f"unknown target '{name}'; targets: {', '.join(NAMES)}")


def example_inputs(art, seed: int = 0) -> list[np.ndarray]:
    """Deterministic inputs for a model: the full integer range, or N(0, 1) floats."""
    rng = np.random.default_rng(seed)
    out = []
    for n in art.graph.inputs:
        t = art.graph[n]
        if np.issubdtype(np.dtype(t.dtype), np.integer):
            info = np.iinfo(t.dtype)
            out.append(rng.integers(max(info.min, -128), min(info.max, 127) + 1, size=t.shape).astype(t.dtype))
        elif t.dtype == "bool":
            out.append(rng.integers(0, 2, size=t.shape).astype(bool))
        else:
            out.append(rng.standard_normal(t.shape).astype(t.dtype))
    return out


def compare(outputs, reference) -> dict:
    """Bit-exact for integer outputs; float outputs within 1e-4 relative (to the output's scale)."""
    worst, exact = 0.0, True
    ok = True
    for got, ref in zip(outputs, reference):
        if got.shape != ref.shape or got.dtype != ref.dtype:
            return {"ok": False, "mode": "shape/dtype", "detail": f"{got.shape} {got.dtype} vs {ref.shape} {ref.dtype}"}
        if np.issubdtype(ref.dtype, np.floating):
            exact = False
            g, r = got.astype(np.float64), ref.astype(np.float64)
            scale = max(float(np.max(np.abs(r), initial=0.0)), 1e-30)
            diff = float(np.max(np.abs(g - r), initial=0.0))
            worst = max(worst, diff / scale)
            ok &= bool(np.all((np.abs(g - r) <= 1e-4 * np.abs(r) + 1e-4 * scale) | (np.isnan(g) & np.isnan(r))))
        else:
            diff = int(np.max(np.abs(got.astype(np.int64) - ref.astype(np.int64)), initial=0))
            worst = max(worst, diff)
            ok &= diff == 0
    return {"ok": bool(ok), "mode": "bit-exact" if exact else "rtol=1e-4", "max_diff": worst}


def bench(model_or_artifact, target: str | Target, inputs=None, check: bool = True,
          timeout: float = 120.0, name: str | None = None, portable: bool = False) -> dict:
    """Compile (if needed), build for `target`, run once, check against the reference, measure.

    Returns {'target', 'model', 'instructions', 'macs', 'macs_per_instruction', 'flash_bytes',
    'static_ram_bytes', 'stack_bytes', 'arena_bytes', 'portable', 'check'}; 'check' is None when
    check=False. portable=True builds the portable C kernels on targets that have optimized ones
    (Cortex-M4/M7/M33/M55 DSP kernels), to show their gain.
    """
    from .. import api

    art = model_or_artifact
    if not isinstance(art, api.Artifact):
        art = api.compile(model_or_artifact, name=name or "model")
    t = target if isinstance(target, Target) else get(target)
    feeds = art._feeds(inputs) if inputs is not None else example_inputs(art)
    built = t.build(art, feeds, portable=portable)
    res = t.run(built, timeout=timeout)
    m = t.measure(built, res, timeout=timeout)
    result = {"target": t.name, "model": art.name, "instructions": m["instructions"],
              "macs": int(art.report.macs),
              "macs_per_instruction": (art.report.macs / m["instructions"]) if m["instructions"] else None,
              **{k: m[k] for k in ("flash_bytes", "static_ram_bytes", "stack_bytes", "arena_bytes")},
              "portable": portable, "check": None}
    if check:
        ref = art.reference(feeds)
        result["check"] = compare(res.outputs, [ref[n] for n in art.graph.outputs])
    return result
