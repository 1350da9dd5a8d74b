"""Footprint of a built program: flash and static RAM from the ELF, peak stack from the call graph.

- flash = text + data and static RAM = data + bss, as `size` (Berkeley format) counts them: text
  includes read-only data (the weights), data is stored in flash and copied to RAM. The stack is
  no section (it takes the RAM above .bss), so it is not counted twice.
- peak stack: gcc's -fstack-usage frames, summed along the call graph written by
  -fcallgraph-info=su (one .ci file per object), deepest path from a root function. Functions
  without a .ci entry (the C library's memcpy, expf, ...) count 0 and are listed as unknown.
  gcc records a naked function (the DSP kernels' asm, smelt/ops/qconv.c) as 0 bytes whatever it
  pushes: a frame recorded as 0 takes what the function's prologue in the ELF pushes and
  subtracts from sp (prologue_frames).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ToolchainError


def elf_sizes(size_tool: str, elf: Path, reserved=()) -> dict:
    """{'text', 'data', 'bss', 'flash_bytes', 'static_ram_bytes'} of an ELF file. `reserved` names
    sections that only reserve room (a linker script's stack or heap): not static data."""
    def size(fmt: str) -> str:
        r = subprocess.run([size_tool, fmt, str(elf)], capture_output=True, text=True)
        if r.returncode != 0:
            raise ToolchainError(f"{size_tool} {elf} failed: {r.stderr.strip()}")
        return r.stdout

    text, data, bss = (int(v) for v in size("-B").splitlines()[1].split()[:3])
    if reserved:
        for line in size("-A").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] in reserved:
                bss -= int(parts[1])
    return {"text": text, "data": data, "bss": bss,
            "flash_bytes": text + data, "static_ram_bytes": data + bss}


_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "([^"]*)"')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')
_FRAME = re.compile(r"\\n(\d+) bytes \(([\w,]+)\)")


@dataclass
class CallGraph:
    frames: dict[str, int] = field(default_factory=dict)       # function -> frame bytes
    names: dict[str, str] = field(default_factory=dict)        # .ci title -> the function's symbol
    dynamic: set[str] = field(default_factory=set)              # frames of unbounded dynamic size
    calls: dict[str, set[str]] = field(default_factory=dict)    # caller -> callees

    @classmethod
    def from_ci(cls, files) -> "CallGraph":
        g = cls()
        for f in files:
            for line in Path(f).read_text().splitlines():
                m = _NODE.match(line)
                if m:
                    fr = _FRAME.search(m.group(2))
                    g.names[m.group(1)] = m.group(2).split("\\n")[0]
                    if fr:
                        g.frames[m.group(1)] = int(fr.group(1))
                        if fr.group(2) == "dynamic":
                            g.dynamic.add(m.group(1))
                    continue
                m = _EDGE.match(line)
                if m:
                    g.calls.setdefault(m.group(1), set()).add(m.group(2))
        return g

    def peak(self, root: str) -> dict:
        """{'stack_bytes': deepest sum of frames from root, 'path': that call chain,
        'unknown': callees without a frame, 'unbounded': dynamic frames or recursion on the way}."""
        if root not in self.frames:
            raise ToolchainError(f"no stack usage recorded for '{root}' (was it built with -fstack-usage "
                                 "-fcallgraph-info=su?)")
        unknown, unbounded, memo = set(), set(), {}

        def deepest(fn: str, active: tuple) -> tuple[int, tuple]:
            if fn in active:
                unbounded.add(f"recursion through {fn}")
                return 0, ()
            if fn in memo:
                return memo[fn]
            if fn not in self.frames:
                unknown.add(fn)
                return 0, (fn,)
            if fn in self.dynamic:
                unbounded.add(f"dynamic frame in {fn}")
            best = (0, ())
            for callee in sorted(self.calls.get(fn, ())):
                best = max(best, deepest(callee, active + (fn,)), key=lambda b: b[0])
            memo[fn] = (self.frames[fn] + best[0], (fn,) + best[1])
            return memo[fn]

        total, path = deepest(root, ())
        return {"stack_bytes": total, "path": list(path), "unknown": sorted(unknown),
                "unbounded": sorted(unbounded)}


