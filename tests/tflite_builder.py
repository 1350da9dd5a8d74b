"""A small TFLite flatbuffer writer for tests: builds single-op (or few-op) .tflite models with
the `flatbuffers` Builder and the `tflite` package's generated builder functions.

    mb = ModelBuilder()
    x = mb.input((1, 8, 8, 3), "int8", scale=0.05, zero_point=-3)
    w = mb.const(weights, scale=w_scales, zero_point=0, axis=0)
    y = mb.tensor((1, 8, 8, 4), "int8", scale=0.1, zero_point=2)
    mb.op("CONV_2D", [x, w, b], [y], "Conv2DOptions", Padding="SAME", StrideH=1, StrideW=1)
    mb.output(y)
    data = mb.build()
"""
from __future__ import annotations

import importlib

import flatbuffers
import numpy as np

TYPES = {"float32": 0, "int32": 2, "uint8": 3, "int64": 4, "bool": 6, "int16": 7, "int8": 9}
ENUMS = {"Padding": {"SAME": 0, "VALID": 1},
         "FusedActivationFunction": {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3, "TANH": 4}}


def _mod(name: str):
    """The generated module tflite.<name> (the package rebinds that attribute to its class)."""
    return importlib.import_module(f"tflite.{name}")


def _builtin(name: str) -> int:
    from tflite.BuiltinOperator import BuiltinOperator
    return getattr(BuiltinOperator, name)


