"""Patch-based inference (passes/patch.py, plan/patches.py): the patched graph computes the same
bytes as the unpatched one (numpy reference, compiled C, TFLM) within the RAM budget."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import smelt
from smelt import pipeline
from smelt.cli import main
from smelt.errors import SmeltError
from smelt.frontends import tflite as tfl
from smelt.passes import patch
from smelt.plan import memory, patches
from smelt.runtime import interp, tflm

PD = Path("/work/shared/models/person_detect.tflite")
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
BUDGET = 32 * 1024


@pytest.fixture(scope="module")
def pd_graph():
    return pipeline.optimize(smelt.load(PD))


@pytest.fixture(scope="module")
def pd_inputs():
    return [x[0] for x in tflm.random_inputs([((1, 96, 96, 1), "int8")], 3, seed=7)]


def test_parse_budget():
    assert [patches.parse_bytes(s) for s in ("32K", "32KiB", "32kb", "1M", "32768", 4096)] == \
        [32768, 32768, 32768, 1 << 20, 32768, 4096]
    with pytest.raises(SmeltError, match="not a size"):
        patches.parse_bytes("lots")


@pytest.mark.parametrize("split,grid,assemble,shrinks", [
    (2, 3, "place", True), (7, 2, "concat", True), (7, 4, "place", True), (12, 5, "concat", True),
    (26, 3, "place", False)])    # at layer 26 one pixel's receptive field is the whole image
def test_patched_person_detect_matches_the_reference_bit_exact(pd_graph, pd_inputs, split, grid, assemble, shrinks):
    g = pd_graph
    pg = patch.run(g, split, grid, assemble)
    # every tensor the split node's output feeds downstream is compared, not only the 2-byte output
    split_out = g.nodes[split].outputs[0]
    g2, pg2 = g.copy(), pg.copy()
    g2.outputs = pg2.outputs = g.outputs + [split_out]
    for x in pd_inputs[:2]:
        want, got = interp.run(g2, {"input": x}), interp.run(pg2, {"input": x})
        for k in want:
            assert np.array_equal(want[k], got[k]), k
    # the prefix's big tensors are gone: every op of the prefix now makes tiles, no larger than its
    # output (deep layers' halos may cover it all), and the first layer's tiles are smaller
    whole = {n.name: g[n.outputs[0]].nbytes for n in g.nodes[:split + 1]}
    tiles = [n for n in pg.nodes[:len(pg.nodes) - (len(g.nodes) - split - 1)] if n.name.rsplit("_p", 1)[0] in whole]
    assert len(tiles) == grid * grid * (split + 1)
    assert all(pg[n.outputs[0]].nbytes <= whole[n.name.rsplit("_p", 1)[0]] for n in tiles)
    first = [pg[n.outputs[0]].nbytes for n in tiles if n.name.startswith(g.nodes[0].name + "_p")]
    assert (max(first) < whole[g.nodes[0].name]) == shrinks
    assert patches.macs(pg) > patches.macs(g)


def test_person_detect_fits_32k_and_is_bit_exact_with_tflm_and_unpatched(pd_inputs):
    art = smelt.compile(PD, ram_budget="32K")
    ch = art.patching
    assert ch is not None and ch.ram <= BUDGET
    # the budget counts the arena and the input/output buffers (the caller's unless planned in the arena)
    io = 0 if getattr(art.plan, "io_in_arena", False) else 96 * 96 + 2
    assert patches.activation_ram(art.graph, art.plan) == art.plan.arena_size + io <= BUDGET
    assert art.report.arena_bytes == art.plan.arena_size
    assert any(n.op == "PlaceTile" or n.op == "Concat" for n in art.graph.nodes)
    assert ch.extra_macs == art.report.macs - patches.macs(pipeline.optimize(smelt.load(PD))) > 0
    assert ch.describe() in art.report.table()
    plain = smelt.compile(PD)
    assert patches.activation_ram(plain.graph, plain.plan) > BUDGET     # the patches are what makes it fit
    want = tflm.run_tflm(PD, [[x] for x in pd_inputs])
    for x, w in zip(pd_inputs, want):
        out = art.graph.outputs[0]
        got = art.run(x)[out]
        assert np.array_equal(got, plain.run(x)[out])
        assert np.array_equal(got, art.reference(x)[out])
        assert np.array_equal(got, w[-1])


def test_assembled_split_tensor_equals_tflm_intermediate(pd_graph, pd_inputs):
    """The tensor assembled from the patches, and the one after it, compiled to C, against TFLM's
    intermediate tensors byte for byte."""
    g, mapping = tfl.read(PD)
    split = next(i for i, n in enumerate(pd_graph.nodes) if n.name == "7_depthwise_conv_2d")
    names = [pd_graph.nodes[split].outputs[0], pd_graph.nodes[split + 1].outputs[0]]
    opt = pd_graph.copy()
    opt.outputs = pd_graph.outputs + names
    art = smelt.compile(patch.run(opt, split, 3, "place"))
    want = tflm.run_tflm(PD, [[x] for x in pd_inputs[:2]], indices=[mapping[t] for t in names])
    for x, w in zip(pd_inputs[:2], want):
        got = art.run(x)
        for t in names:
            assert got[t].shape == w[mapping[t]].shape
            assert np.array_equal(got[t], w[mapping[t]]), t


def test_cli_ram_budget_32k(tmp_path, capsys):
    out = tmp_path / "pd"
    assert main(["compile", str(PD), "-o", str(out), "--ram-budget", "32K"]) == 0
    printed = capsys.readouterr().out
    assert "patches: layers up to" in printed and "MACs recomputed" in printed
    ram = int(re.search(r"activation RAM ([\d,]+) B", printed).group(1).replace(",", ""))
    rep = json.loads((out / "report.json").read_text())
    assert rep["arena_bytes"] < ram <= BUDGET
    assert any("patches: layers up to" in n for n in rep["notes"])
    assert "#define MODEL_ARENA_SIZE" in (out / "model.h").read_text()
    cc = shutil.which("clang") or shutil.which("gcc")
    r = subprocess.run([cc, *STRICT, "-c", str(out / "model.c"), "-o", str(tmp_path / "m.o")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, r.stderr


def test_cli_impossible_budget_is_one_clean_line(tmp_path, capsys):
    out = tmp_path / "pd"
    assert main(["compile", str(PD), "-o", str(out), "--ram-budget", "16K"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "smallest reachable is" in err and "16,384 B" in err
    assert not out.exists()
    assert main(["compile", str(PD), "-o", str(out), "--ram-budget", "sixteen"]) == 2


def test_best_under_budget_for_bench(pd_graph):
    arena, text = patches.best_under_budget(pd_graph, BUDGET)
    assert arena + 96 * 96 + 2 <= BUDGET and "patches" in text
    arena, text = patches.best_under_budget(pd_graph, 1 << 20)
    assert text == "no patches needed" and arena == memory.build(pd_graph).arena_size


def test_fewest_extra_macs_wins_and_the_pruning_floors_are_lower_bounds(pd_graph):
    """Every candidate with fewer extra MACs than the choice misses the budget, and the floors the
    search prunes with never exceed a candidate's planned RAM."""
    ch = patches.search(pd_graph, BUDGET)
    base = patches.macs(pd_graph)
    outside = set(pd_graph.inputs + pd_graph.outputs)
    for k, grid, pg in patches.candidates(pd_graph):
        c = patches._evaluate(pd_graph, k, grid, pg, base)
        assert patches._floor(pd_graph, k, outside) <= patches._floor(pd_graph, k, outside, pg, grid) <= c.ram
        if c.extra_macs < ch.extra_macs:
            assert c.ram > BUDGET


