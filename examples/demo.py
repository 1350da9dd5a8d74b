"""The main job: compile the bundled digits CNN to C, build it for this machine, run it on the
450 held-out digits, compare with onnxruntime, and print the compile report.

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


if __name__ == "__main__":
    main()
