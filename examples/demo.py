"""The main job: compile the bundled digits CNN to C, build it for this machine, run it on the
450 held-out digits, compare with onnxruntime, and print the compile report; then quantize it to
int8 (calibrated on the first 100 images), and measure both builds on a Cortex-M4 in QEMU.

    python examples/demo.py [-o out/digits]
"""
import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort

import smelt

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-o", "--output", default="out/digits", help="where to write the C project")
    args = ap.parse_args()

    model = HERE / "digits_cnn.onnx"
    data = np.load(HERE / "digits_test.npz")
    images, labels = data["images"], data["labels"]

    art = smelt.compile(model, args.output, name="digits")
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    c_logits = np.concatenate([art.run({"image": img[None]})["logits"] for img in images])
    ort_logits = np.concatenate([sess.run(None, {"image": img[None]})[0] for img in images])

    print(art.report.table())
    print()
    print(f"generated C in {art.path}/ (digits.h, digits.c, smelt_kernels/, Makefile, CMakeLists.txt)")
    print(f"compiled C on {len(images)} held-out scikit-learn digits: accuracy "
          f"{np.mean(c_logits.argmax(1) == labels):.2%} (onnxruntime {np.mean(ort_logits.argmax(1) == labels):.2%}), "
          f"max |C - onnxruntime| = {np.max(np.abs(c_logits - ort_logits)):.2e}, "
          f"same top-1 on {np.mean(c_logits.argmax(1) == ort_logits.argmax(1)):.1%}")

    q = smelt.compile(model, args.output + "_int8", name="digits", quantize="int8",
                      calib={"image": images[:100]})
    held = images[100:]
    q_top1 = np.array([q.run({"image": img[None]})["logits"].argmax() for img in held])
    print()
    print(q.quant_report.table())
    print(f"int8 C on the other {len(held)} images: accuracy {np.mean(q_top1 == labels[100:]):.2%} "
          f"(float {np.mean(c_logits[100:].argmax(1) == labels[100:]):.2%}); weights "
          f"{q.report.weight_bytes:,} B vs {art.report.weight_bytes:,} B, arena {q.report.arena_bytes:,} B "
          f"vs {art.report.arena_bytes:,} B")

    from smelt import targets
    try:
        for label, a in (("float", art), ("int8", q)):
            r = targets.bench(a, "cortex-m4")
            print(f"cortex-m4 (QEMU) {label}: {r['instructions']:,} instructions/inference, flash "
                  f"{r['flash_bytes']:,} B, stack {r['stack_bytes']:,} B, outputs "
                  f"{'match' if r['check']['ok'] else 'DIFFER from'} the reference")
    except smelt.SmeltError as e:   # no cross toolchain on this machine: say so, the host part stands
        print(f"cortex-m4 skipped: {e}")


if __name__ == "__main__":
    main()
