"""Full accounting on a target: build the bench program for it (smelt/targets) and read from the
linked ELF what the model takes, symbol by symbol (nm -S), and its peak stack (-fstack-usage).

    smelt.report.account(art, "cortex-m4")   # fills art.report.stack_bytes / code_bytes / target

The model's symbols are those its object (model.o) defines; in the ELF they split into weights
(<name>_w_*: read-only data), code (functions, params structs and tables: the rest of flash) and
RAM (.data/.bss: the static arena, one-value constants, recurrent state, the init flag).
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import ToolchainError

FLASH_TYPES, RAM_TYPES = set("tTrR"), set("dDbB")


@dataclass
class Linked:
    """What the linker shows for the model's symbols, in bytes."""
    weights: int
    code: int          # functions + read-only data that is not weights
    ram: int           # .data + .bss: arena, static RAM, state
    arena: int         # the static arena symbol alone
    stack: int         # peak stack of <name>_run (its call graph)


def _nm(nm_tool: str, path: Path) -> list[tuple[str, str, int]]:
    """(name, type letter, size) of the sized symbols of an object or ELF."""
    r = subprocess.run([nm_tool, "-S", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        raise ToolchainError(f"{nm_tool} -S {path} failed: {r.stderr.strip()}")
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 4:
            out.append((parts[3], parts[2], int(parts[1], 16)))
    return out


def linked(art, target: str = "cortex-m4", inputs=None) -> Linked:
    from .. import targets
    from ..targets import measure
    t = targets.get(target)
    if not hasattr(t, "_tools"):
        raise ToolchainError(f"accounting needs a gcc target (cortex-m*, riscv32, host), not '{target}'")
    built = t.build(art, inputs if inputs is not None else targets.example_inputs(art))
    _, _, nm = t._tools()
    own = {name for name, _, _ in _nm(nm, built.workdir / f"{art.name}.o")}
    weights = code = ram = arena = 0
    arena_syms = {f"{art.name}_arena"}
    for name, kind, size in _nm(nm, built.program):
        if name not in own:
            continue
        if kind in FLASH_TYPES:
            if name.startswith(f"{art.name}_w_"):
                weights += size
            else:
                code += size
        elif kind in RAM_TYPES:
            ram += size
            if name in arena_syms or name.split(".")[0] == "arena":
                arena += size
    stack = measure.stack_peak(built.workdir, f"{art.name}_run")["stack_bytes"]
    return Linked(weights, code, ram, arena, stack)


def account(art, target: str = "cortex-m4", inputs=None):
    """Measure the model on `target` and complete art.report: ram = arena + I/O outside the arena +
    static RAM + peak stack, flash = weights + code. Returns the report."""
    m = linked(art, target, inputs)
    rep = art.report
    rep.stack_bytes, rep.code_bytes, rep.target = m.stack, m.code, target
    rep.linked = m
    return rep
