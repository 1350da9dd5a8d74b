"""RISC-V rv32imac: riscv64-unknown-elf-gcc with picolibc (its semihosting crt0 and stdio), QEMU virt.

picolibc's linker script places flash at __flash and RAM at __ram (QEMU virt's DRAM at 0x80000000,
loaded by -kernel with -bios none); its crt0-semihost starts the program, installs a trap handler
that prints the registers and exits with a failure, and exit() and stdout go through semihosting.
"""
from __future__ import annotations

from .common import QemuTarget

FLASH, FLASH_SIZE = 0x80000000, 0x200000
RAM, RAM_SIZE = 0x80200000, 0x200000


class RiscV32(QemuTarget):
    name = "riscv32"
    gcc_prefix = "riscv64-unknown-elf-"
    gcc_package = "gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf"
    qemu = "qemu-system-riscv32"
    qemu_package = "qemu-system-misc"
    machine = "virt"
    cflags = ["-march=rv32imac", "-mabi=ilp32", "-mcmodel=medany", "--specs=picolibc.specs"]
    ldflags = ["--oslib=semihost", "--crt0=semihost",
               f"-Wl,--defsym=__flash={FLASH:#x},--defsym=__flash_size={FLASH_SIZE:#x}",
               f"-Wl,--defsym=__ram={RAM:#x},--defsym=__ram_size={RAM_SIZE:#x}"]
    platform_sources = ["io_stdio.c"]
    # picolibc.ld reserves a minimum stack as a section (the stack itself grows down from the end
    # of RAM): not static data.
    reserved_sections = (".stack",)

    def qemu_command(self, built):
        cmd = super().qemu_command(built)
        return cmd[:3] + ["-bios", "none"] + cmd[3:]