class ModelBuilder:
    def __init__(self):
        self.tensors: list[dict] = []
        self.buffers: list[bytes] = [b""]
        self.ops: list[tuple] = []
        self.codes: list[int] = []
        self.inputs: list[int] = []
        self.outputs: list[int] = []

    # ---------------------------------------------------------------- graph
    def tensor(self, shape, dtype: str, scale=None, zero_point=None, axis: int = 0, data=None,
               name: str | None = None, variable: bool = False) -> int:
        buf = 0
        if data is not None:
            arr = np.ascontiguousarray(np.asarray(data, dtype=dtype).astype(np.dtype(dtype).newbyteorder("<")))
            self.buffers.append(arr.tobytes())
            buf = len(self.buffers) - 1
        quant = None
        if scale is not None:
            scale = np.atleast_1d(np.asarray(scale, np.float32))
            zp = np.atleast_1d(np.asarray(0 if zero_point is None else zero_point, np.int64))
            if zp.size == 1 and scale.size > 1:
                zp = np.repeat(zp, scale.size)
            quant = (scale, zp, axis)
        self.tensors.append({"shape": tuple(int(d) for d in shape), "type": TYPES[dtype], "buffer": buf,
                             "name": name or f"t{len(self.tensors)}", "quant": quant, "variable": variable})
        return len(self.tensors) - 1

    def input(self, shape, dtype: str, **kw) -> int:
        i = self.tensor(shape, dtype, **kw)
        self.inputs.append(i)
        return i

    def const(self, data, dtype: str | None = None, **kw) -> int:
        data = np.asarray(data)
        return self.tensor(data.shape, dtype or data.dtype.name, data=data, **kw)

    def output(self, *indices: int) -> None:
        self.outputs.extend(indices)

    def op(self, builtin: str, inputs: list[int], outputs: list[int], options: str | None = None,
           **fields) -> None:
        code = _builtin(builtin)
        if code not in self.codes:
            self.codes.append(code)
        self.ops.append((self.codes.index(code), list(inputs), list(outputs), options, fields))

    # ---------------------------------------------------------------- serialization
    def build(self) -> bytes:
        b = flatbuffers.Builder(1024)
        buffers = [self._buffer(b, data) for data in self.buffers]
        tensors = [self._tensor(b, t) for t in self.tensors]
        operators = [self._operator(b, *op) for op in self.ops]
        codes = []
        for code in self.codes:
            m = _mod("OperatorCode")
            m.OperatorCodeStart(b)
            m.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            m.OperatorCodeAddBuiltinCode(b, code)
            m.OperatorCodeAddVersion(b, 1)
            codes.append(m.OperatorCodeEnd(b))
        sg = _mod("SubGraph")
        t_vec = self._offsets(b, sg.SubGraphStartTensorsVector, tensors)
        in_vec = b.CreateNumpyVector(np.array(self.inputs, np.int32))
        out_vec = b.CreateNumpyVector(np.array(self.outputs, np.int32))
        op_vec = self._offsets(b, sg.SubGraphStartOperatorsVector, operators)
        name = b.CreateString("main")
        sg.SubGraphStart(b)
        sg.SubGraphAddTensors(b, t_vec)
        sg.SubGraphAddInputs(b, in_vec)
        sg.SubGraphAddOutputs(b, out_vec)
        sg.SubGraphAddOperators(b, op_vec)
        sg.SubGraphAddName(b, name)
        subgraph = sg.SubGraphEnd(b)
        m = _mod("Model")
        codes_vec = self._offsets(b, m.ModelStartOperatorCodesVector, codes)
        sg_vec = self._offsets(b, m.ModelStartSubgraphsVector, [subgraph])
        buf_vec = self._offsets(b, m.ModelStartBuffersVector, buffers)
        desc = b.CreateString("smelt test model")
        m.ModelStart(b)
        m.ModelAddVersion(b, 3)
        m.ModelAddOperatorCodes(b, codes_vec)
        m.ModelAddSubgraphs(b, sg_vec)
        m.ModelAddDescription(b, desc)
        m.ModelAddBuffers(b, buf_vec)
        b.Finish(m.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _offsets(b, start, offsets) -> int:
        start(b, len(offsets))
        for o in reversed(offsets):
            b.PrependUOffsetTRelative(o)
        return b.EndVector()

    @staticmethod
    def _buffer(b, data: bytes) -> int:
        m = _mod("Buffer")
        vec = None
        if data:
            b.StartVector(1, len(data), 16)   # 16-byte aligned, as the TFLite converter writes
            b.head -= len(data)
            b.Bytes[b.head:b.head + len(data)] = data
            vec = b.EndVector()
        m.BufferStart(b)
        if vec is not None:
            m.BufferAddData(b, vec)
        return m.BufferEnd(b)

    def _tensor(self, b, t: dict) -> int:
        m = _mod("Tensor")
        name = b.CreateString(t["name"])
        shape = b.CreateNumpyVector(np.array(t["shape"], np.int32))
        quant = None
        if t["quant"] is not None:
            scale, zp, axis = t["quant"]
            q = _mod("QuantizationParameters")
            s_vec = b.CreateNumpyVector(scale.astype(np.float32))
            z_vec = b.CreateNumpyVector(zp.astype(np.int64))
            q.QuantizationParametersStart(b)
            q.QuantizationParametersAddScale(b, s_vec)
            q.QuantizationParametersAddZeroPoint(b, z_vec)
            q.QuantizationParametersAddQuantizedDimension(b, axis)
            quant = q.QuantizationParametersEnd(b)
        m.TensorStart(b)
        m.TensorAddShape(b, shape)
        m.TensorAddType(b, t["type"])
        m.TensorAddBuffer(b, t["buffer"])
        m.TensorAddName(b, name)
        if quant is not None:
            m.TensorAddQuantization(b, quant)
        if t["variable"]:
            m.TensorAddIsVariable(b, True)
        return m.TensorEnd(b)

    def _operator(self, b, opcode: int, inputs, outputs, options, fields) -> int:
        m = _mod("Operator")
        opts = self._options(b, options, fields) if options else None
        in_vec = b.CreateNumpyVector(np.array(inputs, np.int32))
        out_vec = b.CreateNumpyVector(np.array(outputs, np.int32))
        m.OperatorStart(b)
        m.OperatorAddOpcodeIndex(b, opcode)
        m.OperatorAddInputs(b, in_vec)
        m.OperatorAddOutputs(b, out_vec)
        if opts is not None:
            from tflite.BuiltinOptions import BuiltinOptions
            m.OperatorAddBuiltinOptionsType(b, getattr(BuiltinOptions, options))
            m.OperatorAddBuiltinOptions(b, opts)
        return m.OperatorEnd(b)

    @staticmethod
    def _options(b, cls: str, fields: dict) -> int:
        m = _mod(cls)
        vectors = {k: b.CreateNumpyVector(np.asarray(v, np.int32)) for k, v in fields.items()
                   if isinstance(v, (list, tuple, np.ndarray))}
        getattr(m, f"{cls}Start")(b)
        for k, v in fields.items():
            if k in vectors:
                v = vectors[k]
            elif isinstance(v, str):
                v = ENUMS[k][v]
            getattr(m, f"{cls}Add{k}")(b, v)
        return getattr(m, f"{cls}End")(b)
