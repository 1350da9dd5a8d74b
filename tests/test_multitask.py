"""Multi-task: train a backbone with two heads on digits, compile the tasks into one library, and
check every entry point byte for byte against the task compiled alone; flash = backbone once +
heads; arena = the largest single need; the CLI with two files; int8 (shared and not shared)."""
import shutil
import subprocess

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import smelt  # noqa: E402
from smelt import cli  # noqa: E402
from smelt.quantize import quantize  # noqa: E402
from smelt.train.multitask import digits_tasks, multitask  # noqa: E402


def _arch():
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(8, 16, 3, padding=1, stride=2), nn.ReLU(), nn.Flatten())
    heads = {"digit": nn.Linear(256, 10),
             "parity": nn.Sequential(nn.Linear(256, 16), nn.ReLU(), nn.Linear(16, 2))}
    return backbone, heads


@pytest.fixture(scope="module")
def trained():
    data = digits_tasks()
    backbone, heads = _arch()
    res = multitask(backbone, heads, data, weighting="uncertainty", epochs=3, progress=False)
    return res, data


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    """The two tasks exported separately (backbone + head each) as ONNX files."""
    res, data = trained
    x = torch.as_tensor(data["digit"][1][0][:1])
    d = tmp_path_factory.mktemp("onnx")
    paths = []
    for task, model in res.export(x).items():
        onnx.save(model, d / f"{task}.onnx")
        paths.append(d / f"{task}.onnx")
    return paths


def _images(data, n=6):
    return [x[None] for x in data["digit"][1][0][:n]]


def _check_bit_exact(lib, images):
    """Each entry point and run_all give the bytes of the task compiled alone."""
    for x in images:
        everything = lib.run_all(x)
        for task, alone in lib.separate.items():
            ref = alone.run(x)
            got = lib.run(task, x)
            assert list(got) == list(ref)
            for name in ref:
                assert got[name].tobytes() == ref[name].tobytes(), (task, name)
                assert everything[task][name].tobytes() == ref[name].tobytes(), ("all", task, name)


def test_training_report(trained):
    res, _ = trained
    rep = res.report
    assert [t.task for t in rep.tasks] == ["digit", "parity"]
    digit, parity = rep.tasks
    assert (digit.classes, parity.classes) == (10, 2)
    assert parity.train_samples < digit.train_samples          # different dataset sizes
    assert digit.accuracy > 0.8 and parity.accuracy > 0.75      # chance: 0.1 and 0.5
    assert digit.alone is not None and digit.alone > 0.8
    assert all(w > 0 for w in rep.task_weights.values())
    assert "alone acc" in rep.table()


@pytest.mark.parametrize("weighting", ["fixed", "gradnorm"])
def test_other_weightings(weighting):
    data = digits_tasks()
    backbone, heads = _arch()
    rep = multitask(backbone, heads, data, weighting=weighting, weights={"digit": 1.0, "parity": 0.5},
                    epochs=2, baseline=False, progress=False).report
    assert all(t.accuracy > 0.6 for t in rep.tasks)
    if weighting == "fixed":
        assert rep.task_weights == {"digit": 1.0, "parity": 0.5}
    else:
        assert sum(rep.task_weights.values()) == pytest.approx(2.0, rel=1e-4)   # GradNorm keeps sum w = T


def test_library_from_separate_exports(trained, exported, tmp_path):
    res, data = trained
    lib = smelt.compile_library(exported, tmp_path / "lib", name="mt")
    assert lib.tasks == ["digit", "parity"]
    _check_bit_exact(lib, _images(data))

    # flash: the backbone's weights once plus each head's
    x = torch.as_tensor(data["digit"][1][0][:1])
    bb = smelt.compile(res.backbone, example_inputs=(x,))
    sep = {t: a.report.weight_bytes for t, a in lib.separate.items()}
    heads = {t: w - bb.report.weight_bytes for t, w in sep.items()}
    assert all(h > 0 for h in heads.values())
    assert lib.report.weight_bytes == bb.report.weight_bytes + sum(heads.values())
    assert lib.report.shared_weight_bytes == bb.report.weight_bytes
    assert [s["op"] for s in lib.report.shared] == [n.op for n in bb.graph.nodes]
    # one arena, the largest single need
    assert lib.report.arena_bytes == max(a.report.arena_bytes for a in lib.separate.values())
    assert f"#define MT_ARENA_SIZE {lib.report.arena_bytes}\n" in (lib.path / "mt.h").read_text()
    # the weights are in the C once: the library's model.c is smaller than the two together
    src = (lib.path / "mt.c").read_text()
    assert src.count("static const") < sum((a.path / f"{a.name}.c").read_text().count("static const")
                                           for a in lib.separate.values())
    assert "shared layers (3" in (lib.path / "report.txt").read_text()


