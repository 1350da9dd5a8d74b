"""Structured channel pruning of a float Graph: fewer channels, so fewer MACs, less flash and RAM.

    import smelt
    from smelt import prune
    g = smelt.pipeline.optimize(smelt.load("model.onnx"))   # (or smelt.train.qat.float_graph)
    groups = prune.channel_groups(g)            # what can be pruned together, and what cannot (why)
    small = prune.prune(g, 0.5)                  # drop 50% of every prunable group's channels (L1 norm)
    small = prune.prune(g, {"/3/Conv": 0.5})     # per group (keyed by the group's first conv)
    sens = prune.sensitivity(g, evaluate)        # per group and ratio: the score drop (accuracy, -error)
    plan = prune.plan_for_macs(g, sens, 0.5)     # per-group ratios reaching half the MACs, least damage

It works on smelt's IR, not on a torch module: the channel dependencies are explicit there (no
tracing), any imported model (ONNX, torch, float TFLite) can be pruned, and the result is exactly
what compiles. Fine-tuning afterwards runs on the same Graph (smelt.train.GraphModule).

A channel group is one set of channels that must be cut together: the output channels of one or
more producers (Conv with group=1, Gemm) and everything that carries them: elementwise activations,
BatchNormalization entries, pools, depthwise convolutions (their filters and group count), residual
Add/Sub/Mul (both operands must belong to the same group: the groups meeting there merge), and
Flatten of a 1x1 map; it ends at consumers whose input channels are cut (Conv, Gemm). A group
reaching anything else (a graph output, a Concat, a Reshape of a spatial map, ...) is not prunable;
the reason names the node.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import registry
from .errors import SmeltError
from .ir import Graph, Node, Tensor

UNARY = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu", "Selu",
         "Softplus", "Neg", "Abs", "Identity", "Dropout", "MaxPool", "AveragePool", "GlobalAveragePool",
         "GlobalMaxPool", "LRN")
ELEMENTWISE = ("Add", "Sub", "Mul")


@dataclass
class ChannelGroup:
    name: str                                   # the first producer's node name
    channels: int
    producers: list[Node] = field(default_factory=list)   # weights' output channels cut
    carriers: list[Node] = field(default_factory=list)    # BatchNorm / depthwise conv: per-channel params cut
    consumers: list[Node] = field(default_factory=list)   # weights' input channels cut
    tensors: set = field(default_factory=set)             # activations whose axis 1 shrinks
    joins: list[Node] = field(default_factory=list)       # residual Add/Sub/Mul inside the group
    reason: str = ""                                      # why not prunable ('' if prunable)

    @property
    def prunable(self) -> bool:
        return not self.reason


def _is_depthwise(n: Node, g: Graph, channels: int) -> bool:
    w = g[n.inputs[1]]
    return n.attrs.get("group", 1) == channels and channels > 1 and w.shape[0] == channels and w.shape[1] == 1


def _out_axis(n: Node) -> int:
    return (0 if n.attrs.get("transB") else 1) if n.op == "Gemm" else 0


def _in_axis(n: Node) -> int:
    return (1 if n.attrs.get("transB") else 0) if n.op == "Gemm" else 1


def _is_producer(n: Node, g: Graph) -> bool:
    if n.op == "Conv":
        return n.attrs.get("group", 1) == 1 and g[n.inputs[1]].is_const
    return n.op == "Gemm" and g[n.inputs[1]].is_const and not n.attrs.get("transA")


def _walk(g: Graph, producer: Node) -> ChannelGroup:
    """Follow the producer's output channels to the nodes that consume them."""
    w = g[producer.inputs[1]]
    grp = ChannelGroup(producer.name, w.shape[_out_axis(producer)], [producer])
    todo = [producer.outputs[0]]
    while todo:
        t = todo.pop()
        if t in grp.tensors:
            continue
        grp.tensors.add(t)
        if t in g.outputs:
            grp.reason = grp.reason or f"its channels reach the graph output '{t}'"
        for c in g.consumers(t):
            nxt = None
            if c.op in UNARY or c.op == "BatchNormalization" and c.inputs[0] == t:
                nxt = c.outputs[0]
                if c.op == "BatchNormalization":
                    grp.carriers.append(c)
            elif c.op == "Conv" and c.inputs[0] == t and _is_depthwise(c, g, grp.channels):
                grp.carriers.append(c)
                nxt = c.outputs[0]
            elif c.op in ("Conv", "Gemm") and c.inputs[0] == t and _is_producer(c, g):
                grp.consumers.append(c)
            elif c.op in ELEMENTWISE and all(g[i].shape == g[t].shape for i in c.inputs):
                grp.joins.append(c)
                nxt = c.outputs[0]
            elif c.op == "Flatten" and c.attrs.get("axis", 1) == 1 and all(d == 1 for d in g[t].shape[2:]):
                nxt = c.outputs[0]
            else:
                grp.reason = grp.reason or f"its channels reach node '{c.name}' ({c.op}), which cannot be cut"
            if nxt is not None:
                todo.append(nxt)
    return grp


