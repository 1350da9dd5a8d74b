"""TFLite flatbuffer (.tflite file or bytes) -> ir.Graph.

Float models map onto the float IR ops, given in ONNX form and canonicalized by each op's
from_onnx (FULLY_CONNECTED -> Gemm, RESHAPE -> Reshape, ...; the NHWC window ops CONV_2D,
DEPTHWISE_CONV_2D and the pools become NCHW Conv / pools between two Transposes); quantized models (int8, and 16x8: int16 activations with int8 weights) map onto smelt's
quantized ops (QConv2D, QFullyConnected, ...; smelt/ops/q*.py), which compute TFLM's Prepare
(multipliers, shifts, tables) from the tensors' QuantParams and Eval bit-exactly.

Tensors keep their TFLite names (made unique; unnamed ones are 't<index>'); `read()` also returns
the map smelt tensor name -> TFLite tensor index that per-layer comparisons with TFLM use.
Every node is shape-inferred as it is added, checked against the shape and type the flatbuffer
declares, and evaluated at once when all its inputs are constant.
"""
from __future__ import annotations

import math
import os
import re

import numpy as np

from .. import quant, registry
from ..errors import ModelFormatError, ShapeError, SmeltError, UnsupportedOpError
from ..ir import Graph, Node, QuantParams, Tensor

DTYPES = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8",
          10: "float64", 15: "uint32", 16: "uint16", 12: "uint64"}
ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
FLOAT_ACT = {"RELU": ("Relu", 0.0, 0.0), "RELU6": ("Clip", 0.0, 6.0), "RELU_N1_TO_1": ("Clip", -1.0, 1.0),
             "TANH": ("Tanh", 0.0, 0.0)}


def _builtin_names() -> dict[int, str]:
    from tflite.BuiltinOperator import BuiltinOperator
    return {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}


def import_tflite(source, name: str | None = None) -> Graph:
    """A .tflite file (path) or its bytes as an ir.Graph."""
    return read(source, name)[0]


def read(source, name: str | None = None) -> tuple[Graph, dict[str, int]]:
    """(graph, {smelt tensor name: TFLite tensor index}) for subgraph 0 of the model."""
    buf, label = _bytes(source)
    model = _parse(buf, label)
    try:
        return _Importer(model, buf, label, name).run()
    except SmeltError:
        raise
    except (IndexError, ValueError, TypeError, KeyError, AttributeError, OverflowError, MemoryError) as e:
        raise ModelFormatError(f"'{label}' is not a consistent TFLite model ({type(e).__name__}: {e}); "
                               f"check that the file is complete") from None
    except Exception as e:  # struct.error and flatbuffers' own errors on corrupt offsets
        raise ModelFormatError(f"'{label}' cannot be read as TFLite ({type(e).__name__}: {e})") from None


def _bytes(source) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "<bytes>"
    path = os.fspath(source)
    if not os.path.exists(path):
        raise ModelFormatError(f"model file '{path}' does not exist")
    with open(path, "rb") as f:
        return f.read(), path


def _parse(buf: bytes, label: str):
    import tflite
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelFormatError(f"'{label}' is not a TFLite flatbuffer (no 'TFL3' identifier); "
                               f"give a .tflite file written by the TFLite converter")
    root = int.from_bytes(buf[0:4], "little")
    if root + 4 > len(buf):
        raise ModelFormatError(f"'{label}' is truncated ({len(buf)} bytes, root table at {root})")
    try:
        model = tflite.Model.GetRootAsModel(buf, 0)
        if model.SubgraphsLength() < 1:
            raise ModelFormatError(f"'{label}' has no subgraph")
    except ModelFormatError:
        raise
    except Exception as e:
        raise ModelFormatError(f"'{label}' is truncated or corrupt ({type(e).__name__}: {e})") from None
    return model