def test_library_c_is_clean_with_clang(exported, tmp_path):
    clang = shutil.which("clang")
    if not clang:
        pytest.skip("clang not installed")
    lib = smelt.compile_library(exported, tmp_path / "lib", name="mt")
    r = subprocess.run([clang, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", "-c",
                        str(lib.path / "mt.c"), "-o", str(tmp_path / "mt.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_multi_output_model_split(trained):
    res, data = trained
    x = torch.as_tensor(data["digit"][1][0][:1])
    lib = smelt.compile_library(res.combined(), example_inputs=(x,), name="mo")
    assert len(lib.tasks) == 2
    _check_bit_exact(lib, _images(data, 3))
    assert len(lib.report.shared) == 3          # conv, conv, flatten
    assert lib.report.weight_bytes < lib.report.separate_weight_bytes


def test_cli_two_files(exported, tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli.main(["compile", str(exported[0]), str(exported[1]), "-o", str(out), "--name", "mt"]) == 0
    assert "tasks digit, parity" in capsys.readouterr().out
    header = (out / "mt.h").read_text()
    for fn in ("mt_run_digit", "mt_run_parity", "mt_run_all"):
        assert f"int {fn}(" in header and f"int {fn}_with_arena(" in header
    # one model keeps today's behavior
    single = tmp_path / "single"
    assert cli.main(["compile", str(exported[0]), "-o", str(single)]) == 0
    assert (single / "model.c").exists() and "model_run(" in (single / "model.h").read_text()


def test_int8_shared_when_quantized_alike(trained, exported):
    res, data = trained
    calib = {"input": data["digit"][0][0][:96]}
    q = [quantize(str(p), calib, method="minmax")[0] for p in exported]
    lib = smelt.compile_library(q, names=["digit", "parity"], name="q")
    _check_bit_exact(lib, _images(data, 4))
    assert lib.report.shared and all(s["tasks"] == ["digit", "parity"] for s in lib.report.shared)
    # flash: the int8 backbone (quantized alone on the same images) once, plus the heads
    x = torch.as_tensor(data["digit"][1][0][:1])
    from smelt.frontends import torch as torch_fe
    bb = smelt.compile(quantize(torch_fe.to_onnx(res.backbone, (x,)), calib, method="minmax")[0])
    assert bb.report.weight_bytes > 1000
    assert lib.report.weight_bytes == lib.report.separate_weight_bytes - bb.report.weight_bytes
    assert [s["op"] for s in lib.report.shared] == [n.op for n in bb.graph.nodes[:len(lib.report.shared)]]
    assert lib.report.arena_bytes == max(a.report.arena_bytes for a in lib.separate.values())

    sep_macs = sum(t["macs"] for t in lib.report.tasks)
    assert lib.report.macs_all == sep_macs - bb.report.macs          # run_all: the backbone once

    # the parity model calibrated on other images: its activations' scales differ, so no layer
    # with weights is shared (run_all computes both backbones), yet the int8 weights (symmetric,
    # from the weights alone) are the same bytes and still stored once
    other = quantize(str(exported[1]), {"input": data["digit"][0][0][200:296]}, method="minmax")[0]
    lib2 = smelt.compile_library([q[0], other], names=["digit", "parity"], name="q2")
    _check_bit_exact(lib2, _images(data, 2))
    assert lib2.report.shared_weight_bytes == 0
    assert [s["op"] for s in lib2.report.shared] == ["QuantizeLinear", "Reshape"]   # the input's range is alike
    assert lib2.report.macs_all == sep_macs
    assert lib2.report.weight_bytes == lib.report.weight_bytes


def test_errors(exported):
    with pytest.raises(smelt.SmeltError, match="names for"):
        smelt.compile_library(exported, names=["a"])
    with pytest.raises(smelt.SmeltError, match="io_in_arena"):
        smelt.compile_library(exported, io_in_arena=True)
    lib = smelt.compile_library(exported)
    with pytest.raises(smelt.SmeltError, match="no task 'nope'"):
        lib.run("nope", np.zeros((1, 1, 8, 8), np.float32))
