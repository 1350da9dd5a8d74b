"""Activations that a producer (Conv, Gemm, MatMul, Add, ...) can apply to its output (fused).

attrs['act'] = (kind, alpha, beta); the numpy form here is the reference of both the stand-alone
activation ops (ops/unary.py) and of every fused one, so the two can never disagree.
"""
from __future__ import annotations

import numpy as np

KINDS = {"none": 0, "Relu": 1, "Clip": 2, "LeakyRelu": 3, "Sigmoid": 4, "Tanh": 5,
         "HardSigmoid": 6, "HardSwish": 7, "Elu": 8}


def apply(y: np.ndarray, act) -> np.ndarray:
    if not act:
        return y
    kind, a, b = act
    f32 = np.float32
    if kind == "Relu":
        return np.maximum(y, f32(0)).astype(y.dtype)
    if kind == "Clip":
        return np.clip(y, f32(a), f32(b)).astype(y.dtype)
    if kind == "LeakyRelu":
        return np.where(y >= 0, y, y * f32(a)).astype(y.dtype)
    if kind == "Sigmoid":
        return (1 / (1 + np.exp(-y))).astype(y.dtype)
    if kind == "Tanh":
        return np.tanh(y).astype(y.dtype)
    if kind == "HardSigmoid":
        return np.clip(y * f32(a) + f32(b), 0, 1).astype(y.dtype)
    if kind == "HardSwish":
        return (y * np.clip(y / f32(6) + f32(0.5), 0, 1)).astype(y.dtype)
    if kind == "Elu":
        return np.where(y >= 0, y, f32(a) * (np.exp(y) - 1)).astype(y.dtype)
    raise ValueError(f"unknown activation {kind}")


def c_struct(act) -> dict:
    """Field values of the C smelt_act struct."""
    if not act:
        return {"kind": 0, "alpha": 0.0, "beta": 0.0}
    kind, a, b = act
    return {"kind": KINDS[kind], "alpha": float(a), "beta": float(b)}