def _small_cnn() -> onnx.ModelProto:
    """Float NCHW: Conv, Relu, a residual Add (a tensor read with and without halo), MaxPool,
    AveragePool, a per-channel Mul, then global pooling and Gemm (the unpatched suffix)."""
    rng = np.random.default_rng(3)
    inits, nodes = [], []

    def w(name, *shape):
        inits.append(helper.make_tensor(name, TensorProto.FLOAT, shape, rng.normal(0, 0.4, shape).ravel()))
        return name

    nodes += [helper.make_node("Conv", ["x", w("w1", 8, 3, 3, 3), w("b1", 8)], ["c1"], pads=[1, 1, 1, 1]),
              helper.make_node("Relu", ["c1"], ["r1"]),
              helper.make_node("Conv", ["r1", w("w2", 8, 1, 3, 3)], ["c2"], group=8, pads=[1, 1, 1, 1],
                               strides=[2, 2]),
              helper.make_node("Conv", ["r1", w("w3", 8, 8, 1, 1)], ["c3"], strides=[2, 2]),
              helper.make_node("Add", ["c2", "c3"], ["a1"]),
              helper.make_node("MaxPool", ["a1"], ["m1"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
              helper.make_node("Mul", ["m1", w("s1", 8, 1, 1)], ["s"]),
              helper.make_node("AveragePool", ["s"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
              helper.make_node("Conv", ["p1", w("w4", 16, 8, 3, 3)], ["c4"], pads=[0, 0, 1, 1], strides=[2, 2]),
              helper.make_node("GlobalAveragePool", ["c4"], ["gp"]),
              helper.make_node("Flatten", ["gp"], ["f"]),
              helper.make_node("Gemm", ["f", w("wf", 4, 16), w("bf", 4)], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "small_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 40, 40])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_float_cnn_with_residual_patched_matches_reference():
    g = pipeline.optimize(smelt.load(_small_cnn()))
    x = np.random.default_rng(0).standard_normal((1, 3, 40, 40)).astype(np.float32)
    want = interp.run(g, {"x": x})["y"]
    ks = patches.splits(g)
    assert len(ks) >= 5       # conv, add, maxpool, mul, avgpool, conv can all end a prefix
    for k in ks:
        for grid in (2, 3):
            for assemble in patches.ASSEMBLY:
                got = interp.run(patch.run(g, k, grid, assemble), {"x": x})["y"]
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    plain = smelt.compile(_small_cnn())
    budget = patches.activation_ram(plain.graph, plain.plan) - 1
    art = smelt.compile(_small_cnn(), ram_budget=budget)
    assert art.patching is not None and art.patching.ram <= budget
    np.testing.assert_allclose(art.run(x)["y"], want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(art.run(x)["y"], plain.run(x)["y"], rtol=1e-4, atol=1e-5)


def test_mobilenet_float_patched_matches_unpatched():
    from bench import models
    path = models.path("mobilenet_v1_025")
    x = models.example_input("mobilenet_v1_025")["input"]
    plain = smelt.compile(path)
    art = smelt.compile(path, ram_budget="200K")
    assert art.patching is not None and art.patching.ram <= 200 * 1024 < patches.activation_ram(plain.graph, plain.plan)
    np.testing.assert_allclose(art.run(x)["output"], plain.run(x)["output"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(art.run(x)["output"], art.reference(x)["output"], rtol=1e-4, atol=1e-6)


def test_unpatchable_prefix_is_refused(pd_graph):
    last = len(pd_graph.nodes) - 1       # the Softmax: not spatial
    with pytest.raises(patch.PrefixError, match="cannot run on a spatial tile"):
        patch.run(pd_graph, last, 2)
    with pytest.raises(SmeltError, match="grid does not fit"):
        patch.run(pd_graph, 26, 4)       # 3x3 output


@pytest.mark.parametrize("full,tile,starts,dtype", [
    ((1, 3, 6, 8), (1, 3, 2, 3), (0, 0, 4, 5), "float32"),     # NCHW: rows of every channel
    ((1, 6, 8, 5), (1, 2, 8, 5), (0, 3, 0, 0), "int8"),        # NHWC, whole rows: one run
    ((1, 6, 8, 5), (1, 4, 3, 5), (0, 1, 2, 0), "int8"),        # NHWC
    ((2, 3, 6, 8), (2, 3, 6, 2), (0, 0, 0, 6), "float32")])    # batches x channels x rows
def test_place_tile_kernel_matches_reference(full, tile, starts, dtype):
    """PlaceTile compiled to C, both forms: the first tile (no acc: zeros around it) and a later one
    over an acc that is a graph input (so the kernel copies it)."""
    from smelt.ir import Graph, Node, Tensor
    g = Graph("place", inputs=["acc", "t"], outputs=["y0", "y"])
    g.add(Tensor("acc", full, dtype))
    g.add(Tensor("t", tile, dtype))
    g.add(Tensor("y0", full, dtype))
    g.add(Tensor("y", full, dtype))
    attrs = {"shape": full, "starts": starts}
    g.nodes = [Node("PlaceTile", "first", ["", "t"], ["y0"], attrs), Node("PlaceTile", "later", ["acc", "t"], ["y"], attrs)]
    rng = np.random.default_rng(1)
    feeds = {"acc": rng.integers(-100, 100, full).astype(dtype), "t": rng.integers(-100, 100, tile).astype(dtype)}
    art = smelt.compile(g)
    got, want = art.run(feeds), art.reference(feeds)
    box = tuple(slice(s, s + t) for s, t in zip(starts, tile))
    assert np.array_equal(want["y"][box], feeds["t"]) and np.count_nonzero(want["y0"]) == np.count_nonzero(feeds["t"])
    for k in want:
        assert np.array_equal(got[k], want[k]), k
