"""The memory plan: placement, liveness, aliasing, verification."""
import numpy as np
import pytest
from onnx import TensorProto, helper

import smelt
from smelt.errors import PlanError
from smelt.plan import memory
from smelt.plan.memory import Buffer, MemoryPlan


def chain_model(n=4, width=64):
    """x -> Relu -> Sigmoid -> Relu -> ... : each intermediate dies after its consumer."""
    nodes, prev = [], "x"
    for i in range(n):
        out = "y" if i == n - 1 else f"t{i}"
        nodes.append(helper.make_node("Relu" if i % 2 == 0 else "Sigmoid", [prev], [out]))
        prev = out
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_chain_reuses_memory_and_runs_in_place():
    art = smelt.compile(chain_model(6, 64))
    # 5 intermediates of 256 B; each activation overwrites its dying input: one buffer in all.
    assert art.plan.arena_size == 256
    assert set(art.plan.alias) == {"t1", "t2", "t3", "t4"}
    # Without in-place execution at most two are alive at once: exactly two buffers.
    assert memory.build(art.graph, in_place=False).arena_size == 2 * 256
    x = np.random.default_rng(0).standard_normal((1, 64)).astype(np.float32)
    np.testing.assert_allclose(art.run({"x": x})["y"], art.reference({"x": x})["y"], rtol=1e-6)


def test_in_place_only_over_a_dying_input_of_the_same_shape():
    """a = relu(x); b = sigmoid(a); y = a + b: b cannot overwrite a (a is read later),
    y may overwrite a or b (both die at the add); a broadcast input is never overwritten."""
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["a"], ["b"]),
             helper.make_node("Add", ["a", "b"], ["c"]), helper.make_node("Relu", ["v"], ["vr"]),
             helper.make_node("Add", ["vr", "c"], ["y"])]
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8]),
                                       helper.make_tensor_value_info("v", TensorProto.FLOAT, [8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])])
    art = smelt.compile(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert "b" not in art.plan.alias and art.plan.alias["c"] in ("a", "b")
    assert "vr" not in art.plan.alias.values()
    rng = np.random.default_rng(0)
    feeds = {"x": rng.standard_normal((2, 8)).astype(np.float32), "v": rng.standard_normal(8).astype(np.float32)}
    a = np.maximum(feeds["x"], 0)
    expected = np.maximum(feeds["v"], 0) + a + 1 / (1 + np.exp(-a))
    np.testing.assert_allclose(art.run(feeds)["y"], expected, rtol=1e-6)


def test_greedy_by_size_places_largest_first_and_reuses_gaps():
    bufs = [Buffer("a", 64, 0, 1), Buffer("b", 32, 1, 2), Buffer("c", 64, 2, 3)]
    memory.place_greedy_by_size(bufs)
    assert {b.name: b.offset for b in bufs} == {"a": 0, "c": 0, "b": 64}


def test_verify_rejects_overlap():
    plan = MemoryPlan({"a": Buffer("a", 64, 0, 2, 0), "b": Buffer("b", 64, 1, 3, 32)}, {}, 128)
    with pytest.raises(PlanError, match="overlap"):
        memory.verify(plan)


def test_verify_rejects_misaligned_offset():
    plan = MemoryPlan({"a": Buffer("a", 64, 0, 2, 4)}, {}, 128)
    with pytest.raises(PlanError, match="offset"):
        memory.verify(plan)


def test_random_lifetimes_always_verify():
    rng = np.random.default_rng(1)
    for _ in range(200):
        bufs = []
        for i in range(rng.integers(1, 25)):
            first = int(rng.integers(0, 20))
            bufs.append(Buffer(f"t{i}", memory.align(int(rng.integers(1, 5000))), first, first + int(rng.integers(0, 6))))
        memory.place_greedy_by_size(bufs)
        plan = MemoryPlan({b.name: b for b in bufs}, {}, max(b.offset + b.size for b in bufs))
        memory.verify(plan)
        # never worse than the sum of sizes, never better than the peak of live bytes
        peak = max(sum(b.size for b in bufs if b.first <= s <= b.last) for s in range(30))
        assert peak <= plan.arena_size <= sum(b.size for b in bufs)