class _Importer:
    def __init__(self, model, buf: bytes, label: str, name: str | None):
        self.model, self.buf, self.label = model, buf, label
        self.sg = model.Subgraphs(0)
        gname = name or (os.path.splitext(os.path.basename(label))[0] if label != "<bytes>" else "model")
        self.g = Graph(re.sub(r"\W", "_", gname) or "model")
        self.names: dict[int, str] = {}      # TFLite tensor index -> smelt name
        self.tensors: dict[int, Tensor] = {}  # TFLite tensor index -> as the flatbuffer declares it
        self.variables: dict[int, Tensor] = {}
        self.builtins = _builtin_names()

    # ---------------------------------------------------------------- tensors
    def run(self) -> tuple[Graph, dict[str, int]]:
        sg, g = self.sg, self.g
        used = set()
        for i in range(sg.TensorsLength()):
            t = sg.Tensors(i)
            raw = (t.Name() or b"").decode("utf-8", "replace")
            base = re.sub(r"[^\w/.:;,+-]", "_", raw) or f"t{i}"
            name, k = base, 1
            while name in used:
                name, k = f"{base}_{k}", k + 1
            used.add(name)
            self.names[i] = name
            tensor = self.tensors[i] = self._tensor(i, t, name)
            if t.IsVariable():
                self.variables[i] = tensor
            elif tensor.is_const:
                g.add(tensor)
        for i in sg.InputsAsNumpy() if sg.InputsLength() else []:
            t = self.tensors[int(i)]
            if t.name not in g.tensors:
                g.add(t)
                g.inputs.append(t.name)
        for k in range(sg.OperatorsLength()):
            self._operator(k, sg.Operators(k))
        g.outputs = [self.names[int(i)] for i in (sg.OutputsAsNumpy() if sg.OutputsLength() else [])]
        for o in g.outputs:
            if o not in g.tensors:
                raise ModelFormatError(f"'{self.label}': graph output '{o}' is never produced")
        produced = {name for name in g.tensors}
        mapping = {self.names[i]: i for i in self.names if self.names[i] in produced}
        return g, mapping

    def _tensor(self, index: int, t, name: str) -> Tensor:
        ttype = t.Type()
        if ttype not in DTYPES:
            from tflite.TensorType import TensorType
            tname = {v: k for k, v in vars(TensorType).items() if not k.startswith("_")}.get(ttype, ttype)
            raise UnsupportedOpError(f"tensor {index} '{name}'", "tensor type",
                                     detail=f"element type {tname} is not supported")
        dtype = DTYPES[ttype]
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        if any(d < 0 for d in shape):
            raise ShapeError(f"tensor {index} '{name}' has a dynamic shape {shape}", name)
        data = self._buffer(t.Buffer(), dtype, shape, name)
        return Tensor(name, shape, dtype, data, self._quant(t, len(shape)))

    def _buffer(self, index: int, dtype: str, shape, name: str) -> np.ndarray | None:
        if index <= 0 or index >= self.model.BuffersLength():
            return None
        b = self.model.Buffers(index)
        if b.Offset() > 1:   # data stored after the flatbuffer (models over 2 GB)
            start, size = b.Offset(), b.Size()
            if start + size > len(self.buf):
                raise ModelFormatError(f"'{self.label}': buffer {index} of tensor '{name}' lies past the "
                                       f"end of the file (truncated?)")
            raw = self.buf[start:start + size]
        elif b.DataLength():
            raw = b.DataAsNumpy().tobytes()
        else:
            return None
        count = math.prod(shape)
        dt = np.dtype(dtype).newbyteorder("<")
        if len(raw) != count * dt.itemsize:
            raise ModelFormatError(f"'{self.label}': tensor '{name}' has {len(raw)} bytes of data for shape "
                                   f"{list(shape)} of {dtype}")
        return np.frombuffer(raw, dt).astype(dtype).reshape(shape)

    @staticmethod
    def _quant(t, rank: int) -> QuantParams | None:
        q = t.Quantization()
        if q is None or not q.ScaleLength():
            return None
        scale = q.ScaleAsNumpy().astype(np.float32)
        zp = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(scale.size, np.int64)
        if zp.size == 1 and scale.size > 1:
            zp = np.repeat(zp, scale.size)
        axis = None
        if scale.size > 1:
            # TFLM ignores the quantized dimension of 1-D tensors (person_detect's biases say 3).
            axis = int(q.QuantizedDimension()) if rank > 1 else 0
        return QuantParams(scale, zp, axis)

    # ---------------------------------------------------------------- operators
    def _operator(self, index: int, op) -> None:
        oc = self.model.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        bname = self.builtins.get(code, f"builtin {code}")
        ins = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(i) for i in op.OutputsAsNumpy()] if op.OutputsLength() else []
        where = f"operator {index} (output '{self.names[outs[0]]}')" if outs else f"operator {index}"
        if bname == "CUSTOM":
            custom = (oc.CustomCode() or b"?").decode("utf-8", "replace")
            raise UnsupportedOpError(where, f"CUSTOM '{custom}'",
                                     detail="custom operators have no smelt kernel",
                                     supported=sorted(CONVERTERS))
        conv = CONVERTERS.get(bname)
        if conv is None:
            raise UnsupportedOpError(where, bname, supported=sorted(CONVERTERS))
        for i in ins:
            if i >= 0 and self.names[i] not in self.g.tensors and i not in self.variables:
                raise ModelFormatError(f"'{self.label}': {where} ({bname}) reads tensor "
                                       f"'{self.names[i]}' before any operator produces it")
        ctx = _OpContext(self, index, bname, where, op, ins, outs)
        conv(ctx)


