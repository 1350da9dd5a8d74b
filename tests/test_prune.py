"""Structured channel pruning (smelt/prune.py): graph consistency, compiled C == reference, MAC/flash drop."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import smelt
from smelt import prune
from smelt.runtime import interp

ROOT = Path(__file__).resolve().parents[1]
DIGITS = ROOT / "examples" / "digits_cnn.onnx"


def _digits_graph():
    return smelt.pipeline.optimize(smelt.load(str(DIGITS)))


def test_groups_of_digits_cnn():
    groups = {grp.name: grp for grp in prune.channel_groups(_digits_graph())}
    assert groups["/0/Conv"].prunable and groups["/0/Conv"].channels == 16
    # conv -> depthwise -> 1x1 conv: the depthwise filters go with the producer's channels
    assert [c.name for c in groups["/3/Conv"].carriers] == ["/6/Conv"]
    assert [c.name for c in groups["/3/Conv"].consumers] == ["/9/Conv"]
    assert [c.name for c in groups["/9/Conv"].consumers] == ["/14/Gemm"]     # through GAP + Flatten
    assert not groups["/14/Gemm"].prunable and "logits" in groups["/14/Gemm"].reason


def test_pruned_digits_compiles_equal_reference_and_shrinks():
    g = _digits_graph()
    p = prune.prune(g, 0.5)
    x = np.load(ROOT / "examples" / "digits_test.npz")["images"][:4]
    art, small = smelt.compile(g), smelt.compile(p)
    for i in range(len(x)):
        got = small.run({"image": x[i:i + 1]})["logits"]
        np.testing.assert_allclose(got, small.reference({"image": x[i:i + 1]})["logits"], rtol=1e-5, atol=1e-5)
    # 16/32/64 channels -> 8/16/32: conv MACs = out * in channels, so inner layers drop to 1/4,
    # the first conv (1 input channel) and the classifier (10 outputs) to 1/2.
    expect = 8 * 9 * 64 + 16 * 8 * 9 * 16 + 16 * 9 * 16 + 32 * 16 * 16 + 32 * 10
    assert small.report.macs == expect
    assert art.report.macs == 120960 and small.report.macs < 0.3 * art.report.macs
    assert small.report.weight_bytes == 4 * (8 * 9 + 8 + 16 * 8 * 9 + 16 + 16 * 9 + 16 + 32 * 16 + 32 + 10 * 32 + 10)
    assert small.report.arena_bytes == art.report.arena_bytes // 2


def test_pruned_keeps_the_strongest_channels_exactly():
    """Zeroing the pruned filters in the original graph gives the pruned graph's output exactly:
    the removed channels were cut through the graph, nothing else changed."""
    g = _digits_graph()
    groups = {grp.name: grp for grp in prune.channel_groups(g)}
    grp = groups["/9/Conv"]
    keep = np.sort(np.argsort(-prune.importance(g, grp))[:40])
    p = g.copy()
    prune.apply(p, next(grp for grp in prune.channel_groups(p) if grp.name == "/9/Conv"), keep)
    z = g.copy()
    conv = next(n for n in z.nodes if n.name == "/9/Conv")
    drop = np.setdiff1d(np.arange(64), keep)
    w, b = z[conv.inputs[1]].data.copy(), z[conv.inputs[2]].data.copy()
    w[drop], b[drop] = 0, 0
    conv.inputs[1], conv.inputs[2] = z.add_const("w0", w).name, z.add_const("b0", b).name
    x = np.random.default_rng(0).random((1, 1, 8, 8), np.float32)
    np.testing.assert_allclose(interp.run(p, {"image": x})["logits"], interp.run(z, {"image": x})["logits"],
                               rtol=1e-5, atol=1e-6)


def _residual_model(bn: bool):
    """x -> conv a (8) -> relu -> [BN] -> conv b (8) -> add(a-branch, b) -> relu -> conv c (4) -> out."""
    rng = np.random.default_rng(1)
    init = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n) for n, s in
            [("wa", (8, 3, 3, 3)), ("ba", (8,)), ("wb", (8, 8, 3, 3)), ("bb", (8,)), ("wc", (4, 8, 1, 1)),
             ("sc", (8,)), ("bi", (8,)), ("mu", (8,))]]
    init.append(numpy_helper.from_array(rng.random(8).astype(np.float32) + 0.5, "va"))
    nodes = [helper.make_node("Conv", ["x", "wa", "ba"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["ar"])]
    src = "ar"
    if bn:
        nodes.append(helper.make_node("BatchNormalization", ["ar", "sc", "bi", "mu", "va"], ["an"]))
        src = "an"
    nodes += [helper.make_node("Conv", [src, "wb", "bb"], ["b"], pads=[1, 1, 1, 1]),
              helper.make_node("Add", [src, "b"], ["s"]),
              helper.make_node("Relu", ["s"], ["sr"]),
              helper.make_node("Conv", ["sr", "wc"], ["y"])]
    graph = helper.make_graph(nodes, "res", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], init)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("bn", [False, True])
def test_residual_add_prunes_both_sides_and_batchnorm(bn):
    g = smelt.load(_residual_model(bn))        # not optimized: BatchNormalization stays a node
    groups = prune.channel_groups(g)
    res = [grp for grp in groups if len(grp.producers) == 2]
    assert len(res) == 1 and res[0].prunable, [(grp.name, grp.reason) for grp in groups]
    assert sorted(p.name for p in res[0].producers) == sorted(
        n.name for n in g.nodes if n.op == "Conv" and n.inputs[1] in ("wa", "wb"))
    if bn:
        assert [c.op for c in res[0].carriers] == ["BatchNormalization"]
    p = prune.prune(g, 0.5)
    assert p[next(n.outputs[0] for n in p.nodes if n.op == "Add")].shape == (1, 4, 6, 6)
    assert prune.macs(p) < prune.macs(g) * 0.6
    art = smelt.compile(p)
    x = np.random.default_rng(2).standard_normal((1, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(art.run({"x": x})["y"], art.reference({"x": x})["y"], rtol=1e-4, atol=1e-4)


def test_residual_from_outside_is_not_pruned():
    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(rng.standard_normal((3, 3, 1, 1)).astype(np.float32), "w")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Add", ["x", "c"], ["s"]),
             helper.make_node("Conv", ["s", "w"], ["y"])]
    graph = helper.make_graph(nodes, "r", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])], init)
    g = smelt.load(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    first = prune.channel_groups(g)[0]
    assert not first.prunable and "outside the group" in first.reason
    with pytest.raises(smelt.SmeltError, match="cannot be pruned"):
        prune.apply(g, first, [0])
    assert prune.macs(prune.prune(g, 0.5)) == prune.macs(g)   # skipped, not broken


def test_sensitivity_and_mac_plan():
    g = _digits_graph()
    d = np.load(ROOT / "examples" / "digits_test.npz")
    x, y = d["images"][:60], d["labels"][:60]

    def acc(gr):
        return float(np.mean([interp.run(gr, {"image": x[i:i + 1]})["logits"].argmax() == y[i]
                              for i in range(len(x))]))
    sens = prune.sensitivity(g, acc, ratios=(0.5, 0.75))
    assert set(sens) == {"/0/Conv", "/3/Conv", "/9/Conv"}
    assert all(sens[k][0.75] >= sens[k][0.5] - 0.05 for k in sens)   # cutting more hurts (roughly) more
    plan = prune.plan_for_macs(g, sens, 0.5)
    assert prune.macs(prune.prune(g, plan)) <= 0.5 * prune.macs(g)


def test_bad_ratio_and_group_name():
    g = _digits_graph()
    with pytest.raises(smelt.SmeltError, match=r"\[0, 1\)"):
        prune.prune(g, 1.0)
    with pytest.raises(smelt.SmeltError, match="no channel group"):
        prune.prune(g, {"nope": 0.5})


def test_cli_prune(tmp_path, capsys):
    from smelt import cli
    assert cli.main(["prune", str(DIGITS), "--ratio", "0.5", "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "MACs 120,960 -> 33,856" in out and "not prunable" in out
    assert (tmp_path / "out" / "model.c").exists()
    assert cli.main(["prune", str(DIGITS), "--ratio", "1.5"]) == 2
