"""ctypes access to a compiled library's entry points (<lib>_run_<task>_with_arena, ...)."""
from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from . import hostlib


class HostEntry(hostlib.HostModel):
    """One entry point of a host-built library; run() as HostModel.run (caller's I/O buffers)."""

    def __init__(self, lib: ctypes.CDLL, func: str, reset: str, inputs, outputs, arena_size: int):
        self.lib = lib
        self.fn = getattr(lib, f"{func}_with_arena")
        self.fn.restype = ctypes.c_int
        self.io_offsets = None
        self._reset = getattr(lib, reset)
        self.inputs, self.outputs = inputs, outputs
        self.arena = np.zeros(max(arena_size, 1) // 8 + 2, dtype=np.uint64)


def load(folder: Path, lib: str) -> ctypes.CDLL:
    """Build folder/<lib>.c for the host (cached by content) and load it."""
    return ctypes.CDLL(str(hostlib.build(folder, lib)))