class _OpContext:
    """One TFLite operator being converted: its tensors, options, and node builders."""

    def __init__(self, imp: _Importer, index: int, bname: str, where: str, op, ins, outs):
        self.imp, self.g, self.index, self.bname, self.where, self.op = imp, imp.g, index, bname, where, op
        self.in_idx, self.out_idx = ins, outs
        self.inputs = [imp.names[i] if i >= 0 else "" for i in ins]
        self.outputs = [imp.names[i] for i in outs]
        self._count = 0

    # --- reading
    def options(self, cls_name: str):
        table = self.op.BuiltinOptions()
        if table is None:
            return None
        import tflite
        opt = getattr(tflite, cls_name)()
        opt.Init(table.Bytes, table.Pos)
        return opt

    def declared(self, k: int = 0) -> Tensor:
        """The output tensor k as the flatbuffer declares it (shape, dtype, quant)."""
        return self.imp.tensors[self.out_idx[k]]

    def tensor(self, k: int) -> Tensor | None:
        """Input k (None when absent)."""
        if k >= len(self.in_idx) or self.in_idx[k] < 0:
            return None
        i = self.in_idx[k]
        return self.imp.variables.get(i) or self.g[self.imp.names[i]]

    def dtype(self, k: int = 0) -> str:
        return self.tensor(k).dtype

    def const(self, k: int) -> np.ndarray:
        t = self.tensor(k)
        if t is None or t.data is None:
            raise UnsupportedOpError(self.where, self.bname,
                                     detail=f"input {k} must be a constant (it is computed at run time)")
        return t.data

    def activation(self, opts) -> str:
        return ACTIVATIONS.get(opts.FusedActivationFunction(), "NONE") if opts is not None else "NONE"

    def unsupported(self, detail: str) -> UnsupportedOpError:
        return UnsupportedOpError(self.where, self.bname, detail=detail)

    # --- building
    def node(self, op: str, inputs: list[str], outputs: list[str] | None = None, attrs: dict | None = None,
             declared: list[Tensor] | None = None, consts=()) -> Node:
        """Add node `op`; its outputs default to the operator's, which take the declared quant.
        With `consts` (ONNX-style constant inputs appended to `inputs`), the node is given in ONNX
        form and canonicalized by the op's own from_onnx (opset 13), as the ONNX front end does."""
        if op not in registry.all_ops():
            raise self.unsupported(f"it needs smelt's IR op {op}, which is not available in this build")
        self._count += 1
        outputs = outputs if outputs is not None else list(self.outputs)
        if declared is None and outputs == list(self.outputs):
            declared = [self.declared(k) for k in range(len(outputs))]
        suffix = "" if self._count == 1 else f"_{self._count}"
        name = f"{self.index}_{self.bname.lower()}{suffix}"
        inputs = list(inputs) + ["" if v is None else self.g.add_const(f"{name}/const", np.asarray(v)).name
                                 for v in consts]
        node = Node(op, name, inputs, list(outputs), dict(attrs or {}))
        if op in ONNX_FORM:
            node = registry.get(op).from_onnx(node, self.g, 13)
        add_node(self.g, node, declared, self.where)
        return node

    def temp(self, base: str) -> str:
        """A fresh intermediate tensor name."""
        return self.g.unique(f"{self.outputs[0]}/{base}")

    def is_float(self, k: int = 0) -> bool:
        return self.dtype(k) == "float32"