def channel_groups(g: Graph) -> list[ChannelGroup]:
    """Every producer's channel group; groups meeting at a residual Add/Sub/Mul are merged."""
    groups = [_walk(g, n) for n in g.nodes if _is_producer(n, g)]
    merged = True
    while merged:   # union over shared joins
        merged = False
        for i, a in enumerate(groups):
            for b in groups[i + 1:]:
                if set(map(id, a.joins)) & set(map(id, b.joins)):
                    a.producers += b.producers
                    a.carriers += [c for c in b.carriers if c not in a.carriers]
                    a.consumers += [c for c in b.consumers if c not in a.consumers]
                    a.joins += [j for j in b.joins if j not in a.joins]
                    a.tensors |= b.tensors
                    a.reason = a.reason or b.reason
                    groups.remove(b)
                    merged = True
                    break
            if merged:
                break
    for grp in groups:
        for j in grp.joins:
            if not grp.reason and any(i not in grp.tensors for i in j.inputs):
                grp.reason = f"residual '{j.name}' ({j.op}) adds channels that come from outside the group"
        if not grp.consumers and not grp.reason:
            grp.reason = "no consumer whose input channels can be cut"
    return groups


def importance(g: Graph, grp: ChannelGroup, norm: str = "l1") -> np.ndarray:
    """Per-channel score: the producers' filter norms (each producer's scaled to max 1), summed."""
    if norm not in ("l1", "l2"):
        raise SmeltError(f"unknown pruning norm '{norm}' (use 'l1' or 'l2')")
    score = np.zeros(grp.channels)
    for p in grp.producers:
        w = np.moveaxis(np.asarray(g[p.inputs[1]].data, np.float64), _out_axis(p), 0).reshape(grp.channels, -1)
        s = np.abs(w).sum(1) if norm == "l1" else np.sqrt((w * w).sum(1))
        score += s / max(s.max(), 1e-30)
    return score


def _take(g: Graph, name: str, keep: np.ndarray, axis: int) -> str:
    """A new constant: tensor `name` keeping indices `keep` along `axis` (originals may be shared)."""
    data = np.take(np.asarray(g[name].data), keep, axis=axis)
    t = g.add_const(name + "_pruned", data)
    t.quant = None
    return t.name


def apply(g: Graph, grp: ChannelGroup, keep) -> Graph:
    """Cut the group down to channels `keep` (sorted indices), in place on g; returns g."""
    keep = np.asarray(sorted(keep), np.int64)
    if not grp.prunable:
        raise SmeltError(f"channel group '{grp.name}' cannot be pruned: {grp.reason}")
    if keep.size == 0:
        raise SmeltError(f"channel group '{grp.name}': keep at least one channel")
    for p in grp.producers:
        p.inputs[1] = _take(g, p.inputs[1], keep, _out_axis(p))
        if len(p.inputs) > 2 and p.inputs[2]:
            p.inputs[2] = _take(g, p.inputs[2], keep, g[p.inputs[2]].data.ndim - 1)
    for c in grp.carriers:
        if c.op == "BatchNormalization":
            c.inputs[1:5] = [_take(g, i, keep, 0) for i in c.inputs[1:5]]
        else:   # depthwise conv
            c.inputs[1] = _take(g, c.inputs[1], keep, 0)
            if len(c.inputs) > 2 and c.inputs[2]:
                c.inputs[2] = _take(g, c.inputs[2], keep, 0)
            c.attrs["group"] = int(keep.size)
    for c in grp.consumers:
        c.inputs[1] = _take(g, c.inputs[1], keep, _in_axis(c))
    for t in grp.tensors:
        shape = list(g[t].shape)
        shape[1] = int(keep.size)
        g[t].shape = tuple(shape)
    return reinfer(g)


