"""Train the bundled example model: a small CNN on scikit-learn's digits (8x8 grayscale, 10
classes; the data ships with scikit-learn, nothing is downloaded). Writes digits_cnn.onnx and
digits_test.npz (the held-out images and labels) beside this file.

    python examples/train_digits.py          # needs torch==2.13.0 and scikit-learn
"""
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

HERE = Path(__file__).resolve().parent


def model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1, stride=2), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=1, groups=32), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 64, 1), torch.nn.BatchNorm2d(64), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10))


def main() -> None:
    torch.manual_seed(0)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]          # [n, 1, 8, 8] in [0, 1]
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=0.25, random_state=0)
    net = model()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.tensor(x_tr), torch.tensor(y_tr)
    for epoch in range(40):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(torch.tensor(x_te)).argmax(1).numpy() == y_te).mean()
    print(f"held-out accuracy {acc:.4f} on {len(y_te)} images")
    torch.onnx.export(net, (torch.tensor(x_te[:1]),), HERE / "digits_cnn.onnx", dynamo=False,
                      opset_version=17, input_names=["image"], output_names=["logits"])
    np.savez_compressed(HERE / "digits_test.npz", images=x_te, labels=y_te)


if __name__ == "__main__":
    main()
