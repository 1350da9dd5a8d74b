"""Helpers to build one-node ONNX models from registry Examples and run them in onnxruntime."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from smelt.registry import Rand


def example_model(op_type: str, ex, seed: int = 0):
    """(ModelProto, feeds) for an Example."""
    rng = np.random.default_rng(seed)
    inputs, inits, feeds, names = [], [], {}, []
    for i, spec in enumerate(ex.inputs):
        name = f"in{i}"
        if spec is None:
            names.append("")
            continue
        names.append(name)
        if isinstance(spec, Rand):
            x = spec.draw(rng)
            feeds[name] = x
            inputs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape))
        else:
            inits.append(numpy_helper.from_array(np.asarray(spec), name))
    outs = [f"out{i}" for i in range(ex.outputs)]
    node = helper.make_node(op_type, names, outs, **ex.attrs)
    graph = helper.make_graph([node], "example", inputs, [helper.make_empty_tensor_value_info(o) for o in outs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ex.opset)])
    model.ir_version = min(model.ir_version, 9)
    return model, feeds


def run_ort(model, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)
