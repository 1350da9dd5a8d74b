"""The command line: smelt compile | quantize | inspect | verify | bench."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from .errors import SmeltError


def _shapes(items) -> dict:
    """--input-shape name=1,3,224,224 (repeatable)."""
    shapes = {}
    for item in items or []:
        name, _, dims = item.rpartition("=")
        if not name or not dims:
            raise SmeltError(f"--input-shape wants NAME=D1,D2,..., got '{item}'")
        try:
            shapes[name] = [int(d) for d in dims.split(",")]
        except ValueError:
            raise SmeltError(f"--input-shape {item}: dimensions must be integers") from None
    return shapes


def cmd_compile(args) -> int:
    from . import compile
    if args.more_models or args.split_outputs:
        return _compile_library(args)
    art = compile(args.model, args.output, name=args.name, input_shapes=_shapes(args.input_shape),
                  quantize=args.quantize, calib=_calib(args), calib_method=args.calib_method,
                  weights=args.weights, compress={"clusters": args.clusters} if args.clusters else None,
                  ram_budget=args.ram_budget, io_in_arena=args.io_in_arena, planner=args.planner,
                  html=not args.no_html, sparse=args.sparse)
    if art.quant_report is not None:
        print(art.quant_report.table())
    if args.target == "wasm":
        from .targets import wasm
        wasm.emit(art, art.path)   # <name>.wasm and the ES module <name>.mjs beside the C
    print(art.report.table() if args.verbose else
          f"wrote {art.path}: arena {art.report.arena_bytes:,} B (activation RAM "
          f"{art.report.activation_ram:,} B), weights {art.report.weight_bytes:,} B, {art.report.macs:,} MACs")
    if art.patching is not None and not args.verbose:
        print(art.patching.describe())
    return 0


def _compile_library(args) -> int:
    """Several models (or one multi-output model with --split-outputs) -> one library."""
    from .library import compile_library
    if args.target == "wasm" or args.ram_budget or getattr(args, "io_in_arena", False):
        raise SmeltError("a library of several models takes no --target wasm, --ram-budget or --io-in-arena")
    lib = compile_library([args.model, *args.more_models], args.output, name=args.name,
                          split_outputs=args.split_outputs or None, input_shapes=_shapes(args.input_shape),
                          quantize=args.quantize, calib=_calib(args), calib_method=args.calib_method,
                          weights=args.weights, compress={"clusters": args.clusters} if args.clusters else None)
    r = lib.report
    print(r.table() if args.verbose else
          f"wrote {lib.path}: tasks {', '.join(lib.tasks)}; arena {r.arena_bytes:,} B (separately "
          f"{r.separate_arena_bytes:,} B), weights {r.weight_bytes:,} B (separately {r.separate_weight_bytes:,} B), "
          f"{len(r.shared)} shared layers")
    return 0


def _calib(args):
    if args.quantize and not args.calib:
        raise SmeltError(f"--quantize {args.quantize} needs --calib data.npz (calibration inputs, samples first)")
    if args.calib and not args.quantize:
        raise SmeltError("--calib is used with --quantize")
    return args.calib


def cmd_quantize(args) -> int:
    """Post-training int8 quantization to an ONNX QDQ model; prints the SQNR report."""
    from pathlib import Path

    from . import quantize as q
    from .codegen import project
    if not str(args.output).endswith(".onnx"):
        raise SmeltError(f"-o {args.output}: the quantized model is written as ONNX, name it *.onnx")
    qmodel, rep = q.quantize(args.model, q.load_calib(args.calib), method=args.calib_method,
                             per_channel=not args.per_tensor)
    project.write_file_atomically(Path(args.output), qmodel.SerializeToString())
    print(rep.table())
    print(f"wrote {args.output}")
    return 0


def cmd_prune(args) -> int:
    """Structured channel pruning: the channel groups, then (with -o) the pruned model compiled."""
    from . import api, pipeline, prune
    g = pipeline.optimize(api.load(args.model))
    for grp in prune.channel_groups(g):
        print(f"{grp.name}: {grp.channels} channels, " + (f"not prunable: {grp.reason}" if grp.reason else
              f"{len(grp.producers)} producer(s), {len(grp.consumers)} consumer(s)"))
    small = prune.prune(g, args.ratio, norm=args.norm)
    print(f"MACs {prune.macs(g):,} -> {prune.macs(small):,}; weights {prune.weight_bytes(g):,} B -> "
          f"{prune.weight_bytes(small):,} B (not fine-tuned: see smelt.train for fine-tuning)")
    if args.output:
        art = api.compile(small, args.output)
        print(f"wrote {args.output}: arena {art.report.arena_bytes:,} B")
    return 0


def cmd_bench(args) -> int:
    """Build for a target, run under its emulator, check against the reference, measure."""
    import json

    from . import targets
    r = targets.bench(args.model, args.target, timeout=args.timeout, name=args.name,
                      portable=args.portable)
    ok = r["check"]["ok"]
    if args.json:
        print(json.dumps(r))
    else:
        ins = "-" if r["instructions"] is None else f"{r['instructions']:,}"
        mpi = "-" if r["macs_per_instruction"] is None else f"{r['macs_per_instruction']:.3f}"
        print(f"{r['model']} on {r['target']}: {ins} instructions/inference, {mpi} MACs/instruction, "
              f"flash {r['flash_bytes']:,} B, static RAM {r['static_ram_bytes']:,} B, "
              f"stack {r['stack_bytes']:,} B, arena {r['arena_bytes']:,} B, "
              f"outputs {'match' if ok else 'DIFFER from'} the reference")
    return 0 if ok else 1


def cmd_inspect(args) -> int:
    from . import compile
    art = compile(args.model, None, name=args.name, input_shapes=_shapes(args.input_shape),
                  io_in_arena=args.io_in_arena)
    print(art.report.table())
    if args.html:
        from pathlib import Path
        Path(args.html).write_text(art.report.html())
        print(f"wrote {args.html} (memory timeline and per-layer table)")
    return 0


def random_inputs(graph, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for name in graph.inputs:
        t = graph[name]
        if np.issubdtype(np.dtype(t.dtype), np.floating):
            feeds[name] = rng.standard_normal(t.shape).astype(t.dtype)
        elif t.dtype == "bool":
            feeds[name] = rng.random(t.shape) < 0.5
        else:
            info = np.iinfo(t.dtype)
            feeds[name] = rng.integers(max(info.min, -128), min(info.max, 127), t.shape, endpoint=True).astype(t.dtype)
    return feeds


def onnxruntime_outputs(model_path, feeds: dict) -> list[np.ndarray]:
    try:
        import onnxruntime as ort
    except ImportError:
        raise SmeltError("verify needs onnxruntime as the oracle: pip install 'smelt[test]'") from None
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    return sess.run(None, {k: v for k, v in feeds.items() if k in names})


def verify_tflm(args) -> int:
    """Bit-exactness with TensorFlow Lite Micro: mismatching bytes per output (and layer)."""
    from .runtime import tflm
    cmp = tflm.compare(args.model, n_inputs=args.runs, seed=args.seed, layers=args.layers)
    print(cmp.table())
    bad = cmp.mismatches + (sum(cmp.layers.values()) if args.layers else 0)
    floats_ok = all(err <= args.atol + args.rtol for err in cmp.max_abs_error.values())
    # float tensors are compared within tolerance; integer ones must match byte for byte
    int_bad = sum(n for name, n in {**cmp.outputs, **cmp.layers}.items() if name not in cmp.max_abs_error)
    ok = int_bad == 0 and floats_ok
    print(f"{'OK' if ok else 'MISMATCH'}: {args.runs} random input(s), compiled C vs TFLM, "
          f"{bad} mismatching bytes" + ("" if not cmp.max_abs_error else
                                        f", max float |diff| {max(cmp.max_abs_error.values()):.3g}"))
    return 0 if ok else 1


def cmd_verify(args) -> int:
    from . import compile
    against = args.against or ("tflm" if str(args.model).endswith(".tflite") else "onnxruntime")
    if against == "tflm":
        if not str(args.model).endswith(".tflite"):
            raise SmeltError("--against tflm needs a .tflite model")
        return verify_tflm(args)
    if str(args.model).endswith(".tflite"):
        raise SmeltError("a .tflite model is verified against TFLM: use --against tflm")
    if args.layers:
        raise SmeltError("--layers is available with --against tflm")
    art = compile(args.model, args.output, name=args.name, input_shapes=_shapes(args.input_shape))
    worst, ok = 0.0, True
    for i in range(args.runs):
        feeds = random_inputs(art.graph, args.seed + i)
        got = art.run(feeds)
        expected = onnxruntime_outputs(args.model, feeds)
        for name, exp in zip(art.graph.outputs, expected):
            diff = float(np.max(np.abs(got[name].astype(np.float64) - exp.astype(np.float64)), initial=0.0))
            tol = args.atol + args.rtol * float(np.max(np.abs(exp), initial=0.0))
            worst = max(worst, diff)
            ok &= diff <= tol
    if args.report:
        print(art.report.table())
        print()
    print(f"{'OK' if ok else 'MISMATCH'}: {args.runs} random input(s), compiled C vs onnxruntime, "
          f"max abs diff {worst:.3g} over outputs {art.graph.outputs} (built in {art.path})")
    return 0 if ok else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="smelt", description="Compile neural networks into dependency-free C.")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, out_default=None):
        p.add_argument("model", help="an .onnx or .tflite file")
        p.add_argument("--name", default="model", help="C prefix and file names (default: model)")
        p.add_argument("--input-shape", action="append", metavar="NAME=D1,D2,...",
                       help="freeze an input's shape (dynamic dimensions)")

    def quant_args(p):
        p.add_argument("--quantize", choices=["int8", "int4", "ternary", "binary", "palette", "xnor"], default=None,
                       help="quantize a float ONNX model post-training first (needs --calib); int4 / ternary / "
                            "binary / palette: low-bit weights, int8 activations; xnor: binary weights and "
                            "activations in the inner layers (see smelt/compress.py)")
        p.add_argument("--weights", choices=["fp16"], default=None,
                       help="fp16: store a float model's Conv/Gemm/MatMul weights as IEEE half")
        p.add_argument("--clusters", type=int, default=None, help="--quantize palette: codebook entries (default 16)")
        p.add_argument("--sparse", action="store_true",
                       help="int8 conv/FC layers with mostly zero weight blocks stored block-sparse where it saves flash")
        p.add_argument("--calib", default=None, help="calibration inputs for --quantize: .npz, samples first")
        p.add_argument("--calib-method", default="auto", choices=["auto", "minmax", "percentile", "mse"],
                       help="activation ranges (default auto: the best output SQNR on the calibration part)")

    p = sub.add_parser("compile", help="compile a model to a folder of C")
    common(p)
    p.add_argument("more_models", nargs="*", metavar="MODEL",
                   help="more models: all of them compile into one library (<name>_run_<task>, <name>_run_all)")
    p.add_argument("--split-outputs", action="store_true",
                   help="a library with one task per output of the (multi-output) model")
    p.add_argument("-o", "--output", required=True, help="output folder (written atomically)")
    p.add_argument("-v", "--verbose", action="store_true", help="print the per-layer report")
    p.add_argument("--target", choices=["c", "wasm"], default="c",
                   help="wasm: also build <name>.wasm and an ES module wrapper <name>.mjs")
    quant_args(p)
    p.add_argument("--ram-budget", default=None, metavar="BYTES",
                   help="activation RAM budget (arena + I/O), e.g. 32K: the first layers run in patches to fit")
    p.add_argument("--io-in-arena", action="store_true",
                   help="plan the inputs and outputs inside the arena (as TFLM does): <name>_input(k), _invoke()")
    p.add_argument("--planner", choices=["best", "greedy-by-size"], default="best",
                   help="greedy-by-size: TFLM's offset heuristic alone, node order as given")
    p.add_argument("--no-html", action="store_true", help="skip report.html and memory.png")
    p.set_defaults(fn=cmd_compile)

    p = sub.add_parser("quantize", help="post-training int8 quantization to an ONNX QDQ model, with an SQNR report")
    p.add_argument("model", help="a float .onnx model")
    p.add_argument("--calib", required=True, help="calibration inputs: .npz with one array per input, samples first")
    p.add_argument("-o", "--output", required=True, help="the quantized .onnx (written atomically)")
    p.add_argument("--calib-method", default="auto", choices=["auto", "minmax", "percentile", "mse"],
                   help="activation ranges (default auto: the best output SQNR on the calibration part)")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor, not per channel")
    p.set_defaults(fn=cmd_quantize)

    p = sub.add_parser("prune", help="structured channel pruning (L1/L2 filter norm): groups, MACs, weights")
    p.add_argument("model", help="a float model")
    p.add_argument("--ratio", type=float, default=0.5, help="fraction of each prunable group's channels to drop")
    p.add_argument("--norm", default="l1", choices=["l1", "l2"])
    p.add_argument("-o", "--output", help="compile the pruned model into this folder")
    p.set_defaults(fn=cmd_prune)

    p = sub.add_parser("inspect", help="per-layer table: op, shapes, params, MACs, bytes; arena size")
    common(p)
    p.add_argument("--html", default=None, metavar="FILE", help="also write the HTML report with the memory timeline")
    p.add_argument("--io-in-arena", action="store_true", help="plan the inputs and outputs inside the arena")
    p.set_defaults(fn=cmd_inspect)

    p = sub.add_parser("verify", help="build for the host, run, compare with onnxruntime (ONNX) or TFLM (TFLite)")
    common(p)
    p.add_argument("--against", choices=["onnxruntime", "tflm"], default=None,
                   help="the oracle (default: onnxruntime for .onnx, tflm for .tflite)")
    p.add_argument("--layers", action="store_true", help="with tflm: compare every intermediate tensor too")
    p.add_argument("-o", "--output", default=None, help="keep the generated folder here")
    p.add_argument("--runs", type=int, default=3, help="random inputs to try (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rtol", type=float, default=1e-4)
    p.add_argument("--atol", type=float, default=1e-5)
    p.add_argument("--report", action="store_true", help="print the compile report too")
    p.set_defaults(fn=cmd_verify)

    from .targets import names as target_names
    p = sub.add_parser("bench", help="build for a target, run it in its emulator, count instructions")
    common(p)
    p.add_argument("--target", required=True, choices=target_names())
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before a run counts as a hang")
    p.add_argument("--json", action="store_true", help="one JSON object for tools")
    p.add_argument("--portable", action="store_true",
                   help="build the portable C kernels, not the target's optimized ones (to compare)")
    p.set_defaults(fn=cmd_bench)

    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except SmeltError as e:
        if args.debug:
            raise
        print(f"smelt: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