def add_node(g: Graph, node: Node, declared: list[Tensor] | None, where: str) -> None:
    """Infer the node's outputs, check them against the flatbuffer, give them the declared
    quantization, append the node, and evaluate it now if all its inputs are constant."""
    op = registry.get(node.op)
    try:
        outs = op.infer(node, g)
    except SmeltError:
        raise
    except Exception as e:
        raise ShapeError(f"{where} ({node.op}): cannot infer output shapes from inputs "
                         f"{[g[i].shape if i else None for i in node.inputs]}: {e}") from e
    for k, (name, (shape, dtype)) in enumerate(zip(node.outputs, outs)):
        t = Tensor(name, tuple(int(d) for d in shape), dtype)
        if declared is not None and k < len(declared):
            d = declared[k]
            if d.dtype != dtype or (d.shape != t.shape and math.prod(d.shape) != 0):
                raise ModelFormatError(f"{where}: the model declares output '{name}' as {d.dtype}{list(d.shape)}, "
                                       f"but {node.op} computes {dtype}{list(t.shape)}")
            t.quant = d.quant
        g.add(t)
    g.nodes.append(node)
    if op.foldable and all(g[i].is_const for i in node.inputs if i):
        vals = op.reference(node, g, [g[i].data if i else None for i in node.inputs])
        for name, v in zip(node.outputs, vals):
            t = g[name]
            t.data = np.asarray(v, dtype=t.dtype).reshape(t.shape)


# ---------------------------------------------------------------- converters, one per builtin
CONVERTERS = {}
# Float and data-movement IR ops shared with the ONNX front end: given in ONNX (opset 13) form
# and canonicalized by their own from_onnx, so their canonical attrs stay theirs to define.
ONNX_FORM = {"Gemm", "MatMul", "Reshape", "Softmax", "Clip", "Relu", "Sigmoid", "Tanh", "LeakyRelu",
             "HardSwish", "Add", "Sub", "Mul", "Concat", "Pad", "Transpose", "Slice", "ReduceMean",
             "Conv", "MaxPool", "AveragePool"}
I64 = np.int64


def converter(*names):
    def deco(fn):
        for n in names:
            CONVERTERS[n] = fn
        return fn
    return deco


def _same_pads(in_size: int, k: int, stride: int, dilation: int, padding: int) -> tuple[int, int]:
    """TFLite SAME/VALID padding as explicit (before, after); the kernels use `before` and clip."""
    eff = (k - 1) * dilation + 1
    if padding == 1:  # VALID
        return 0, 0
    out = (in_size + stride - 1) // stride
    total = max((out - 1) * stride + eff - in_size, 0)
    return total // 2, total - total // 2


def _window_attrs(c: _OpContext, opts, kh: int, kw: int, dil=(1, 1)) -> dict:
    x = c.tensor(0)
    if len(x.shape) != 4:
        raise c.unsupported(f"input must be 4-D NHWC, got {list(x.shape)}")
    sh, sw = opts.StrideH(), opts.StrideW()
    top, bottom = _same_pads(x.shape[1], kh, sh, dil[0], opts.Padding())
    left, right = _same_pads(x.shape[2], kw, sw, dil[1], opts.Padding())
    return {"strides": (sh, sw), "dilations": tuple(dil), "pads": (top, left, bottom, right)}


def _check_quantized(c: _OpContext, *ks: int) -> None:
    for k in ks:
        t = c.tensor(k)
        if t is not None and t.quant is None:
            raise c.unsupported(f"{t.dtype} tensor '{t.name}' has no quantization parameters")


def _fused(c: _OpContext, act: str) -> str:
    if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise c.unsupported(f"fused activation {act} on a quantized operator")
    return act


