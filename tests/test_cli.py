"""End to end through the command line and the generated build files."""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

from smelt.cli import main

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_cnn.onnx"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]


def test_compile_writes_the_folder_and_it_builds_with_make_and_cmake(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["compile", str(DIGITS), "-o", str(out), "--name", "digits"]) == 0
    assert "arena" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {"digits.h", "digits.c", "Makefile", "CMakeLists.txt", "report.txt", "report.json", "smelt_kernels"} <= names
    header = (out / "digits.h").read_text()
    assert "#define DIGITS_ARENA_SIZE" in header and "#define DIGITS_INPUT0_SHAPE {1, 1, 8, 8}" in header
    r = subprocess.run(["make", "-C", str(out), f"CFLAGS={' '.join(STRICT)}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out / "libdigits.a").exists()
    if shutil.which("cmake"):
        b = tmp_path / "build"
        r = subprocess.run(["cmake", "-S", str(out), "-B", str(b)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["cmake", "--build", str(b)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_generated_c_is_warning_free(tmp_path, cc):
    if not shutil.which(cc):
        pytest.fail(f"{cc} is not installed (scripts/setup.sh installs it)")
    out = tmp_path / "out"
    assert main(["compile", str(DIGITS), "-o", str(out)]) == 0
    r = subprocess.run([cc, *STRICT, "-c", str(out / "model.c"), "-o", str(tmp_path / "m.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, r.stderr


def test_a_host_program_links_and_runs_the_model(tmp_path):
    """The C API as a user calls it: static arena, caller's buffers."""
    out = tmp_path / "out"
    assert main(["compile", str(DIGITS), "-o", str(out)]) == 0
    data = np.load(ROOT / "examples" / "digits_test.npz")
    img = data["images"][0].reshape(-1)
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "model.h"\n'
        f"static const float image[MODEL_INPUT0_SIZE] = {{{', '.join(f'{v:.9e}f' for v in img)}}};\n"
        "int main(void) { float logits[MODEL_OUTPUT0_SIZE]; int i, best = 0;\n"
        "  if (model_run(image, logits)) return 1;\n"
        "  for (i = 1; i < MODEL_OUTPUT0_SIZE; ++i) if (logits[i] > logits[best]) best = i;\n"
        '  printf("%d\\n", best); return 0; }\n')
    exe = tmp_path / "app"
    r = subprocess.run(["gcc", *STRICT, "-I", str(out), str(tmp_path / "main.c"), str(out / "model.c"), "-o", str(exe), "-lm"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = int(subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout)
    import onnxruntime as ort
    sess = ort.InferenceSession(str(DIGITS), providers=["CPUExecutionProvider"])
    assert got == int(np.argmax(sess.run(None, {"image": data["images"][:1]})[0]))


def test_inspect_prints_layers_and_arena(capsys):
    assert main(["inspect", str(DIGITS)]) == 0
    out = capsys.readouterr().out
    assert "Conv" in out and "Gemm" in out and "arena (activations + scratch)" in out and "MACs" in out


def test_verify_against_onnxruntime(capsys):
    assert main(["verify", str(DIGITS), "--runs", "2"]) == 0
    assert capsys.readouterr().out.startswith("OK: 2 random input(s)")


def test_failed_compile_leaves_previous_output_intact(tmp_path):
    out = tmp_path / "out"
    assert main(["compile", str(DIGITS), "-o", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    bad = tmp_path / "bad.onnx"
    m = onnx.load(DIGITS)
    m.graph.node[0].op_type = "NoSuchOp"
    onnx.save(m, bad)
    assert main(["compile", str(bad), "-o", str(out)]) == 2
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_compile_for_wasm_runs_in_node(tmp_path):
    out = tmp_path / "out"
    assert main(["compile", str(DIGITS), "-o", str(out), "--target", "wasm"]) == 0
    assert (out / "model.wasm").exists() and (out / "model.mjs").exists()
    img = np.load(ROOT / "examples" / "digits_test.npz")["images"][:1]
    (out / "t.mjs").write_text(
        "import { load, run } from './model.mjs';\nawait load();\n"
        f"const out = run(new Float32Array([{', '.join(f'{v:.9e}' for v in img.reshape(-1))}]));\n"
        "console.log(JSON.stringify(Array.from(Array.isArray(out) ? out[0] : out)));\n")
    r = subprocess.run(["node", str(out / "t.mjs")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import onnxruntime as ort
    expected = ort.InferenceSession(str(DIGITS), providers=["CPUExecutionProvider"]).run(None, {"image": img})[0]
    np.testing.assert_allclose(np.array(json.loads(r.stdout)), expected[0], rtol=1e-4, atol=1e-5)


def test_bench_on_cortex_m4_counts_instructions_and_checks_outputs(capsys):
    model = ROOT.parent / "shared" / "models" / "hello_world_int8.tflite"
    assert main(["bench", str(model), "--target", "cortex-m4", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["check"] == {"ok": True, "mode": "bit-exact", "max_diff": 0.0}
    assert r["instructions"] > 1000 and r["macs"] == 288 and r["arena_bytes"] == 32
    assert r["flash_bytes"] > r["static_ram_bytes"] > 0
