"""Multi-task training: one shared backbone, one head per task, each task on its own dataset.

    res = multitask(backbone, {"digit": head_a, "parity": head_b}, digits_tasks(), weighting="uncertainty")
    print(res.report.table())          # each task's accuracy vs the same architecture trained alone
    onnx_models = res.export(example)  # {task: ONNX model of backbone + head}, for compile_library

Tasks may have different label sets and dataset sizes: every step draws one batch from each
task's own loader (smaller datasets cycle). Loss weighting:
- "fixed": sum_t w_t L_t with the given weights (default 1 each);
- "uncertainty": homoscedastic uncertainty (Kendall, Gal & Cipolla 2018): sum_t exp(-s_t) L_t + s_t,
  with s_t = log sigma_t^2 learned along with the network;
- "gradnorm": GradNorm (Chen et al. 2018): learned w_t such that the gradient norm of w_t L_t at the
  last shared layer follows each task's relative training rate (asymmetry alpha), sum w_t = T.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..errors import SmeltError

try:
    import torch
    from torch import nn
except ImportError:                          # pragma: no cover - the train extra is missing
    torch = nn = None

WEIGHTINGS = ("fixed", "uncertainty", "gradnorm")


def _need_torch():
    if torch is None:
        raise SmeltError("smelt.train needs torch and tqdm: pip install 'smelt[train]'")


def digits_tasks(seed: int = 0, parity_samples: int = 700, test_fraction: float = 0.25) -> dict:
    """Two tasks on scikit-learn's digits (8x8 grey images, shipped with scikit-learn: offline).
    'digit': the class 0-9; 'parity': even (0) or odd (1) digit, trained on a random subset of
    `parity_samples` images only (another label set, another dataset size). Both tasks are tested
    on the same held-out `test_fraction` of the images, which no task trains on (so one task's
    training images cannot leak into the other's test). Returns {task: ((Xtr, ytr), (Xte, yte))},
    images float32 [N, 1, 8, 8] in [0, 1]."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]
    y = d.target.astype(np.int64)
    p = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train = p[:n_test], p[n_test:]
    odd = train[:parity_samples]
    return {"digit": ((x[train], y[train]), (x[test], y[test])),
            "parity": ((x[odd], y[odd] % 2), (x[test], y[test] % 2))}


@dataclass
class TaskResult:
    task: str
    classes: int
    train_samples: int
    test_samples: int
    accuracy: float              # multi-task model on the task's held-out part
    alone: float | None          # the same architecture trained on this task only


@dataclass
class MultitaskReport:
    weighting: str
    epochs: int
    tasks: list[TaskResult]
    task_weights: dict[str, float]          # final loss weight of each task
    history: list[dict] = field(default_factory=list)   # per epoch: each task's mean loss

    def table(self) -> str:
        rows = [("task", "classes", "train", "test", "multi-task acc", "alone acc", "delta", "weight")]
        for t in self.tasks:
            rows.append((t.task, str(t.classes), str(t.train_samples), str(t.test_samples), f"{t.accuracy:.1%}",
                         "-" if t.alone is None else f"{t.alone:.1%}",
                         "-" if t.alone is None else f"{100 * (t.accuracy - t.alone):+.1f} pt",
                         f"{self.task_weights[t.task]:.3g}"))
        w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.rjust(w[i]) if i else c.ljust(w[i]) for i, c in enumerate(r)) for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        return f"multi-task training: {self.weighting} weighting, {self.epochs} epochs\n" + "\n".join(lines) + "\n"


@dataclass
class MultitaskResult:
    backbone: "nn.Module"
    heads: dict
    report: MultitaskReport

    def model(self, task: str) -> "nn.Module":
        """backbone + the task's head, one module (for export or use)."""
        return nn.Sequential(self.backbone, self.heads[task]).eval()

    def combined(self) -> "nn.Module":
        """One module with one output per task (a multi-output model)."""
        return _Combined(self.backbone, self.heads).eval()

    def export(self, example_input) -> dict:
        """{task: ONNX ModelProto of backbone + head}, exported separately through smelt's torch
        front end (compile_library finds the shared backbone again by content)."""
        from ..frontends import torch as torch_fe
        return {t: torch_fe.to_onnx(self.model(t), (example_input,)) for t in self.heads}