@converter("FULLY_CONNECTED")
def _fully_connected(c: _OpContext) -> None:
    opts = c.options("FullyConnectedOptions")
    act = c.activation(opts)
    keep = bool(opts.KeepNumDims()) if opts is not None else False
    if c.is_float():
        x, w = c.tensor(0), c.tensor(1)
        k = w.shape[-1]
        flat = x.name
        if x.shape != (x.size // k, k):
            flat = c.temp("flat")
            c.node("Reshape", [x.name], [flat], declared=[], consts=[np.array([x.size // k, k], I64)])
        y = c.temp("gemm") if keep or act != "NONE" else c.outputs[0]
        c.node("Gemm", [flat, w.name] + ([c.inputs[2]] if len(c.inputs) > 2 and c.inputs[2] else []),
               [y], {"transB": 1}, declared=[] if y != c.outputs[0] else None)
        if keep:
            z = c.outputs[0] if act == "NONE" else c.temp("keep")
            c.node("Reshape", [y], [z], declared=None if z == c.outputs[0] else [],
                   consts=[np.array(x.shape[:-1] + (w.shape[0],), I64)])
            y = z
        if act != "NONE":
            _apply_float_act(c, y, act)
        return
    _check_quantized(c, 0, 1, 2)
    c.node("QFullyConnected", c.inputs[:3], attrs={"activation": _fused(c, act), "keep_num_dims": keep})


def _apply_float_act(c: _OpContext, src: str, act: str) -> None:
    if act not in FLOAT_ACT:
        raise c.unsupported(f"fused activation {act}")
    kind, a, b = FLOAT_ACT[act]
    consts = [np.float32(a), np.float32(b)] if kind == "Clip" else []
    c.node(kind, [src], [c.outputs[0]], consts=consts)


def _float_nchw(c: _OpContext, op: str, attrs: dict, act: str, weights=None, group: int = 1) -> None:
    """A float NHWC window operator as ONNX's NCHW Conv / pool between two Transposes (weights
    transposed at compile time); the activation sits before the back-transpose, where the fuse
    pass can merge it into the Conv."""
    x = c.tensor(0)
    nchw = c.temp("nchw")
    c.node("Transpose", [x.name], [nchw], {"perm": [0, 3, 1, 2]}, declared=[])
    top, left, bottom, right = attrs["pads"]
    onnx = {"strides": list(attrs["strides"]), "pads": [top, left, bottom, right]}
    inputs = [nchw]
    if op == "Conv":
        w = c.g.add_const(f"{c.outputs[0]}/weights_oihw", weights).name
        inputs += [w] + ([c.inputs[2]] if len(c.inputs) > 2 and c.inputs[2] else [])
        onnx.update(dilations=list(attrs["dilations"]), group=group)
    else:
        onnx["kernel_shape"] = list(attrs["kernel"])
        if op == "AveragePool":
            onnx["count_include_pad"] = 0   # TFLite averages over the in-image taps only
    y = c.temp("y_nchw")
    c.node(op, inputs, [y], onnx, declared=[])
    if act != "NONE":
        if act not in FLOAT_ACT:
            raise c.unsupported(f"fused activation {act}")
        kind, a, b = FLOAT_ACT[act]
        z = c.temp("act")
        c.node(kind, [y], [z], declared=[], consts=[np.float32(a), np.float32(b)] if kind == "Clip" else [])
        y = z
    c.node("Transpose", [y], attrs={"perm": [0, 2, 3, 1]})


@converter("CONV_2D")
def _conv2d(c: _OpContext) -> None:
    opts = c.options("Conv2DOptions")
    w = c.tensor(1)
    attrs = _window_attrs(c, opts, w.shape[1], w.shape[2], (opts.DilationHFactor(), opts.DilationWFactor()))
    act = c.activation(opts)
    if c.is_float():
        groups = c.tensor(0).shape[3] // w.shape[3]
        _float_nchw(c, "Conv", attrs, act, np.ascontiguousarray(c.const(1).transpose(0, 3, 1, 2)), groups)
        return
    _check_quantized(c, 0, 1, 2)
    attrs["activation"] = _fused(c, act)
    c.node("QConv2D", c.inputs[:3], attrs=attrs)


@converter("DEPTHWISE_CONV_2D")
def _depthwise(c: _OpContext) -> None:
    opts = c.options("DepthwiseConv2DOptions")
    x, w = c.tensor(0), c.tensor(1)
    attrs = _window_attrs(c, opts, w.shape[1], w.shape[2], (opts.DilationHFactor(), opts.DilationWFactor()))
    act = c.activation(opts)
    if c.is_float():   # [1, H, W, C*M] -> [C*M, 1, H, W], one group per input channel
        _float_nchw(c, "Conv", attrs, act, np.ascontiguousarray(c.const(1).transpose(3, 0, 1, 2)), x.shape[3])
        return
    _check_quantized(c, 0, 1, 2)
    if w.shape[3] % x.shape[3]:
        raise c.unsupported(f"{w.shape[3]} output channels are not a multiple of {x.shape[3]} input channels")
    attrs["activation"] = _fused(c, act)
    attrs["depth_multiplier"] = w.shape[3] // x.shape[3]
    c.node("QDepthwiseConv2D", c.inputs[:3], attrs=attrs)


@converter("AVERAGE_POOL_2D", "MAX_POOL_2D")
def _pool(c: _OpContext) -> None:
    opts = c.options("Pool2DOptions")
    kh, kw = opts.FilterHeight(), opts.FilterWidth()
    attrs = _window_attrs(c, opts, kh, kw)
    del attrs["dilations"]
    attrs["kernel"] = (kh, kw)
    act = c.activation(opts)
    if c.is_float():
        _float_nchw(c, "AveragePool" if c.bname == "AVERAGE_POOL_2D" else "MaxPool", attrs, act)
        return
    _check_quantized(c, 0)
    attrs["activation"] = _fused(c, act)
    c.node("QAveragePool2D" if c.bname == "AVERAGE_POOL_2D" else "QMaxPool2D", c.inputs[:1], attrs=attrs)


@converter("SOFTMAX")
def _softmax(c: _OpContext) -> None:
    opts = c.options("SoftmaxOptions")
    beta = float(opts.Beta()) if opts is not None else 1.0
    if c.is_float():
        if beta != 1.0:
            raise c.unsupported(f"float SOFTMAX with beta {beta}")
        c.node("Softmax", c.inputs[:1], attrs={"axis": -1})   # opset 13: the last axis only
        return
    _check_quantized(c, 0)
    c.node("QSoftmax", c.inputs[:1], attrs={"beta": beta, "dtype": c.declared().dtype})


@converter("RESHAPE", "SQUEEZE", "EXPAND_DIMS")
def _reshape(c: _OpContext) -> None:
    c.node("Reshape", c.inputs[:1], consts=[np.array(c.declared().shape, I64)])


@converter("QUANTIZE")
def _quantize(c: _OpContext) -> None:
    out = c.declared()
    if out.quant is None or out.quant.per_channel:
        raise c.unsupported("QUANTIZE needs a per-tensor quantized output")
    if not c.is_float():
        _check_quantized(c, 0)
    c.node("QQuantize", c.inputs[:1], attrs={"dtype": out.dtype})


@converter("DEQUANTIZE")
def _dequantize(c: _OpContext) -> None:
    _check_quantized(c, 0)
    if c.tensor(0).quant.per_channel:
        raise c.unsupported("per-channel DEQUANTIZE")
    c.node("QDequantize", c.inputs[:1])


@converter("SVDF")
def _svdf(c: _OpContext) -> None:
    opts = c.options("SVDFOptions")
    if c.is_float():
        raise c.unsupported("float SVDF")
    _check_quantized(c, 0, 1, 2, 3)
    state = c.tensor(4)
    if state is None or c.in_idx[4] not in c.imp.variables:
        raise c.unsupported("input 4 (the activation state) must be a variable tensor")
    attrs = {"rank": int(opts.Rank()), "activation": c.activation(opts),
             "state": {"shape": state.shape, "dtype": state.dtype,
                       "scale": float(state.quant.scale[0]), "zero_point": int(state.quant.zero_point[0])}}
    c.node("QSvdf", c.inputs[:4], attrs=attrs)


@converter("ADD", "SUB", "MUL")
def _binary(c: _OpContext) -> None:
    opts = c.options({"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions"}[c.bname])
    act = c.activation(opts)
    if c.is_float():
        y = c.outputs[0] if act == "NONE" else c.temp("pre_act")
        c.node(c.bname.capitalize(), c.inputs[:2], [y], declared=None if y == c.outputs[0] else [])
        if act != "NONE":
            _apply_float_act(c, y, act)
        return
    _check_quantized(c, 0, 1)
    c.node("Q" + c.bname.capitalize(), c.inputs[:2], attrs={"activation": _fused(c, act)})


ACTIVATION_OPS = {"RELU": ("Relu", "QRelu"), "RELU6": ("Clip", "QRelu6"), "LOGISTIC": ("Sigmoid", "QLogistic"),
                  "TANH": ("Tanh", "QTanh"), "LEAKY_RELU": ("LeakyRelu", "QLeakyRelu"),
                  "HARD_SWISH": ("HardSwish", "QHardSwish")}


@converter(*ACTIVATION_OPS)
def _activation(c: _OpContext) -> None:
    float_op, q_op = ACTIVATION_OPS[c.bname]
    attrs = {}
    if c.bname == "LEAKY_RELU":
        opts = c.options("LeakyReluOptions")
        attrs["alpha"] = float(opts.Alpha()) if opts is not None else 0.2
    if c.is_float():
        consts = [np.float32(0.0), np.float32(6.0)] if c.bname == "RELU6" else []
        c.node(float_op, c.inputs[:1], attrs=attrs, consts=consts)
        return
    _check_quantized(c, 0)
    c.node(q_op, c.inputs[:1], attrs=attrs)


@converter("CONCATENATION")
def _concatenation(c: _OpContext) -> None:
    opts = c.options("ConcatenationOptions")
    axis = int(opts.Axis()) if opts is not None else 0
    act = c.activation(opts)
    if not c.is_float():
        _check_quantized(c, *range(len(c.inputs)))
        out = c.declared()
        for k in range(len(c.inputs)):
            t = c.tensor(k)
            if quant.scale(t) != quant.scale(out) or quant.zero_point(t) != quant.zero_point(out):
                raise c.unsupported(f"input {k} is quantized differently from the output (TFLM copies "
                                    f"bytes without requantizing)")
        if act != "NONE":
            raise c.unsupported(f"fused activation {act}")
    y = c.outputs[0] if act == "NONE" else c.temp("pre_act")
    c.node("Concat", c.inputs, [y], {"axis": axis}, declared=None if y == c.outputs[0] else [])
    if act != "NONE":
        _apply_float_act(c, y, act)


@converter("PAD", "PADV2")
def _pad(c: _OpContext) -> None:
    x, out = c.tensor(0), c.declared()
    pads = np.asarray(c.const(1), np.int64).reshape(-1, 2)
    if pads.shape[0] != len(x.shape):
        raise c.unsupported(f"paddings {pads.tolist()} for rank {len(x.shape)}")
    if len(c.inputs) > 2 and c.inputs[2]:
        value = c.const(2).reshape(-1)[0].item()
    elif x.dtype == "int8":
        value = quant.zero_point(out)   # TFLM pads int8 with the output zero point
    else:
        value = 0
    c.node("Pad", c.inputs[:1], attrs={"mode": "constant"},
           consts=[np.concatenate([pads[:, 0], pads[:, 1]]).astype(I64), np.array([value], x.dtype)])


@converter("TRANSPOSE")
def _transpose(c: _OpContext) -> None:
    rank = len(c.tensor(0).shape)
    perm = [int(p) + rank if int(p) < 0 else int(p) for p in np.asarray(c.const(1)).reshape(-1)]
    c.node("Transpose", c.inputs[:1], attrs={"perm": perm})


def _strided_range(size: int, begin: int, end: int, stride: int, begin_masked: bool, end_masked: bool,
                   shrink: bool) -> tuple[int, int]:
    """TFLite's StartForAxis / StopForAxis: the resolved, clamped (start, stop) of one axis."""
    if size == 0:
        return 0, 0
    lo, hi = (0, size) if stride > 0 else (-1, size - 1)
    start = begin if not begin_masked else (-2**31 if stride > 0 else 2**31 - 1)
    start = start + size if start < 0 else start
    start = min(max(start, lo), hi)
    if shrink:
        return start, start + 1
    stop = end if not end_masked else (2**31 - 1 if stride > 0 else -2**31)
    stop = stop + size if stop < 0 else stop
    return start, min(max(stop, lo), hi)


@converter("STRIDED_SLICE")
def _strided_slice(c: _OpContext) -> None:
    opts = c.options("StridedSliceOptions")
    x = c.tensor(0)
    rank = len(x.shape)
    begin, end, strides = (np.asarray(c.const(k), np.int64).reshape(-1) for k in (1, 2, 3))
    if opts is not None and (opts.EllipsisMask() or opts.NewAxisMask()):
        raise c.unsupported("ellipsis_mask and new_axis_mask")
    if opts is not None and opts.Offset():
        raise c.unsupported("offset=True")
    bm, em, sm = (opts.BeginMask(), opts.EndMask(), opts.ShrinkAxisMask()) if opts is not None else (0, 0, 0)
    starts, ends, steps = [0] * rank, list(x.shape), [1] * rank
    for a in range(len(begin)):
        stride = int(strides[a])
        if stride == 0:
            raise c.unsupported("a zero stride")
        s, e = _strided_range(x.shape[a], int(begin[a]), int(end[a]), stride,
                              bool(bm >> a & 1), bool(em >> a & 1), bool(sm >> a & 1))
        if stride < 0 and e < 0:
            e = -2**62   # ONNX: an end below -dim runs down to index 0
        starts[a], ends[a], steps[a] = s, e, stride
    sliced = c.temp("slice")
    c.node("Slice", c.inputs[:1], [sliced], declared=[],
           consts=[np.array(v, I64) for v in (starts, ends, list(range(rank)), steps)])
    c.g[sliced].quant = x.quant
    c.node("Reshape", [sliced], consts=[np.array(c.declared().shape, I64)])


@converter("MEAN")
def _mean(c: _OpContext) -> None:
    opts = c.options("ReducerOptions")
    keep = bool(opts.KeepDims()) if opts is not None else False
    axes = [int(a) for a in np.asarray(c.const(1)).reshape(-1)]
    if c.is_float():
        c.node("ReduceMean", c.inputs[:1], attrs={"axes": axes, "keepdims": int(keep)})
        return
    _check_quantized(c, 0)
    c.node("QMean", c.inputs[:1], attrs={"axes": axes, "keep_dims": keep})


@converter("RESIZE_NEAREST_NEIGHBOR")
def _resize_nearest(c: _OpContext) -> None:
    opts = c.options("ResizeNearestNeighborOptions")
    size = [int(v) for v in np.asarray(c.const(1)).reshape(-1)]
    c.node("QResizeNearest", c.inputs[:1], attrs={
        "size": tuple(size), "align_corners": bool(opts.AlignCorners()) if opts is not None else False,
        "half_pixel_centers": bool(opts.HalfPixelCenters()) if opts is not None else False})


@converter("BATCH_MATMUL")
def _batch_matmul(c: _OpContext) -> None:
    opts = c.options("BatchMatMulOptions")
    adj_x, adj_y = (bool(opts.AdjX()), bool(opts.AdjY())) if opts is not None else (False, False)
    if c.is_float():
        if adj_x or adj_y:
            raise c.unsupported("float BATCH_MATMUL with adj_x / adj_y")
        c.node("MatMul", c.inputs[:2])
        return
    _check_quantized(c, 0, 1)
    c.node("QBatchMatMul", c.inputs[:2], attrs={"adj_x": adj_x, "adj_y": adj_y})


@converter("UNIDIRECTIONAL_SEQUENCE_LSTM")
def _lstm(c: _OpContext) -> None:
    opts = c.options("UnidirectionalSequenceLSTMOptions")
    if c.is_float():
        raise c.unsupported("float UNIDIRECTIONAL_SEQUENCE_LSTM")
    present = [k < len(c.in_idx) and c.in_idx[k] >= 0 for k in range(24)]
    unsupported = {1: "CIFG (no input gate)", 9: "peephole", 16: "projection", 20: "layer normalization"}
    for k, what in unsupported.items():
        if present[k] == (k != 1):
            raise c.unsupported(f"the {what} LSTM variant")
    for k in (18, 19):
        if not present[k] or c.in_idx[k] not in c.imp.variables:
            raise c.unsupported(f"input {k} (a state) must be a variable tensor")
    hidden, cell = c.tensor(18), c.tensor(19)
    if hidden.dtype != "int8" or cell.dtype != "int16" or hidden.quant is None or cell.quant is None:
        raise c.unsupported("an int8 LSTM needs an int8 hidden state and an int16 cell state, quantized")
    _check_quantized(c, 0, *range(1, 9))
    act = c.activation(opts)
    if act != "TANH":
        raise c.unsupported(f"cell gate activation {act} (TFLM's integer LSTM: TANH)")
    attrs = {"time_major": bool(opts.TimeMajor()),
             "cell_clip": float(opts.CellClip()), "activation": act,
             "hidden": {"shape": hidden.shape, "scale": float(hidden.quant.scale[0]),
                        "zero_point": int(hidden.quant.zero_point[0])},
             "cell": {"shape": cell.shape, "scale": float(cell.quant.scale[0])}}
    c.node("QLstm", [c.inputs[k] for k in (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15)], attrs=attrs)