def reinfer(g: Graph) -> Graph:
    """Check every node's shapes against its op's shape inference (raises on an inconsistency)."""
    g.validate()
    for n in g.nodes:
        for o, (shape, dtype) in zip(n.outputs, registry.get(n.op).infer(n, g)):
            if o and tuple(g[o].shape) != tuple(int(d) for d in shape):
                raise SmeltError(f"pruning left node '{n.name}' ({n.op}) inconsistent: output '{o}' is "
                                 f"{list(g[o].shape)}, its inputs give {list(shape)}")
    return g


def _ratios(groups: list[ChannelGroup], ratio) -> dict[str, float]:
    if isinstance(ratio, dict):
        names = {grp.name for grp in groups}
        bad = [k for k in ratio if k not in names]
        if bad:
            raise SmeltError(f"no channel group {bad}; groups: {sorted(names)}")
        return dict(ratio)
    if not 0 <= ratio < 1:
        raise SmeltError(f"pruning ratio {ratio} must be in [0, 1)")
    return {grp.name: ratio for grp in groups if grp.prunable}


def prune(g: Graph, ratio: float | dict = 0.5, norm: str = "l1", multiple: int = 1) -> Graph:
    """A copy of g with a fraction `ratio` of each prunable group's channels removed (lowest
    `norm` first); `ratio` may be {group name: ratio}. The number kept is rounded up to `multiple`."""
    out = g.copy()
    groups = channel_groups(out)
    for grp in groups:
        r = _ratios(groups, ratio).get(grp.name, 0.0)
        if r <= 0:
            continue
        k = max(1, int(np.ceil(grp.channels * (1 - r) / multiple)) * multiple)
        if k >= grp.channels:
            continue
        order = np.argsort(-importance(out, grp, norm), kind="stable")
        apply(out, grp, order[:k])
    return out


def macs(g: Graph) -> int:
    return int(sum(registry.get(n.op).macs(n, g) for n in g.nodes))


def weight_bytes(g: Graph) -> int:
    return int(sum(t.nbytes for t in g.tensors.values() if t.is_const and any(t.name in n.inputs for n in g.nodes)))


def sensitivity(g: Graph, evaluate, ratios=(0.25, 0.5, 0.75), norm: str = "l1", progress: bool = False) -> dict:
    """{group: {ratio: score drop}}: each prunable group pruned alone; evaluate(graph) -> score
    (higher is better: accuracy, or minus the output error on calibration data)."""
    base = evaluate(g)
    groups = [grp for grp in channel_groups(g) if grp.prunable]
    items = [(grp, r) for grp in groups for r in ratios]
    if progress:
        from tqdm.auto import tqdm
        items = tqdm(items, desc="sensitivity", leave=False)
    out: dict[str, dict[float, float]] = {grp.name: {} for grp in groups}
    for grp, r in items:
        out[grp.name][r] = base - evaluate(prune(g, {grp.name: r}, norm))
    return out


def plan_for_macs(g: Graph, sens: dict, target: float, norm: str = "l1") -> dict[str, float]:
    """Per-group ratios reaching `target` x the MACs: greedily take the step (group, next ratio)
    with the least score drop per MAC saved."""
    total = macs(g)
    plan = {name: 0.0 for name in sens}
    while macs(prune(g, plan, norm)) > target * total:
        best = None
        cur = macs(prune(g, plan, norm))
        for name, table in sens.items():
            nxt = [r for r in sorted(table) if r > plan[name]]
            if not nxt:
                continue
            trial = dict(plan, **{name: nxt[0]})
            saved = cur - macs(prune(g, trial, norm))
            drop = max(table[nxt[0]], 0.0) - max(table.get(plan[name], 0.0), 0.0)
            cost = (drop + 1e-6) / max(saved, 1)
            if saved > 0 and (best is None or cost < best[0]):
                best = (cost, name, nxt[0])
        if best is None:
            break
        plan[best[1]] = best[2]
    return plan


