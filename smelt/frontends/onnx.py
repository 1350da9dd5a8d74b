"""ONNX (file, bytes or ModelProto) -> ir.Graph with static shapes.

Shapes are inferred node by node with each Op's `infer`; a node whose inputs are all known
at compile time is evaluated with its numpy reference (so Shape/Gather/Concat/ConstantOfShape
chains become constants), and the `fold_constants` pass later drops such nodes.
"""
from __future__ import annotations

import os
import re

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .. import registry
from ..errors import ModelFormatError, ShapeError, UnsupportedOpError
from ..ir import Graph, Node, Tensor

MIN_OPSET, MAX_OPSET = 7, 21


def load_model(source) -> onnx.ModelProto:
    if isinstance(source, onnx.ModelProto):
        return source
    try:
        if isinstance(source, (bytes, bytearray)):
            model = onnx.load_model_from_string(bytes(source))
        else:
            path = os.fspath(source)
            if not os.path.exists(path):
                raise ModelFormatError(f"model file '{path}' does not exist")
            model = onnx.load(path)
    except ModelFormatError:
        raise
    except Exception as e:  # protobuf raises DecodeError, RuntimeWarning, ...
        raise ModelFormatError(f"'{source if not isinstance(source, bytes) else '<bytes>'}' is not a "
                               f"readable ONNX model ({type(e).__name__}: {e}); check that the file "
                               f"is complete and really ONNX") from None
    if not model.graph.node and not model.graph.output:
        raise ModelFormatError("the ONNX model has an empty graph (truncated or not an ONNX file?)")
    return model


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return MAX_OPSET


def _attr(a: onnx.AttributeProto):
    if a.type == onnx.AttributeProto.GRAPH or a.type == onnx.AttributeProto.GRAPHS:
        raise UnsupportedOpError("", "subgraph", detail="control flow (If/Loop/Scan) is not supported")
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


def _np_dtype(elem_type: int, what: str) -> str:
    try:
        dt = np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except Exception:
        raise UnsupportedOpError(what, "tensor type", detail=f"element type {elem_type} has no numpy equivalent")
    if dt.kind not in "fiub" or dt.name not in registry.SUFFIX:
        raise UnsupportedOpError(what, "tensor type", detail=f"element type {dt.name} is not supported")
    return dt.name


