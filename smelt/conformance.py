"""Run onnx's own backend test suite (onnx.backend.test.BackendTest) on smelt's compiled-C path.

    python -m smelt.conformance [-k PATTERN] [--node-only | --light-only] [-j N] [-v | --failures]

The suite is onnx's node tests (one per op feature) and the `light` model-zoo models shipped in
the onnx wheel, run through smelt.backend: every test compiles C and runs it on the host. An op
or feature smelt does not support is a skip with its reason, never a pass. Prints a table of
counts per ONNX op (per model for the light models) and, last, `N passed, M failed, K skipped`;
exits 1 when anything failed.
"""
from __future__ import annotations

import argparse
import gc
import os
import pickle
import re
import signal
import sys
import time
import traceback
import unittest
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass

from . import registry

NODE_SUITE = "OnnxBackendNodeModelTest"
LIGHT_SUITE = "OnnxBackendRealModelTest"
LIGHT_URL = "onnx/backend/test/data/light/"
TIMEOUT = 600             # seconds per test (the slowest, VGG-19, takes seconds)
DEVICE_SUFFIX = "_cpu"     # BackendTest adds a test per device; smelt runs on the CPU
_EXPANDED = re.compile(r"_expanded(_ver\d+)?$")


@dataclass(frozen=True)
class Test:
    name: str     # onnx's test name, e.g. test_relu (the BackendTest method adds "_cpu")
    group: str    # the ONNX op tested, or "<model> (light model)"
    suite: str    # the BackendTest TestCase class that holds it
    light: bool


@dataclass(frozen=True)
class Result:
    test: Test
    status: str   # "pass" | "fail" | "skip"
    detail: str   # the skip reason or the failure message
    seconds: float


_SUITES: dict[str, type[unittest.TestCase]] = {}


def backend_suites() -> dict[str, type[unittest.TestCase]]:
    """BackendTest(smelt.backend)'s TestCase classes by name (built once per process)."""
    if not _SUITES:
        from onnx.backend.test import BackendTest

        from . import backend
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # onnx's case generators overflow on purpose
            _SUITES.update(BackendTest(backend, __name__).test_cases)
    return _SUITES


def _op_of_node_tests() -> dict[str, str]:
    """Node test name -> the ONNX op it tests. A node test's model is that one op; an
    `_expanded` test holds the op's function body and counts for the op of its base test."""
    from onnx.backend.test.loader import load_model_tests
    first = {c.name: (c.model.graph.node[0].op_type if c.model.graph.node else "?")
             for c in load_model_tests(kind="node")}
    return {name: first.get(_EXPANDED.sub("", name), op) for name, op in first.items()}


def _light_models() -> dict[str, str]:
    """Light model test name -> model name (the models whose files ship inside the onnx wheel)."""
    from onnx.backend.test.loader import load_model_tests
    return {c.name: c.model_name for c in load_model_tests(kind="real")
            if c.url and c.url.startswith(LIGHT_URL)}


def collect(pattern: str = "", node: bool = True, light: bool = True,
            ops: list[str] | None = None) -> list[Test]:
    """The tests to run: names matching the regular expression `pattern` (re.search), node
    tests and/or light models, and, when `ops` is given, only the node tests of those ops."""
    suites = backend_suites()
    node_ops = _op_of_node_tests()
    light_models = _light_models()
    tests = []
    for suite, is_light, wanted in ((NODE_SUITE, False, node), (LIGHT_SUITE, True, light)):
        if not wanted:
            continue
        for method in sorted(dir(suites[suite])):
            name = method[:-len(DEVICE_SUFFIX)]
            if not (method.startswith("test_") and method.endswith(DEVICE_SUFFIX)):
                continue
            if is_light and name not in light_models:
                continue
            group = f"{light_models[name]} (light model)" if is_light else node_ops[name]
            if pattern and not re.search(pattern, name):
                continue
            if ops is not None and (is_light or group not in ops):
                continue
            tests.append(Test(name, group, suite, is_light))
    return tests


def _message(err) -> str:
    """One line: the exception (for a compiler's output, its error lines), and where in smelt
    it was raised (to route the bug)."""
    exc_type, exc, tb = err
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    errors = [ln for ln in lines[1:] if "error" in ln.lower()]
    msg = f"{exc_type.__name__}: {'; '.join(lines[:1] + errors if errors else lines[:8])}"
    if len(msg) > 600:
        msg = msg[:600] + "..."
    where = [f for f in traceback.extract_tb(tb) if f"{os.sep}smelt{os.sep}" in f.filename]
    if where and not isinstance(exc, AssertionError):
        frames = [f"smelt{f.filename.rsplit(os.sep + 'smelt', 1)[1]}:{f.lineno}" for f in where[-2:]]
        msg += f" [at {' > '.join(frames)}]"
    return msg