if nn is not None:
    class _Combined(nn.Module):
        def __init__(self, backbone, heads):
            super().__init__()
            self.backbone, self.heads = backbone, nn.ModuleDict(heads)

        def forward(self, x):
            f = self.backbone(x)
            return tuple(h(f) for h in self.heads.values())


def _split(data, test_fraction: float, rng: np.random.Generator):
    """(X, y) -> (train, test) by a seeded permutation; ((Xtr, ytr), (Xte, yte)) is kept."""
    if len(data) == 2 and isinstance(data[0], (tuple, list)):
        return tuple(data[0]), tuple(data[1])
    x, y = (np.asarray(a) for a in data)
    if len(x) != len(y):
        raise SmeltError(f"a dataset has {len(x)} inputs but {len(y)} labels")
    p = rng.permutation(len(x))
    n_test = max(1, int(round(len(x) * test_fraction)))
    return (x[p[n_test:]], y[p[n_test:]]), (x[p[:n_test]], y[p[:n_test]])


def _tensors(xy):
    return torch.as_tensor(np.asarray(xy[0]), dtype=torch.float32), torch.as_tensor(np.asarray(xy[1]), dtype=torch.long)


class _Batches:
    """Endless shuffled mini-batches of one task's training set (a small set cycles)."""

    def __init__(self, x, y, batch_size: int, gen: "torch.Generator"):
        self.x, self.y, self.bs, self.gen = x, y, batch_size, gen
        self.order, self.at = torch.randperm(len(x), generator=gen), 0

    def __len__(self) -> int:
        return (len(self.x) + self.bs - 1) // self.bs

    def next(self):
        if self.at >= len(self.x):
            self.order, self.at = torch.randperm(len(self.x), generator=self.gen), 0
        idx = self.order[self.at:self.at + self.bs]
        self.at += self.bs
        return self.x[idx], self.y[idx]


def _accuracy(backbone, head, x, y) -> float:
    backbone.eval(), head.eval()
    with torch.no_grad():
        acc = (head(backbone(x)).argmax(1) == y).float().mean().item()
    backbone.train(), head.train()
    return acc


def _last_shared_params(backbone) -> list:
    params = [p for p in backbone.parameters() if p.requires_grad]
    if not params:
        raise SmeltError("gradnorm weighting needs a backbone with trainable parameters")
    last = [m for m in backbone.modules() if any(True for _ in m.parameters(recurse=False))][-1]
    return list(last.parameters(recurse=False))


def _train(backbone, heads: dict, train: dict, *, weighting: str, weights: dict, epochs: int, batch_size: int,
           lr: float, alpha: float, seed: int, progress: bool, desc: str, steps: int | None = None):
    from tqdm.auto import tqdm
    gen = torch.Generator().manual_seed(seed)
    loaders = {t: _Batches(*train[t], batch_size, gen) for t in heads}
    steps = steps or max(len(b) for b in loaders.values())
    params = list(backbone.parameters()) + [p for h in heads.values() for p in h.parameters()]
    names = list(heads)
    log_var = torch.zeros(len(names), requires_grad=True)                # uncertainty: s_t
    gn_w = torch.ones(len(names), requires_grad=True)                    # gradnorm: w_t
    extra = [log_var] if weighting == "uncertainty" else []
    opt = torch.optim.Adam(params + extra, lr=lr)
    gn_opt = torch.optim.Adam([gn_w], lr=lr * 25) if weighting == "gradnorm" else None
    fixed = torch.tensor([float(weights.get(t, 1.0)) for t in names])
    shared = _last_shared_params(backbone) if weighting == "gradnorm" else None
    ce = nn.CrossEntropyLoss()
    initial = None
    history = []
    backbone.train()
    for h in heads.values():
        h.train()
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        sums = torch.zeros(len(names))
        for _ in range(steps):
            losses = []
            for t in names:
                x, y = loaders[t].next()
                losses.append(ce(heads[t](backbone(x)), y))
            L = torch.stack(losses)
            sums += L.detach()
            opt.zero_grad()
            if weighting == "fixed":
                (fixed * L).sum().backward()
            elif weighting == "uncertainty":
                (torch.exp(-log_var) * L + log_var).sum().backward()
            else:
                if initial is None:
                    initial = L.detach()
                norms = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(
                    gn_w[k] * L[k], shared, retain_graph=True, create_graph=True)]).norm()
                    for k in range(len(names))])
                rate = (L.detach() / initial)
                target = (norms.mean() * (rate / rate.mean()) ** alpha).detach()
                gn_opt.zero_grad()
                gn_w.grad = torch.autograd.grad((norms - target).abs().sum(), gn_w, retain_graph=True)[0]
                (gn_w.detach() * L).sum().backward()
                gn_opt.step()
                with torch.no_grad():   # keep sum w_t = T, each positive
                    gn_w.clamp_(min=1e-3)
                    gn_w.mul_(len(names) / gn_w.sum())
            opt.step()
        history.append({t: float(v) / steps for t, v in zip(names, sums)})
        bar.set_postfix({t: f"{v:.3f}" for t, v in history[-1].items()})
    if weighting == "fixed":
        final = dict(zip(names, fixed.tolist()))
    elif weighting == "uncertainty":
        final = dict(zip(names, torch.exp(-log_var).tolist()))
    else:
        final = dict(zip(names, gn_w.tolist()))
    return final, history


