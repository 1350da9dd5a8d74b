"""Run ONNX's backend node tests on the compiled-C path: python -m smelt.conformance [-k pattern]."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from .errors import NeedsConstantError, SmeltError, UnsupportedOpError



def node_cases():
    """onnx's node test cases (generated in memory by the onnx package)."""
    import warnings

    from onnx.backend.test.loader import load_model_tests
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model_tests(kind="node")


def compile_for(model, inputs: list[np.ndarray]):
    """Compile, freezing graph inputs whose values an op needs at compile time."""
    from . import compile as smelt_compile
    init = {i.name for i in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in init]
    feeds = dict(zip(names, inputs))
    freeze = {}
    while True:
        try:
            return smelt_compile(model, freeze=freeze), [n for n in names if n not in freeze], feeds
        except NeedsConstantError as e:
            if e.tensor not in feeds or e.tensor in freeze:
                raise
            freeze[e.tensor] = feeds[e.tensor]


def run_case(case) -> tuple[str, str]:
    """('pass'|'fail'|'skip', detail)."""
    rtol, atol = case.rtol, case.atol
    try:
        model = case.model
        for ins, outs in case.data_sets:
            ins = [np.asarray(x) for x in ins]
            outs = [np.asarray(x) for x in outs]
            art, live, feeds = compile_for(model, ins)
            got = art.run({n: feeds[n] for n in live})
            for name, exp in zip(art.graph.outputs, outs):
                g = got[name]
                if g.shape != exp.shape and g.size == exp.size == 0:
                    continue
                if exp.dtype == object or g.shape != exp.shape:
                    return "fail", f"output {name}: shape {g.shape} vs {exp.shape}"
                if exp.dtype.kind in "fc":
                    np.testing.assert_allclose(g, exp, rtol=rtol, atol=atol)
                elif not np.array_equal(g, exp):
                    return "fail", f"output {name} differs"
        return "pass", ""
    except (UnsupportedOpError, NeedsConstantError) as e:
        return "skip", str(e)
    except AssertionError as e:
        return "fail", str(e).strip().splitlines()[0] if str(e).strip() else "mismatch"
    except SmeltError as e:
        return "fail", f"{type(e).__name__}: {e}"
    except Exception as e:
        return "fail", f"{type(e).__name__}: {e}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-k", default="", help="only tests whose name contains this")
    ap.add_argument("-v", action="store_true", help="print every test")
    args = ap.parse_args(argv)
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for case in sorted(node_cases(), key=lambda c: c.name):
        if args.k not in case.name:
            continue
        status, detail = run_case(case)
        counts[status] += 1
        if args.v or status == "fail":
            print(f"{status:5} {case.name} {detail[:200]}")
    print(f"{counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped")
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
