"""Constant tensors as C initializers."""
from __future__ import annotations

import math

import numpy as np

PER_LINE = 12
SPLAT_MIN = 256   # a constant this large holding one repeated value is filled at init instead


def literal(v, dtype: str) -> str:
    if dtype in ("float32", "float64"):
        f = float(v)
        if math.isnan(f):
            return "NAN"
        if math.isinf(f):
            return "INFINITY" if f > 0 else "-INFINITY"
        s = f"{f:.9g}" if dtype == "float32" else f"{f:.17g}"
        s = s if _has_dot(s) else s + ".0"
        return s + "f" if dtype == "float32" else s
    if dtype == "bool":
        return "1" if v else "0"
    i = int(v)
    if dtype == "int64":
        return "(-9223372036854775807LL - 1)" if i == -2**63 else f"{i}LL"
    if dtype == "uint64":
        return f"{i}ULL"
    if dtype == "uint32":
        return f"{i}U"
    if dtype == "int32" and i == -2**31:
        return "(-2147483647 - 1)"
    return str(i)


def _has_dot(s: str) -> bool:
    return any(c in s for c in ".eEn")


def is_splat(data: np.ndarray) -> bool:
    return data.size >= SPLAT_MIN and bool(np.all(data == data.flat[0]))


def initializer(data: np.ndarray, dtype: str) -> str:
    flat = data.reshape(-1)
    if flat.size == 0:
        return "{0}"
    if dtype == "float32":
        vals = [f"{x:.9g}" for x in flat.astype(np.float64).tolist()]
        items = [("NAN" if s == "nan" else "INFINITY" if s == "inf" else "-INFINITY" if s == "-inf"
                  else (s + "f" if _has_dot(s) else s + ".0f")) for s in vals]
    elif dtype in ("int8", "uint8", "int16", "uint16", "int32") and flat.size > 64:
        items = [str(x) for x in flat.tolist()]
        if dtype == "int32":
            items = ["(-2147483647 - 1)" if x == "-2147483648" else x for x in items]
    else:
        items = [literal(x, dtype) for x in flat.tolist()]
    lines = [", ".join(items[i:i + PER_LINE]) for i in range(0, len(items), PER_LINE)]
    return "{\n    " + ",\n    ".join(lines) + "\n}"
