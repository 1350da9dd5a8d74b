"""The host: the bench program built with the host's gcc and run as a process.

Useful as the reference point for the other targets and to check the bench machinery itself;
it counts no instructions (instructions is None), footprint comes from the executable.
"""
from __future__ import annotations

import signal

from .common import Built, GccTarget, GuestFaultError, RunResult, parse_outputs, run_guest


class Host(GccTarget):
    name = "host"
    gcc_package = "gcc libc6-dev binutils"
    platform_sources = ["io_stdio.c"]

    def run(self, built: Built, timeout: float = 60.0) -> RunResult:
        what = "host"
        status, log = run_guest([str(built.program)], built, timeout, what)
        if status < 0:
            raise GuestFaultError(f"{what}: {built.program.name} was killed by "
                                  f"{signal.Signals(-status).name}")
        return RunResult(parse_outputs(log, status, built, what), status, None, log)