class _Recorder(unittest.TestResult):
    """Keeps the outcome of the one test it is given."""
    outcome = ("fail", "the test reported no result")

    def addSuccess(self, test):
        self.outcome = ("pass", "")

    def addSkip(self, test, reason):
        self.outcome = ("skip", reason)

    def addFailure(self, test, err):
        self.outcome = ("fail", _message(err))

    def addError(self, test, err):
        self.outcome = ("fail", _message(err))

    def addExpectedFailure(self, test, err):
        self.outcome = ("fail", f"expected failure: {_message(err)}")

    def addUnexpectedSuccess(self, test):
        self.outcome = ("fail", "unexpected success")


def run_one(test: Test) -> Result:
    """Run one BackendTest test method in this process."""
    case = backend_suites()[test.suite](test.name + DEVICE_SUFFIX)
    rec = _Recorder()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case.run(rec)
    return Result(test, *rec.outcome, time.perf_counter() - start)


def _start(test: Test) -> tuple[int, int]:
    """Run `test` in a forked child (a crash or a hang in generated C fails that test only);
    returns the child's pid and the read end of the pipe its pickled Result comes through."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(r)
            signal.alarm(TIMEOUT)
            data = pickle.dumps(run_one(test))
            with os.fdopen(w, "wb") as f:
                f.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(w)
    return pid, r


def _finish(test: Test, status: int, r: int, seconds: float) -> Result:
    with os.fdopen(r, "rb") as f:
        data = f.read()
    if data:
        return pickle.loads(data)
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status))
        why = f"timed out after {TIMEOUT} s" if sig == signal.SIGALRM else f"the test process died of {sig.name}"
    else:
        why = f"the test process exited with status {os.WEXITSTATUS(status)}"
    return Result(test, "fail", why, seconds)


def run(tests: list[Test], jobs: int = 2, on_result=None) -> list[Result]:
    """Run the tests, light models first (the slow ones), each in its own forked process,
    `jobs` at a time; jobs=1 runs them in this process (e.g. under a debugger).
    `on_result(result)` is called as each one finishes."""
    order = sorted(tests, key=lambda t: (not t.light, t.name))
    results = []

    def done(r: Result) -> None:
        results.append(r)
        if on_result:
            on_result(r)

    if jobs <= 1:
        for t in order:
            done(run_one(t))
        return results
    backend_suites()   # built once here, and every op imported: the forked children inherit them
    registry.all_ops()
    gc.freeze()        # or each child's garbage collector copies every page it inherited
    try:
        running: dict[int, tuple[Test, int, float]] = {}
        while order or running:
            while order and len(running) < jobs:
                t = order.pop(0)
                pid, r = _start(t)
                running[pid] = (t, r, time.perf_counter())
            pid, status = os.wait()
            if pid in running:
                t, r, start = running.pop(pid)
                done(_finish(t, status, r, time.perf_counter() - start))
    finally:
        gc.unfreeze()
    return results


def counts(results: list[Result]) -> Counter:
    return Counter(r.status for r in results)


def summary(results: list[Result]) -> str:
    c = counts(results)
    return f"{c['pass']} passed, {c['fail']} failed, {c['skip']} skipped"


def table(results: list[Result]) -> str:
    """Counts per ONNX op (node tests), then per light model."""
    by_group: dict[str, Counter] = defaultdict(Counter)
    light = set()
    for r in results:
        by_group[r.test.group][r.status] += 1
        if r.test.light:
            light.add(r.test.group)
    groups = sorted(g for g in by_group if g not in light) + sorted(light)
    width = max([len(g) for g in groups] + [len("op")])
    lines = [f"{'op':<{width}}  passed  failed  skipped"]
    for g in groups:
        c = by_group[g]
        lines.append(f"{g:<{width}}  {c['pass']:6}  {c['fail']:6}  {c['skip']:7}")
    return "\n".join(lines)


def line(r: Result) -> str:
    detail = f"  {re.sub(r'; supported ops: .*', '', r.detail)}" if r.detail else ""
    return f"{r.status:4}  {r.test.name}  [{r.test.group}, {r.seconds:.1f} s]{detail}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m smelt.conformance",
                                 description="Run onnx's backend test suite on smelt's compiled-C path.")
    ap.add_argument("-k", metavar="PATTERN", default="",
                    help="only tests whose name matches this regular expression, e.g. relu or ^test_conv")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--node-only", action="store_true", help="only the node (per-op) tests")
    which.add_argument("--light-only", action="store_true", help="only the light model-zoo models")
    ap.add_argument("-j", type=int, default=2, metavar="N",
                    help="tests run at a time, each in its own process (each runs gcc; default 2; "
                         "1 runs them in this process)")
    out = ap.add_mutually_exclusive_group()
    out.add_argument("-v", action="store_true",
                     help="one line per test: status, time (compile+run), skip reason or failure")
    out.add_argument("--failures", action="store_true", help="list the failures only, no table")
    args = ap.parse_args(argv)

    tests = collect(args.k, node=not args.light_only, light=not args.node_only)

    def show(r: Result) -> None:
        if args.v or (args.failures and r.status == "fail"):
            print(line(r), flush=True)

    results = run(tests, args.j, show)
    if not args.failures and results:
        print(table(results))
    print(summary(results))
    return 1 if counts(results)["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
