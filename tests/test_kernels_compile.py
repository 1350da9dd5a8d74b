"""Every kernel file compiles warning-free under gcc and clang with the strict flags, in a float
model (SMELT_FLOAT) and in an integer one (no libm), included in the order the ops declare."""
import shutil
import subprocess
from pathlib import Path

import pytest

from smelt import registry

OPS = Path(registry.__file__).parent / "ops"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-c"]


def include_order() -> list[str]:
    """Kernel files in an order that satisfies every op's declared include order."""
    order = []
    for op in registry.all_ops().values():
        kernels = (op.kernel,) if isinstance(op.kernel, str) else (op.kernel or ())
        order += [k for k in kernels if k not in order]
    return order + sorted(p.stem for p in OPS.glob("*.c") if p.stem not in order)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
@pytest.mark.parametrize("float_model", [True, False])
def test_all_kernels_compile_strict(tmp_path, cc, float_model):
    if not shutil.which(cc):
        pytest.fail(f"{cc} is not installed (scripts/setup.sh installs it)")
    unit = tmp_path / "all_kernels.c"
    # SMELT_KERNEL empty: external functions, so every kernel is optimized and checked
    unit.write_text("#define SMELT_KERNEL\n" + ("#define SMELT_FLOAT 1\n" if float_model else "")
                    + '#include "smelt_common.h"\n'
                    + "".join(f'#include "{k}.c"\n' for k in include_order()))
    r = subprocess.run([cc, *STRICT, "-I", str(OPS), str(unit), "-o", str(tmp_path / "k.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, r.stderr[-3000:]
    if not float_model:
        nm = subprocess.run(["nm", "-u", str(tmp_path / "k.o")], capture_output=True, text=True).stdout
        libm = {"expf", "logf", "sqrtf", "tanhf", "powf", "exp", "log", "floorf", "roundf", "fabsf"}
        assert not libm & {line.split()[-1] for line in nm.splitlines() if line.strip()}, nm
