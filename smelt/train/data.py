"""Offline datasets for compression experiments: nothing is downloaded.

digits(): scikit-learn's handwritten digits (8x8, 10 classes; the data ships inside scikit-learn),
split as examples/train_digits.py splits it (its test part is examples/digits_test.npz).
keywords(): a procedurally generated keyword-spotting task built here: 16x16 "spectrograms"
(frequency x time) of 8 synthetic keywords, each a fixed sequence of formant tracks (a few
frequency bands sweeping over time), spoken at a random time offset, speed and loudness over
pink-ish background noise with random distractor tones. Deterministic for a seed.
"""
from __future__ import annotations

import numpy as np


def digits():
    """(x_train, y_train, x_test, y_test): images [n, 1, 8, 8] in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=0.25, random_state=0)
    return x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64)


def _keyword_templates(classes: int, rng) -> list[list[tuple[float, float, float, float]]]:
    """Per keyword: formant tracks (start time, end time, start freq, end freq), in [0, 1]."""
    out = []
    for _ in range(classes):
        tracks, t = [], 0.0
        for _ in range(rng.integers(2, 4)):          # syllables
            dur = rng.uniform(0.15, 0.3)
            for _ in range(2):                        # two formants per syllable
                f0 = rng.uniform(0.05, 0.95)
                tracks.append((t, t + dur, f0, np.clip(f0 + rng.uniform(-0.3, 0.3), 0.02, 0.98)))
            t += dur + rng.uniform(0.02, 0.08)
        out.append(tracks)
    return out


def keywords(n_train: int = 2000, n_test: int = 500, classes: int = 8, size: int = 16, seed: int = 0):
    """(x_train, y_train, x_test, y_test): spectrograms [n, 1, size, size] in [0, 1]."""
    templates = _keyword_templates(classes, np.random.default_rng(1234))   # the same words for every seed
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = rng.integers(0, classes, n)
    f = np.linspace(0, 1, size)[:, None]
    t = np.linspace(0, 1, size)[None, :]
    x = np.empty((n, 1, size, size), np.float32)
    for i in range(n):
        speed, offset, gain = rng.uniform(0.8, 1.25), rng.uniform(-0.1, 0.25), rng.uniform(0.6, 1.0)
        img = rng.gamma(1.0, 0.08, (size, size))                       # background noise
        for t0, t1, f0, f1 in templates[y[i]]:
            a, b = offset + t0 * speed, offset + t1 * speed
            on = (t >= a) & (t <= b)
            frac = np.clip((t - a) / max(b - a, 1e-6), 0, 1)
            fc = f0 + (f1 - f0) * frac + rng.normal(0, 0.02)
            img += gain * on * np.exp(-((f - fc) ** 2) / (2 * 0.05 ** 2))
        for _ in range(rng.integers(0, 3)):                             # distractor tones
            fd, td = rng.uniform(0, 1), rng.uniform(0, 1)
            img += 0.5 * np.exp(-((f - fd) ** 2) / 0.002 - ((t - td) ** 2) / 0.01)
        x[i, 0] = np.clip(img / img.max(), 0, 1)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]
