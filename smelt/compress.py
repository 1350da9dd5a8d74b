"""Low-precision weight formats: the user-facing functions.

    import smelt
    from smelt import compress
    g = compress.int8_graph("model.onnx", calib)   # float ONNX / torch -> optimized int8 Graph (PTQ)
    g4 = compress.to_int4(g)                       # int4 weights, per output channel, packed 2 per byte
    gt = compress.to_ternary(g)                    # {-a, 0, +a} per channel, 2 bits (first/last layer stay int8)
    gb = compress.to_binary_weights(g)             # {-a, +a} per channel, 1 bit (first/last layer stay int8)
    gp = compress.to_palette(g, clusters=16)       # k-means codebook per layer, ceil(log2 k)-bit indices
    gx = compress.to_xnor(g, calib)                # binary weights and activations (XNOR + popcount) inside
    gh = compress.to_fp16(float_graph)             # float model: Conv/Gemm/MatMul weights as IEEE half
    art = smelt.compile(g4)                        # any of these graphs compiles as it is
    compress.weight_formats(g4)                    # [(node, op, format, weight bytes), ...]
    gs = prune.sparsify(g8)                        # block-sparse int8 where it saves flash (after
                                                   # prune.magnitude); compress.sparse_decisions(gs)

or in one call: smelt.compile(model, quantize="int4" | "ternary" | "binary" | "palette" | "xnor", calib=...,
compress={"clusters": 16, ...}) and smelt.compile(model, weights="fp16"); CLI: --quantize int4,
--weights fp16.

The low-bit formats keep int8 activations and TFLM's integer arithmetic (ops/qlowbit.py): the
compiled C equals the numpy reference bit for bit. The to_* functions take an optimized int8
graph (smelt.compile(...).graph, int8_graph(), or a QAT export) and return a new graph; the input
graph is not changed. Weights that already lie on a format's integer grid (|q| <= 7 for int4,
{-1, 0, 1} ternary, {-1, 1} binary: what QAT writes) are packed exactly with their own scales, so a
QAT model is reproduced bit for bit; other weights are re-quantized post-training from their real
values q8 * s8. `layers=[node names]` restricts a rewrite to some layers (mixed precision).
"""
from __future__ import annotations

import os

from . import pipeline
from .errors import SmeltError
from .ir import Graph
from .passes import binarize, fp16_weights, lowbit_weights

LOWBIT = ("int4", "ternary", "binary", "palette")
QUANTIZE = ("int8",) + LOWBIT + ("xnor",)


def int8_graph(model, calib, method: str = "auto", example_inputs=None) -> Graph:
    """A float model (ONNX path/bytes/ModelProto or torch module) quantized post-training to int8
    and lowered onto the integer ops: the starting point of every low-bit format."""
    from . import api
    qmodel, _ = api._quantize(model, "int8", calib, method, example_inputs)
    return pipeline.optimize(api.load(qmodel))


def _lowbit(g: Graph, format: str, **options) -> Graph:
    if not lowbit_weights.candidates(g):
        raise SmeltError(f"{format} weights need an int8-quantized graph (QConv2D / QDepthwiseConv2D / "
                         f"QFullyConnected); quantize first: compress.int8_graph(model, calib)")
    return lowbit_weights.run(g.copy(), format, **options)


def to_int4(g: Graph, layers=None, keep_first_last: bool = False) -> Graph:
    return _lowbit(g, "int4", layers=layers, keep_first_last=keep_first_last)


def to_ternary(g: Graph, layers=None, keep_first_last: bool = True) -> Graph:
    return _lowbit(g, "ternary", layers=layers, keep_first_last=keep_first_last)


def to_binary_weights(g: Graph, layers=None, keep_first_last: bool = True) -> Graph:
    return _lowbit(g, "binary", layers=layers, keep_first_last=keep_first_last)


def to_palette(g: Graph, clusters: int = 16, layers=None, keep_first_last: bool = False, seed: int = 0) -> Graph:
    return _lowbit(g, "palette", clusters=clusters, layers=layers, keep_first_last=keep_first_last, seed=seed)


