"""Cortex-M targets: arm-none-eabi-gcc + newlib-nano, QEMU's MPS2/MPS3 boards, semihosting.

The firmware is smelt's own: firmware/cortexm_startup.c (vector table, reset handler that enables
the FPU, fault handler that prints and exits 3), firmware/cortexm_semihost.c (SYS_WRITE0,
SYS_EXIT_EXTENDED) and one linker script per QEMU machine (firmware/<machine>.ld).
"""
from __future__ import annotations

from .common import FIRMWARE, QemuTarget

# name -> (QEMU machine, CPU flags). m0 (nRF51: 256 KiB flash, 16 KiB RAM) and m3 have no FPU; m33 and m55 use their FPU with the hard ABI.
CORES = {
    "cortex-m0": ("microbit", ["-mcpu=cortex-m0", "-mfloat-abi=soft"]),
    "cortex-m3": ("mps2-an385", ["-mcpu=cortex-m3", "-mfloat-abi=soft"]),
    "cortex-m4": ("mps2-an386", ["-mcpu=cortex-m4", "-mfloat-abi=hard"]),
    "cortex-m7": ("mps2-an500", ["-mcpu=cortex-m7", "-mfloat-abi=hard"]),
    "cortex-m33": ("mps2-an505", ["-mcpu=cortex-m33", "-mfloat-abi=hard"]),
    "cortex-m55": ("mps3-an547", ["-mcpu=cortex-m55", "-mfloat-abi=hard"]),
}


class CortexM(QemuTarget):
    gcc_prefix = "arm-none-eabi-"
    gcc_package = "gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi"
    qemu = "qemu-system-arm"
    qemu_package = "qemu-system-arm"
    platform_sources = ["cortexm_startup.c", "cortexm_semihost.c"]
    # The startup code is GNU C (a naked function, the stack address in the vector table).
    platform_flags = {"cortexm_startup.c": ["-std=gnu99", "-Wno-pedantic"]}
    code_alignment_mask = ~1      # Thumb function symbols have bit 0 set

    def __init__(self, name: str):
        self.name = name
        self.machine, cpu = CORES[name]
        self.cflags = [*cpu, "-mthumb"]
        self.ldflags = ["-nostartfiles", "--specs=nano.specs", "-L", str(FIRMWARE),
                        "-T", f"{self.machine}.ld"]
