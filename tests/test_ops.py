"""Every registered op, on every one of its Examples: numpy reference vs onnxruntime, and the
compiled C vs the reference. New ops are picked up automatically."""
import numpy as np
import pytest

import smelt
from smelt import registry
from smelt.runtime import interp

from .onnx_util import example_model, run_ort

CASES = [(name, i, ex) for name, op in sorted(registry.all_ops().items()) for i, ex in enumerate(op.examples)]


def test_every_onnx_op_has_examples():
    missing = [n for n, op in registry.all_ops().items() if op.onnx != () and not op.examples]
    assert not missing, f"ops without examples: {missing}"


@pytest.mark.parametrize("name,index,ex", CASES, ids=[f"{n}-{ex.name or i}" for n, i, ex in CASES])
def test_op(name, index, ex):
    op = registry.get(name)
    op_type = ex.onnx_op or (op.onnx[0] if op.onnx else name)
    model, feeds = example_model(op_type, ex, seed=index)
    expected = run_ort(model, feeds)
    g = smelt.load(model)
    ref = interp.run(g, feeds)
    for o, e in zip(g.outputs, expected):
        np.testing.assert_allclose(ref[o].astype(np.float64), e.astype(np.float64), rtol=ex.rtol, atol=ex.atol,
                                   err_msg=f"{name} reference vs onnxruntime, output {o}")
        assert ref[o].dtype == e.dtype and ref[o].shape == e.shape, (ref[o].dtype, e.dtype, ref[o].shape, e.shape)
    art = smelt.compile(model)
    got = art.run(feeds)
    for o, e in zip(g.outputs, expected):
        np.testing.assert_allclose(got[o].astype(np.float64), ref[o].astype(np.float64), rtol=ex.rtol, atol=ex.atol,
                                   err_msg=f"{name} compiled C vs reference, output {o}")
