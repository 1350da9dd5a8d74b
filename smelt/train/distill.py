"""Training loops: fine-tuning (after pruning, during QAT) with optional knowledge distillation.

distillation_loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE
(Hinton et al. 2015): the float model teaches the pruned or quantized one. Every loop shows a
tqdm progress bar (progress=False turns it off).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm


def distillation_loss(student_logits, teacher_logits, labels, temperature: float = 4.0, alpha: float = 0.5):
    soft = F.kl_div(F.log_softmax(student_logits / temperature, 1), F.softmax(teacher_logits / temperature, 1),
                    reduction="batchmean") * temperature ** 2
    return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def fit(model: torch.nn.Module, x, y, epochs: int = 10, lr: float = 1e-3, batch: int = 64,
        teacher: torch.nn.Module | None = None, temperature: float = 4.0, alpha: float = 0.5,
        seed: int = 0, progress: bool = True, desc: str = "train") -> list[float]:
    """Train `model` (logits out) on (x, y) with Adam and a cosine learning rate; with a `teacher`,
    on the distillation loss. Returns the mean loss of each epoch."""
    gen = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(np.asarray(x, np.float32))
    yt = torch.as_tensor(np.asarray(y, np.int64))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    steps = epochs * ((len(xt) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    if teacher is not None:
        teacher.eval()
    history = []
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            out = model(xt[idx])
            if teacher is not None:
                with torch.no_grad():
                    t = teacher(xt[idx])
                loss = distillation_loss(out, t, yt[idx], temperature, alpha)
            else:
                loss = F.cross_entropy(out, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / len(xt))
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    model.eval()
    return history


def accuracy(model: torch.nn.Module, x, y, batch: int = 512) -> float:
    model.eval()
    xt = torch.as_tensor(np.asarray(x, np.float32))
    with torch.no_grad():
        pred = torch.cat([model(xt[i:i + batch]) for i in range(0, len(xt), batch)]).argmax(1).numpy()
    return float((pred == np.asarray(y)).mean())
