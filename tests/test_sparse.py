"""Unstructured (block) magnitude pruning and the block-sparse int8 format (ops/sparse.py,
passes/sparsify.py): compiled C == reference byte for byte, the format chosen only where it saves
flash, fewer Cortex-M4 instructions for a very sparse layer, and the digits CNN pruned to 70% +
fine-tuned keeping its accuracy with fewer flash bytes."""
import shutil

import numpy as np
import pytest

import smelt
from smelt import compress, prune, targets
from smelt.ops import sparse
from smelt.passes import sparsify

from .test_formats import DIGITS, check_c, int8_layer


def zero_blocks(g, frac, seed):
    """Zero a fraction of the 4-weight blocks (K order) of the layer's weights."""
    w = g["w"]
    rows = w.data.reshape(w.shape[0], -1)
    b = sparse.blocks_of(rows)
    rng = np.random.default_rng(seed)
    b[rng.random(b.shape[:2]) < frac] = 0
    w.data = b.reshape(rows.shape[0], -1)[:, :rows.shape[1]].reshape(w.shape).astype(np.int8)


def test_encode_decode_roundtrip():
    rng = np.random.default_rng(0)
    w = rng.integers(-3, 4, (9, 22)).astype(np.int8)
    values, index = sparse.encode(w)
    assert np.array_equal(sparse.decode(values, index, 9, 22), w)
    assert values.size + 2 * index.size == sparse.sparse_bytes(w)


LAYERS = [
    ("QConv2D", (1, 7, 6, 8), (6, 3, 3, 8), {"pads": (1, 1, 1, 1), "act": "RELU"}),
    ("QConv2D", (2, 8, 8, 3), (5, 3, 2, 3), {"strides": (2, 1)}),     # K = 18: a padded last block
    ("QConv2D", (1, 5, 5, 16), (9, 1, 1, 16), {}),
    ("QFullyConnected", (3, 21), (7, 21), {"act": "RELU"}),
    ("QFullyConnected", (2, 64), (10, 64), {}),
]


@pytest.mark.parametrize("frac", [0.1, 0.7, 0.95])
def test_sparse_layers_c_equals_reference(frac):
    for i, (kind, xs, ws, kw) in enumerate(LAYERS):
        g = int8_layer(kind, xs, ws, seed=i, **kw)
        zero_blocks(g, frac, i)
        dense_bytes = smelt.compile(g).report.weight_bytes
        sparsify.run(g)
        node = g.nodes[0]
        chosen = node.op == kind + "Sparse"
        assert "sparse_why" in node.attrs
        if frac == 0.1:
            assert not chosen, node.attrs["sparse_why"]      # most blocks occupied: dense is smaller
        if frac == 0.95:
            assert chosen, node.attrs["sparse_why"]
        art = check_c(g, seed=i)
        if chosen:
            assert art.report.weight_bytes < dense_bytes
            assert art.report.weight_bytes == g[node.inputs[1]].nbytes + g[node.inputs[3]].nbytes


def test_sparse_fewer_instructions_on_cortex_m4():
    if not shutil.which("arm-none-eabi-gcc") or not shutil.which("qemu-system-arm"):
        pytest.fail("the Cortex-M4 toolchain is missing (scripts/setup.sh installs it)")
    g = int8_layer("QConv2D", (1, 8, 8, 32), (32, 3, 3, 32), seed=5, pads=(1, 1, 1, 1))
    zero_blocks(g, 0.9, 5)
    x = np.random.default_rng(1).integers(-128, 128, g["x"].shape).astype(np.int8)
    dense = targets.bench(smelt.compile(g), "cortex-m4", inputs=[x])
    sp = targets.bench(smelt.compile(sparsify.run(g.copy())), "cortex-m4", inputs=[x])
    print("\ndense", dense["instructions"], dense["flash_bytes"], "sparse", sp["instructions"], sp["flash_bytes"])
    assert dense["check"]["ok"] and sp["check"]["ok"]
    assert sp["instructions"] < dense["instructions"] and sp["flash_bytes"] < dense["flash_bytes"]


def test_magnitude_prunes_blocks():
    g = smelt.pipeline.optimize(smelt.load(str(DIGITS)))
    p = prune.magnitude(g, 0.7)
    layers = prune._sparse_layers(p)
    assert prune.density(p) < 0.45 and prune.density(g) > 0.99
    first = p[layers[0].inputs[1]].data
    assert np.count_nonzero(first) == first.size     # the first layer stays dense
    w = p[layers[1].inputs[1]].data                   # OIHW: blocks of 4 input channels at a tap
    blocks = np.moveaxis(w, 1, -1).reshape(-1, 4)
    zero = np.all(blocks == 0, axis=1).mean()
    assert abs(zero - 0.7) < 0.01


def test_digits_pruned_70_fine_tuned():
    pytest.importorskip("torch")
    from smelt.train import data, qat
    from smelt.train.distill import fit
    from smelt.train.graph_module import GraphModule
    x_tr, y_tr, x_te, y_te = data.digits()
    fg = qat.float_graph(str(DIGITS))
    calib = {fg.inputs[0]: x_tr[:256]}
    teacher = GraphModule(fg)
    gm = GraphModule(prune.magnitude(fg, 0.7))
    prune.freeze_zeros(gm)
    fit(gm, x_tr, y_tr, epochs=12, lr=1e-2, batch=32, teacher=teacher, progress=False)
    pruned = gm.to_graph()
    assert prune.density(pruned) < 0.45               # the zeros survived fine-tuning

    def int8(g):
        qm = qat.QATModule(g, weights="int8")
        qat.calibrate(qm, calib[fg.inputs[0]])
        return qat.export(qm)

    def acc(art):   # the compiled C on the host; C == reference checked on a few images
        name, out = art.graph.inputs[0], art.graph.outputs[0]
        for i in range(3):
            assert np.array_equal(art.run({name: x_te[i:i + 1]})[out], art.reference({name: x_te[i:i + 1]})[out])
        pred = [int(np.argmax(art.run({name: x_te[i:i + 1]})[out])) for i in range(len(x_te))]
        return float(np.mean(np.asarray(pred) == y_te))

    dense = smelt.compile(int8(fg))
    g8 = int8(pruned)
    sp = smelt.compile(prune.sparsify(g8))
    chosen = [r for r in compress.weight_formats(sp.graph) if r[2] == "sparse-int8"]
    print("\n", acc(dense), dense.report.weight_bytes, acc(sp), sp.report.weight_bytes,
          compress.sparse_decisions(sp.graph))
    assert chosen and acc(sp) >= acc(dense) - 0.02
    assert sp.report.weight_bytes < 0.75 * dense.report.weight_bytes


def test_compile_option_sparse():
    g = int8_layer("QConv2D", (1, 6, 6, 8), (8, 3, 3, 8), seed=3, pads=(1, 1, 1, 1))
    zero_blocks(g, 0.8, 3)
    art = smelt.compile(g, sparse=True)
    assert [n.op for n in art.graph.nodes] == ["QConv2DSparse"]
    assert smelt.compile(g).graph.nodes[0].op == "QConv2D"          # off by default
    x = np.random.default_rng(0).integers(-128, 128, g["x"].shape).astype(np.int8)
    assert np.array_equal(art.run({"x": x})["y"], smelt.compile(g).run({"x": x})["y"])
