"""Compression variants of real trained models: accuracy against size and work on the MCU.

    python -m bench.compress            # full training runs (several minutes)
    python -m bench.compress --quick    # few epochs (~2-3 minutes)

Models, both trained and evaluated offline:
  digits    the bundled examples/digits_cnn.onnx (scikit-learn digits, 8x8); test = the 450 images
            of examples/digits_test.npz, training = the rest of the digits (the same split).
  keywords  a procedurally generated keyword-spotting task (smelt/train/data.py: 16x16 synthetic
            spectrograms, 8 words); the same CNN shape, trained here in torch from a fixed seed.

Per variant: accuracy of the compiled C (run on the host through ctypes, every test input), weight
bytes (flash taken by the model's constants, report), arena bytes, MACs, and instructions per
inference on the Cortex-M4 target (QEMU, exact count; host figures are not used) with its whole
flash image. QAT variants are trained with distillation from the float model (smelt.train).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import smelt
from smelt import compress, prune, targets
from smelt.train import data, qat
from smelt.train.distill import accuracy, fit
from smelt.train.graph_module import GraphModule

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _cnn(classes: int) -> torch.nn.Module:
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1, groups=32), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 64, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes))


def load_task(name: str, epochs: int):
    """(float model for smelt.load, x_train, y_train, x_test, y_test)."""
    if name == "digits":
        x_tr, y_tr, x_te, y_te = data.digits()
        return str(ROOT / "examples" / "digits_cnn.onnx"), x_tr, y_tr, x_te, y_te
    x_tr, y_tr, x_te, y_te = data.keywords()
    torch.manual_seed(0)
    net = _cnn(8)
    fit(net, x_tr, y_tr, epochs=epochs, lr=3e-3, desc="keywords float")
    return net, x_tr, y_tr, x_te, y_te


def c_accuracy(art, x, y) -> float:
    """Top-1 of the compiled C on the host, one input at a time."""
    name = art.graph.inputs[0]
    pred = [int(np.argmax(next(iter(art.run({name: x[i:i + 1]}).values())))) for i in range(len(x))]
    return float(np.mean(np.asarray(pred) == y))


def measure(label: str, g, x, y, target: str) -> dict:
    art = smelt.compile(g)
    row = {"variant": label, "acc": c_accuracy(art, x, y), "weights": art.report.weight_bytes,
           "arena": art.report.arena_bytes, "macs": art.report.macs}
    try:
        b = targets.bench(art, target, inputs=[x[:1]])
        row.update(instructions=b["instructions"], flash=b["flash_bytes"], target=target,
                   exact=b["check"]["ok"])
        if not b["check"]["ok"]:
            print(f"  {label}: {target} output differs from the reference: {b['check']}", flush=True)
    except smelt.SmeltError as e:      # no toolchain / QEMU, timeout: say so, keep the host figures
        row.update(instructions=None, flash=None, target=f"n/a ({e})", exact=None)
        print(f"  {label}: {target} run failed: {e}", flush=True)
    return row


def run_model(name: str, quick: bool, target: str) -> list[dict]:
    ep_float, ep_qat, ep_ft = (8, 4, 15) if quick else (40, 15, 40)
    model, x_tr, y_tr, x_te, y_te = load_task(name, ep_float)
    example = (torch.tensor(x_te[:1]),)
    fg = qat.float_graph(model, example_inputs=example)
    calib = {fg.inputs[0]: x_tr[:256]}
    teacher = GraphModule(fg)
    rows = []
    t0 = time.time()

    def add(label, g):
        rows.append(measure(label, g, x_te, y_te, target))
        r = rows[-1]
        print(f"  [{time.time() - t0:6.1f}s] {label}: {r['acc'] * 100:.1f}%", flush=True)

    add("float", smelt.pipeline.optimize(fg))
    ptq = compress.int8_graph(model, calib, example_inputs=example)
    add("int8 PTQ", ptq)
    add("int4 PTQ", compress.to_int4(ptq))
    add("clustered-16 (PTQ)", compress.to_palette(ptq, clusters=16))

    def qat_variant(label, fmt, epochs):
        qm = qat.QATModule(fg, weights=fmt)
        qat.calibrate(qm, x_tr[:256])
        fit(qm, x_tr, y_tr, epochs=epochs, lr=1e-3, teacher=teacher, desc=f"{name} {label}")
        add(label, qat.export_format(qm))

    qat_variant("int8 QAT", "int8", ep_qat)
    qat_variant("int4 QAT", "int4", ep_qat * 2)
    qat_variant("ternary QAT (first/last int8)", "ternary", ep_qat * 2)
    qat_variant("binary QAT (first/last int8)", "binary", ep_qat * 3)

    def fine_tuned(pruned, label):
        gm = GraphModule(pruned)
        fit(gm, x_tr, y_tr, epochs=ep_ft, lr=1e-2, batch=32, teacher=teacher, desc=f"{name} {label}")
        add(label, smelt.pipeline.optimize(gm.to_graph()))
        return gm

    # sensitivity on the last 300 training images (not the test set): accuracy drop per group and ratio
    x_val, y_val = x_tr[-300:], y_tr[-300:]
    sens = prune.sensitivity(fg, lambda g: accuracy(GraphModule(g), x_val, y_val), progress=True)
    plan = prune.plan_for_macs(fg, sens, 0.5)
    print(f"  sensitivity plan for half the MACs: {plan}")
    fine_tuned(prune.prune(fg, plan), "half MACs (sensitivity) + FT")
    gm = fine_tuned(prune.prune(fg, 0.5), "50% channels pruned + FT")
    qm = qat.QATModule(gm.to_graph(), weights="int8")
    qat.calibrate(qm, x_tr[:256])
    fit(qm, x_tr, y_tr, epochs=ep_qat, lr=5e-4, teacher=teacher, desc=f"{name} pruned int8 QAT")
    add("50% pruned + FT + int8 QAT", qat.export(qm))
    # unstructured: 70% of the 4-weight blocks zeroed by magnitude (first layer dense), fine-tuned with
    # the zeros kept, int8 (calibrated, no QAT: training would refill the zeros), block-sparse where it
    # saves flash (the report's sparse_decisions say which layers)
    gm = GraphModule(prune.magnitude(fg, 0.7))
    prune.freeze_zeros(gm)
    fit(gm, x_tr, y_tr, epochs=ep_ft, lr=1e-2, batch=32, teacher=teacher, desc=f"{name} unstructured 70%")
    qm = qat.QATModule(gm.to_graph(), weights="int8")
    qat.calibrate(qm, x_tr[:256])
    sparse = prune.sparsify(qat.export(qm))
    print(f"  sparse layers: {compress.sparse_decisions(sparse)}")
    add("unstructured 70% + FT + sparse", sparse)
    return rows


def table(name: str, rows: list[dict]) -> str:
    base = rows[0]
    head = (f"{'variant':32} {'acc %':>6} {'d acc':>6} {'weights B':>10} {'arena B':>8} {'MACs':>8} "
            f"{'M4 instr':>10} {'M4 flash B':>10} {'C==ref':>6}")
    lines = [f"{name}", head, "-" * len(head)]
    for r in rows:
        instr = f"{r['instructions']:,}" if r["instructions"] else "n/a"
        flash = f"{r['flash']:,}" if r["flash"] else "n/a"
        lines.append(f"{r['variant']:32} {r['acc'] * 100:6.1f} {(r['acc'] - base['acc']) * 100:+6.1f} "
                     f"{r['weights']:>10,} {r['arena']:>8,} {r['macs']:>8,} {instr:>10} {flash:>10} "
                     f"{str(r['exact']):>6}")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few epochs (about 2-3 minutes)")
    ap.add_argument("--models", default="digits,keywords")
    ap.add_argument("--target", default="cortex-m4")
    args = ap.parse_args(argv)
    print("data: scikit-learn digits (ships with scikit-learn) and synthetic keyword spectrograms generated by "
          "smelt/train/data.py; nothing downloaded")
    for name in args.models.split(","):
        print(f"{name}:")
        rows = run_model(name, args.quick, args.target)
        print(table(name, rows), flush=True)
        print()


if __name__ == "__main__":
    main()
