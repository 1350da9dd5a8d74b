"""Build a generated folder for the host as a shared library and call it through ctypes."""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..errors import ToolchainError

CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fPIC", "-shared"]
# Optimization for host builds; SMELT_HOST_OPT overrides (e.g. "-O3 -march=native").
OPT = os.environ.get("SMELT_HOST_OPT", "-O2").split()
CACHE = Path(os.environ.get("SMELT_CACHE", Path.home() / ".cache" / "smelt")) / "host"


def compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")
    if not cc:
        raise ToolchainError("no C compiler found for host builds; install one: apt-get install gcc")
    return cc


def build(folder: Path, name: str, cc: str | None = None, extra_flags=()) -> Path:
    """Compile folder/<name>.c into a cached shared library; returns its path."""
    folder = Path(folder)
    cc = cc or compiler()
    h = hashlib.sha256()
    for f in sorted([folder / f"{name}.c", folder / f"{name}.h", *(folder / "smelt_kernels").iterdir()]):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    h.update(" ".join([cc, *OPT, *CFLAGS, *extra_flags]).encode())
    lib = CACHE / f"{name}-{h.hexdigest()[:20]}.so"
    if lib.exists():
        return lib
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    cmd = [cc, *OPT, *CFLAGS, *extra_flags, "-I", str(folder), str(folder / f"{name}.c"), "-o", str(tmp), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise ToolchainError(f"host build of {folder / (name + '.c')} failed:\n{r.stderr[-4000:]}")
    os.replace(tmp, lib)
    return lib


class HostModel:
    """The compiled model loaded in this process."""

    def __init__(self, lib_path: Path, name: str, inputs, outputs, arena_size: int, io_offsets=None):
        """io_offsets: (input offsets, output offsets) in the arena for a build with the I/O in
        the arena: run() then writes the inputs there and calls <name>_invoke_with_arena."""
        self.lib = ctypes.CDLL(str(lib_path))
        self.fn = getattr(self.lib, f"{name}_run_with_arena")
        self.fn.restype = ctypes.c_int
        self.io_offsets = io_offsets if io_offsets and None not in io_offsets[1] else None
        if self.io_offsets:
            self.invoke = getattr(self.lib, f"{name}_invoke_with_arena")
            self.invoke.restype = ctypes.c_int
        self._reset = getattr(self.lib, f"{name}_reset")
        self.inputs, self.outputs = inputs, outputs   # lists of (name, shape, dtype)
        self.arena = np.zeros(max(arena_size, 1) // 8 + 2, dtype=np.uint64)

    def reset(self) -> None:
        """Forget recurrent state: the next run starts as the first one did."""
        self._reset()

    def run(self, feeds: list[np.ndarray]) -> list[np.ndarray]:
        ins = [np.ascontiguousarray(np.asarray(x, dtype=dt).reshape(shape))
               for x, (_, shape, dt) in zip(feeds, self.inputs)]
        if self.io_offsets:
            return self._invoke(ins)
        outs = [np.zeros(shape, dtype=dt) for _, shape, dt in self.outputs]
        args = [self.arena.ctypes.data_as(ctypes.c_void_p)]
        args += [a.ctypes.data_as(ctypes.c_void_p) for a in ins + outs]
        rc = self.fn(*args)
        if rc != 0:
            raise RuntimeError(f"model returned {rc}")
        return outs

    def _invoke(self, ins: list[np.ndarray]) -> list[np.ndarray]:
        """Write the inputs into the arena, run in place, read the outputs from the arena."""
        raw = self.arena.view(np.uint8)
        for x, at in zip(ins, self.io_offsets[0]):
            raw[at:at + x.nbytes] = x.reshape(-1).view(np.uint8)
        rc = self.invoke(self.arena.ctypes.data_as(ctypes.c_void_p))
        if rc != 0:
            raise RuntimeError(f"model returned {rc}")
        outs = []
        for (_, shape, dt), at in zip(self.outputs, self.io_offsets[1]):
            n = int(np.prod(shape, dtype=np.int64)) * np.dtype(dt).itemsize
            outs.append(raw[at:at + n].copy().view(dt).reshape(shape))
        return outs