def to_xnor(g: Graph, calib=None, stats: dict | None = None, layers=None, keep_first_last: bool = True,
            max_samples: int = 64) -> Graph:
    """Binary weights and activations (XNOR + popcount) for the inner QConv2D / QFullyConnected
    layers; binarization thresholds from `calib` (the model's inputs, as for int8_graph) or from
    `stats` ({int8 tensor: (tau per channel, beta)}, e.g. from QAT). See passes/binarize.py."""
    if not lowbit_weights.candidates(g):
        raise SmeltError("xnor needs an int8-quantized graph; quantize first: compress.int8_graph(model, calib)")
    chosen = binarize.choose(g, keep_first_last, layers)
    if not chosen:
        raise SmeltError("xnor found no inner QConv2D / QFullyConnected layer to binarize")
    if stats is None:
        if calib is None:
            raise SmeltError("xnor needs calibration inputs (calib=) to place the binarization thresholds")
        from . import quantize as q
        if isinstance(calib, (str, os.PathLike)):
            calib = q.load_calib(calib)
        samples = [q._feed(g, s) for s in q._samples(calib, g.inputs, g)[:max_samples]]
        stats = binarize.activation_stats(g, sorted({n.inputs[0] for n in chosen} | {n.outputs[0] for n in chosen}),
                                          samples)
    return binarize.run(g.copy(), stats, keep_first_last, layers)


def to_fp16(g) -> Graph:
    """A float graph (or model: path, ModelProto, ...) with its Conv / Gemm / MatMul weights as IEEE half."""
    from . import api
    g = g if isinstance(g, Graph) else pipeline.optimize(api.load(g))
    out = fp16_weights.run(g.copy())
    if not any(n.op in ("ConvW16", "FullyConnectedW16") for n in out.nodes):
        raise SmeltError("weights='fp16' found no float Conv / Gemm / MatMul with constant weights")
    return out


def weight_formats(g: Graph) -> list[tuple[str, str, str, int]]:
    """(node, op, weight format, bytes of its constant weights) for every layer with weights."""
    rows = []
    for n in g.nodes:
        fmt = weight_format(n, g)
        if fmt:
            extra = g[n.inputs[3]].nbytes if fmt == "sparse-int8" else 0   # + the block index
            rows.append((n.name, n.op, fmt, g[n.inputs[1]].nbytes + extra))
    return rows


def sparse_decisions(g: Graph) -> list[tuple[str, str, str]]:
    """(node, format chosen, why) for every layer passes/sparsify.py considered."""
    return [(n.name, weight_format(n, g), n.attrs["sparse_why"]) for n in g.nodes if "sparse_why" in n.attrs]


def weight_format(node, g: Graph) -> str:
    """'int4', 'palette-4b', 'int8', 'fp16', 'float32' ... for a layer's weights ('' if none)."""
    if len(node.inputs) < 2 or not node.inputs[1] or not g[node.inputs[1]].is_const:
        return ""
    fmt = node.attrs.get("format")
    if fmt == "palette":
        return f"palette-{node.attrs['bits']}b"
    return fmt or g[node.inputs[1]].dtype


def passes(quantize: str | None = None, options: dict | None = None, weights: str | None = None,
           calib=None) -> list:
    """The extra pipeline steps smelt.compile runs for its quantize= / compress= / weights= options."""
    options = dict(options or {})
    steps = []
    if quantize == "xnor":
        return [("binarize", lambda g: to_xnor(g, calib, **options))]
    if weights not in (None, "float32", "fp16"):
        raise SmeltError(f"weights='{weights}' is not available: use 'fp16' (or quantize= for integer formats)")
    if weights == "fp16":
        if quantize is not None:
            raise SmeltError("weights='fp16' applies to float models: leave quantize= unset")
        steps.append(("fp16_weights", fp16_weights.run))
    if quantize in LOWBIT:
        steps.append((f"lowbit_weights[{quantize}]", lambda g: lowbit_weights.run(g, quantize, **options)))
    elif options:
        raise SmeltError(f"compress options {sorted(options)} need quantize= one of {', '.join(LOWBIT)}")
    return steps


def check_quantize(scheme: str) -> None:
    if scheme not in QUANTIZE:
        raise SmeltError(f"quantize='{scheme}' is not available: use one of {', '.join(QUANTIZE)}")


__all__ = ["int8_graph", "sparse_decisions", "to_xnor", "to_fp16", "to_int4", "to_ternary", "to_binary_weights", "to_palette",
           "weight_formats", "weight_format", "passes", "LOWBIT", "QUANTIZE"]