def stack_peak(workdir: Path, root: str, prologues: dict[str, int] | None = None) -> dict:
    """The peak from root; `prologues` (symbol -> bytes, prologue_frames) replaces frames gcc
    recorded as 0 (naked functions)."""
    g = CallGraph.from_ci(sorted(Path(workdir).glob("*.ci")))
    for fn, size in g.frames.items():
        if size == 0 and prologues and prologues.get(g.names.get(fn, fn), 0):
            g.frames[fn] = prologues[g.names.get(fn, fn)]
    return g.peak(root)


_FUNC = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")
_INSN = re.compile(r"^\s*[0-9a-f]+:\s+(\S+)\s*(.*)$")
_REGS = re.compile(r"\{([^}]*)\}")


def _reg_count(regs: str) -> int:
    n = 0
    for r in regs.split(","):
        lo, _, hi = r.strip().partition("-")
        n += int(re.sub(r"\D", "", hi)) - int(re.sub(r"\D", "", lo)) + 1 if hi else 1
    return n


def prologue_frames(objdump: str, elf: Path) -> dict[str, int]:
    """symbol -> bytes its entry sequence takes from the stack: ARM push/stmdb sp! (4 B a
    register), vpush (4 B an s, 8 B a d register), sub sp, #n; RISC-V addi sp, sp, -n. Read from
    the instructions at the function's start, up to the first other one."""
    r = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        raise ToolchainError(f"{objdump} -d {elf} failed: {r.stderr.strip()}")
    out: dict[str, int] = {}
    fn, open_ = None, False
    for line in r.stdout.splitlines():
        m = _FUNC.match(line)
        if m:
            fn, open_ = m.group(1), True
            out[fn] = 0
            continue
        m = _INSN.match(line)
        if not (fn and open_ and m):
            continue
        op, args = m.group(1).split(".")[0], re.sub(r"\s", "", m.group(2).split("@")[0])   # '@': an ARM comment
        regs = _REGS.search(args)
        if regs is None and op in ("push", "stmdb", "vpush"):
            open_ = False             # not ARM's register list (x86's push %rbp): not read
        elif op == "push" or (op == "stmdb" and args.startswith("sp!")):
            out[fn] += 4 * _reg_count(regs.group(1))
        elif op == "vpush":
            out[fn] += (8 if "d" in regs.group(1) else 4) * _reg_count(regs.group(1))
        elif op in ("sub", "subw") and re.match(r"sp,(sp,)?#\d+$", args):
            out[fn] += int(args.rsplit("#", 1)[1])
        elif op in ("addi", "c.addi16sp") and re.match(r"sp,(sp,)?-\d+$", args):
            out[fn] += int(args.rsplit("-", 1)[1])
        else:
            open_ = False
    return out


def symbols(nm_tool: str, elf: Path) -> dict[str, int]:
    """Defined symbols of an ELF: name -> address."""
    r = subprocess.run([nm_tool, str(elf)], capture_output=True, text=True)
    if r.returncode != 0:
        raise ToolchainError(f"{nm_tool} {elf} failed: {r.stderr.strip()}")
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out[parts[2]] = int(parts[0], 16)
    return out


PLUGIN_SOURCE = Path(__file__).resolve().parent / "plugin" / "insn_count.c"


def insn_plugin(cache: Path) -> Path:
    """The instruction-counting QEMU plugin, built with the host's gcc on first use and cached."""
    src = PLUGIN_SOURCE.read_bytes()
    lib = Path(cache) / "plugin" / f"insn_count-{hashlib.sha256(src).hexdigest()[:16]}.so"
    if lib.exists():
        return lib
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise ToolchainError("building the QEMU instruction-counting plugin needs a host C compiler: "
                             "apt-get install --no-install-recommends gcc libc6-dev")
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    r = subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                        str(PLUGIN_SOURCE), "-o", str(tmp)], capture_output=True, text=True)
    if r.returncode != 0:
        raise ToolchainError(f"building the QEMU plugin {PLUGIN_SOURCE.name} failed:\n{r.stderr[-3000:]}")
    os.replace(tmp, lib)
    return lib