# ------------------------------------------------------------------ unstructured (block) magnitude pruning
def _sparse_layers(g: Graph) -> list[Node]:
    """Float Conv (group 1) and Gemm layers with constant weights: what magnitude() prunes."""
    return [n for n in g.nodes if n.op in ("Conv", "Gemm") and len(n.inputs) > 1 and g[n.inputs[1]].is_const
            and g[n.inputs[1]].dtype == "float32" and n.attrs.get("group", 1) == 1 and not n.attrs.get("transA")]


def magnitude(g: Graph, sparsity: float, block: int = 4, skip_first: bool = True) -> Graph:
    """Zero the fraction `sparsity` of each Conv / Gemm layer's weights with the smallest |w|, by
    blocks of `block` consecutive input channels (a Conv's taps; a Gemm's K): the blocks the sparse
    format (ops/sparse.py, block 4) stores or skips, so the zeros become saved flash and work
    (block=1: single weights, which rarely empties a block). The first layer (few weights, most
    sensitive) is left dense unless skip_first=False. Returns a new graph."""
    if not 0 <= sparsity < 1:
        raise SmeltError(f"sparsity must be in [0, 1), got {sparsity}")
    g = g.copy()
    layers = _sparse_layers(g)[1 if skip_first else 0:]
    for n in layers:
        w = g[n.inputs[1]]
        data = w.data.astype(np.float32)
        # rows = output channels, the input-channel (K) axis last, cut into blocks
        rows = np.moveaxis(data, _in_axis(n), -1) if n.op == "Conv" else (data if n.attrs.get("transB") else data.T)
        shape = rows.shape
        k = shape[-1]
        pad = np.zeros(shape[:-1] + (-(-k // block) * block,), np.float32)
        pad[..., :k] = rows
        blocks = pad.reshape(-1, block)
        score = np.abs(blocks).sum(axis=1)
        # each output channel keeps its largest block: an all-zero channel has no int8 scale
        # (removing channels is prune()'s job)
        per_row = score.reshape(-1, pad.shape[-1] // block)
        per_row[np.arange(len(per_row)), per_row.argmax(axis=1)] = np.inf
        cut = int(round(sparsity * len(score)))
        if cut:
            blocks[np.argsort(score, kind="stable")[:cut]] = 0
        rows = blocks.reshape(pad.shape)[..., :k]
        data = np.moveaxis(rows, -1, _in_axis(n)) if n.op == "Conv" else (rows if n.attrs.get("transB") else rows.T)
        w.data = np.ascontiguousarray(data, np.float32)   # a new array: the copy shares the old one
    return reinfer(g)


def density(g: Graph) -> float:
    """Nonzero fraction of the weights of the layers magnitude() prunes."""
    ws = [g[n.inputs[1]].data for n in _sparse_layers(g)]
    return float(sum(np.count_nonzero(w) for w in ws) / max(1, sum(w.size for w in ws)))


def sparsify(g: Graph, layers=None) -> Graph:
    """Switch the int8 QConv2D / QFullyConnected layers whose block-sparse weights (ops/sparse.py)
    take fewer flash bytes than dense int8 to that format (see passes/sparsify.py); the others stay
    dense. compress.weight_formats / sparsify.decisions say which and why."""
    from .passes import sparsify as sparsify_pass
    return sparsify_pass.run(g.copy(), layers=layers)


def freeze_zeros(module) -> None:
    """Keep the zeros of magnitude() through fine-tuning (smelt.train.GraphModule or any torch
    module): gradient hooks zero the pruned weights' gradients, so Adam leaves them at 0."""
    for p in module.parameters():
        mask = (p.detach() != 0).to(p.dtype)
        if p.dim() > 1 and not bool(mask.all()):
            p.register_hook(lambda grad, m=mask: grad * m)