def multitask(backbone, heads: dict, datasets: dict, *, weighting: str = "uncertainty",
              weights: dict | None = None, epochs: int = 10, batch_size: int = 64, lr: float = 3e-3,
              alpha: float = 1.5, test_fraction: float = 0.25, baseline: bool = True, seed: int = 0,
              progress: bool = True) -> MultitaskResult:
    """Train `backbone` (shared) and `heads` ({task: module on the backbone's output}) on
    `datasets` ({task: (X, y)} split by `test_fraction`, or {task: ((Xtr, ytr), (Xte, yte))};
    y are class indices). weighting: "fixed" (with `weights`), "uncertainty" or "gradnorm"
    (asymmetry `alpha`). baseline=True also trains a copy of the initial backbone and each head
    on that task alone (same epochs, same optimizer steps per epoch), for the report's comparison. The modules are
    trained in place and returned in the result."""
    _need_torch()
    if weighting not in WEIGHTINGS:
        raise SmeltError(f"unknown weighting '{weighting}'; choose one of {', '.join(WEIGHTINGS)}")
    if set(heads) != set(datasets):
        raise SmeltError(f"heads {sorted(heads)} and datasets {sorted(datasets)} must name the same tasks")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    splits = {t: _split(datasets[t], test_fraction, rng) for t in heads}
    train = {t: _tensors(s[0]) for t, s in splits.items()}
    test = {t: _tensors(s[1]) for t, s in splits.items()}
    start = (copy.deepcopy(backbone), copy.deepcopy(heads)) if baseline else None
    opts = dict(weights=weights or {}, epochs=epochs, batch_size=batch_size, lr=lr, alpha=alpha, seed=seed,
                progress=progress)
    final, history = _train(backbone, heads, train, weighting=weighting, desc=f"multi-task ({weighting})", **opts)
    alone = {}
    steps = max((len(train[t][0]) + batch_size - 1) // batch_size for t in heads)
    if baseline:   # same optimizer steps per epoch as the multi-task run, one task's batches

        for t in heads:
            bb, hd = copy.deepcopy(start[0]), copy.deepcopy(start[1][t])
            _train(bb, {t: hd}, {t: train[t]}, weighting="fixed", desc=f"{t} alone", steps=steps, **opts)
            alone[t] = _accuracy(bb, hd, *test[t])
    results = [TaskResult(t, int(max(train[t][1].max(), test[t][1].max())) + 1, len(train[t][0]), len(test[t][0]),
                          _accuracy(backbone, heads[t], *test[t]), alone.get(t)) for t in heads]
    backbone.eval()
    for h in heads.values():
        h.eval()
    return MultitaskResult(backbone, heads, MultitaskReport(weighting, epochs, results, final, history))