def _input_shape(vi: onnx.ValueInfoProto, override) -> tuple[int, ...]:
    if override is not None:
        return tuple(int(d) for d in override)
    if not vi.type.HasField("tensor_type"):
        raise UnsupportedOpError(vi.name, "input type", detail="only tensor inputs are supported")
    tt = vi.type.tensor_type
    if not tt.HasField("shape"):
        raise ShapeError(f"graph input '{vi.name}' has no shape; give one with --input-shape "
                         f"{vi.name}=1,3,224,224", vi.name)
    dims = []
    for i, d in enumerate(tt.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(d.dim_value)
        elif i == 0:
            dims.append(1)  # a symbolic batch dimension is frozen to 1
        else:
            raise ShapeError(f"graph input '{vi.name}' has dynamic dimension {i} "
                             f"('{d.dim_param or '?'}'); freeze it with --input-shape {vi.name}=...",
                             vi.name)
    return tuple(dims)


def _constant_node_value(node: onnx.NodeProto) -> np.ndarray:
    a = {x.name: _attr(x) for x in node.attribute}
    for key, dtype in (("value", None), ("value_float", np.float32), ("value_floats", np.float32),
                       ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            return np.asarray(a[key], dtype=dtype)
    raise UnsupportedOpError(node.name, "Constant", detail=f"attribute {sorted(a)} not supported")


def sanitize(name: str) -> str:
    return re.sub(r"\W", "_", name)


def import_onnx(source, input_shapes: dict | None = None, freeze: dict | None = None,
                name: str | None = None) -> Graph:
    model = load_model(source)
    opset = default_opset(model)
    if opset < MIN_OPSET:
        try:
            model = onnx.version_converter.convert_version(model, MIN_OPSET)
            opset = MIN_OPSET
        except Exception as e:
            raise ModelFormatError(f"opset {opset} is older than {MIN_OPSET} and onnx's version "
                                   f"converter failed on it ({e}); re-export the model") from None
    input_shapes, freeze = input_shapes or {}, freeze or {}
    gp = model.graph
    g = Graph(sanitize(name or gp.name or "model") or "model")

    for init in gp.initializer:
        try:
            data = numpy_helper.to_array(init)
        except Exception as e:
            raise ModelFormatError(f"initializer '{init.name}' cannot be read ({e})") from None
        g.add(Tensor(init.name, tuple(data.shape), _dtype_name(data, init.name), data))
    for vi in gp.input:
        if vi.name in g.tensors:
            continue  # an initializer listed as input (IR < 4): a constant
        dtype = _np_dtype(vi.type.tensor_type.elem_type, vi.name)
        if vi.name in freeze:
            data = np.asarray(freeze[vi.name], dtype=dtype)
            g.add(Tensor(vi.name, tuple(data.shape), dtype, data))
            continue
        g.add(Tensor(vi.name, _input_shape(vi, input_shapes.get(vi.name)), dtype))
        g.inputs.append(vi.name)
    unknown = set(input_shapes) - set(g.inputs)
    if unknown:
        raise ShapeError(f"--input-shape names {sorted(unknown)}, but the model's inputs are {g.inputs}")

    for i, np_ in enumerate(gp.node):
        node_name = np_.name or f"{np_.op_type}_{i}"
        if np_.domain not in ("", "ai.onnx"):
            raise UnsupportedOpError(node_name, f"{np_.domain}.{np_.op_type}", opset,
                                     detail="only the default ONNX domain is supported")
        if np_.op_type == "Constant":
            data = _constant_node_value(np_)
            g.add(Tensor(np_.output[0], tuple(data.shape), _dtype_name(data, np_.output[0]), data))
            continue
        op = registry.lookup_onnx(np_.op_type)
        if op is None:
            raise UnsupportedOpError(node_name, np_.op_type, opset,
                                     supported=list(registry.ONNX_OPS) + ["Constant"])
        node = Node(op.name, node_name, list(np_.input), list(np_.output),
                    {a.name: _attr(a) for a in np_.attribute})
        for t in node.inputs:
            if t and t not in g.tensors:
                raise ModelFormatError(f"node '{node_name}' ({np_.op_type}) reads tensor '{t}', "
                                       f"which no node produces (the graph is not topologically sorted "
                                       f"or is incomplete)")
        node = op.from_onnx(node, g, opset)
        add_node(g, node)

    g.outputs = [o.name for o in gp.output]
    for o in g.outputs:
        if o not in g.tensors:
            raise ModelFormatError(f"graph output '{o}' is never produced")
    return g


def _dtype_name(data: np.ndarray, what: str) -> str:
    if data.dtype.name not in registry.SUFFIX:
        raise UnsupportedOpError(what, "tensor type", detail=f"element type {data.dtype} is not supported")
    return data.dtype.name


def add_node(g: Graph, node: Node) -> None:
    """Append a node: infer its output shapes; evaluate it now if all its inputs are known."""
    op = registry.get(node.op)
    try:
        outs = op.infer(node, g)
    except (UnsupportedOpError, ShapeError):
        raise
    except Exception as e:
        raise ShapeError(f"node '{node.name}' ({node.op}): cannot infer output shapes from inputs "
                         f"{[g[i].shape if i else None for i in node.inputs]}: {e}") from e
    node.outputs = node.outputs[:len(outs)] if len(node.outputs) > len(outs) else node.outputs
    for name, (shape, dtype) in zip(node.outputs, outs):
        if not name:
            continue
        if any(d < 0 for d in shape):
            raise ShapeError(f"node '{node.name}' ({node.op}) has a negative output dimension {shape}", name)
        g.add(Tensor(name, tuple(int(d) for d in shape), dtype))
    g.nodes.append(node)
    known = all(g[i].is_const for i in node.inputs if i)
    if op.foldable and known:
        vals = op.reference(node, g, [g[i].data if i else None for i in node.inputs])
        for name, v in zip(node.outputs, vals):
            if name:
                t = g[name]
                t.data = np.asarray(v, dtype=t.dtype).reshape(t.shape)
