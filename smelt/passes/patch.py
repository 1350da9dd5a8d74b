"""Patch-based inference (MCUNetV2): run a CNN's first layers tile by tile so that their large
activations never exist whole.

`run(g, split, grid)` rewrites the prefix of the node list up to and including node `split` into,
for each of grid x grid spatial patches of the split node's output, the same ops on tiles: a Slice
of the input with its receptive-field halo, each op with per-tile padding (a tile keeps the
original padding on a side at the image border and gets none inside the image: the out-of-image
taps are exactly the ones the original op padded, so results are bit-exact), and a PlaceTile that
writes the patch's piece of the split output into the full tensor. The memory planner then sees
small per-patch tensors; the nodes after the split are unchanged. smelt/plan/patches.py chooses
the split and the grid under a RAM budget.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import registry
from ..errors import SmeltError
from ..ir import Graph, Node, Tensor

NCHW_WINDOWS = {"Conv", "MaxPool", "AveragePool"}     # float ONNX ops, 2-D (floor mode)
Q_POINTWISE = {"QRelu", "QRelu6", "QLeakyRelu", "QHardSwish", "QLogistic", "QTanh"}


@dataclass
class Window:
    """How a node maps output rows/columns to input rows/columns (a 1x1 identity for pointwise ops)."""
    layout: str | None          # "NHWC", "NCHW", or None (pointwise: follows its input)
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    dilations: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)   # top, left, bottom, right

    def needs(self, out: tuple[int, int, int, int], size: tuple[int, int]):
        """(input region, tile pads) for the output region (h0, h1, w0, w1) over an input of `size`."""
        region, pads = [], [0, 0, 0, 0]
        for a in range(2):
            o0, o1 = out[2 * a], out[2 * a + 1]
            start = o0 * self.strides[a] - self.pads[a]
            end = (o1 - 1) * self.strides[a] - self.pads[a] + (self.kernel[a] - 1) * self.dilations[a] + 1
            lo, hi = max(start, 0), min(end, size[a])
            region += [lo, hi]
            pads[a], pads[a + 2] = lo - start, end - hi
        return tuple(region), tuple(pads)


AXES = {"NHWC": (1, 2), "NCHW": (2, 3)}


def window(node: Node, g: Graph) -> Window | None:
    """The node's Window, or None when it cannot run on a tile (not spatial, not supported)."""
    a = node.attrs
    outs = [o for o in node.outputs if o]
    if len(outs) != 1 or len(g[outs[0]].shape) != 4:
        return None
    if node.op in ("QConv2D", "QDepthwiseConv2D"):
        w = g[node.inputs[1]].shape
        return Window("NHWC", (w[1], w[2]), tuple(a["strides"]), tuple(a.get("dilations", (1, 1))), tuple(a["pads"]))
    if node.op in ("QAveragePool2D", "QMaxPool2D"):
        return Window("NHWC", tuple(a["kernel"]), tuple(a["strides"]), (1, 1), tuple(a["pads"]))
    if node.op in NCHW_WINDOWS:
        if len(a["kernel_shape"]) != 2 or a.get("ceil_mode", 0):
            return None
        return Window("NCHW", tuple(a["kernel_shape"]), tuple(a["strides"]), tuple(a["dilations"]), tuple(a["pads"]))
    if node.op in Q_POINTWISE or registry.get(node.op).elementwise:
        # the other data inputs must run on the same tile (same shape); constants are checked
        # against the layout in check_prefix
        y = g[outs[0]]
        if all(g[i].shape == y.shape for i in data_inputs(node, g)):
            return Window(None)
    return None


def _varies_spatially(t: Tensor, layout: str) -> bool:
    """A broadcast constant that varies along H or W cannot be cut with the tile."""
    shape = (1,) * (4 - len(t.shape)) + tuple(t.shape)
    return any(shape[a] > 1 for a in AXES[layout])


def data_inputs(node: Node, g: Graph) -> list[str]:
    return [i for i in node.inputs if i and not g[i].is_const]


class PrefixError(SmeltError):
    pass


def check_prefix(g: Graph, split: int) -> str:
    """The layout of a patchable prefix g.nodes[:split + 1], or raise PrefixError saying why not."""
    prefix = g.nodes[:split + 1]
    produced = {o for n in prefix for o in n.outputs if o}
    out = g.nodes[split].outputs[0]
    layouts = set()
    sources = set()
    for n in prefix:
        w = window(n, g)
        if w is None:
            raise PrefixError(f"node '{n.name}' ({n.op}) cannot run on a spatial tile")
        if w.layout:
            layouts.add(w.layout)
        for i in data_inputs(n, g):
            if i not in produced:
                sources.add(i)
    if len(layouts) != 1:
        raise PrefixError(f"the prefix up to '{g.nodes[split].name}' has no single layout ({sorted(layouts)})")
    layout = layouts.pop()
    consts = [i for n in prefix if not window(n, g).layout for i in n.inputs if i and g[i].is_const]
    bad = [c for c in consts if _varies_spatially(g[c], layout)]
    if bad:
        raise PrefixError(f"constants {bad} vary along the image axes")
    if len(sources) != 1 or next(iter(sources)) not in g.inputs or len(g[next(iter(sources))].shape) != 4:
        raise PrefixError(f"the prefix up to '{g.nodes[split].name}' does not read one 4-D graph input")
    later = {i for n in g.nodes[split + 1:] for i in n.inputs if i}
    leaks = [t for t in produced if t != out and (t in later or t in g.outputs)]
    if leaks:
        raise PrefixError(f"tensors {sorted(leaks)} of the prefix are used after '{g.nodes[split].name}'")
    return layout


def bounds(n: int, parts: int) -> list[tuple[int, int]]:
    cuts = [round(i * n / parts) for i in range(parts + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def run(g: Graph, split: int, grid: int, assemble: str = "place") -> Graph:
    """g with g.nodes[:split + 1] run as grid x grid patches (see the module docstring).
    assemble: "place" (PlaceTile into the full tensor) or "concat" (Concat along W, then H)."""
    layout = check_prefix(g, split)
    ha, wa = AXES[layout]
    prefix = g.nodes[:split + 1]
    out = prefix[-1].outputs[0]
    full = g[out].shape
    if not 1 <= grid <= min(full[ha], full[wa]):
        raise SmeltError(f"a {grid}x{grid} grid does not fit the {full[ha]}x{full[wa]} output of '{prefix[-1].name}'")
    ng = Graph(g.name, dict(g.tensors), [], list(g.inputs), list(g.outputs))
    for n in prefix:   # the prefix's tensors are replaced by tiles
        for o in n.outputs:
            ng.tensors.pop(o, None)
    windows = {n.name: window(n, g) for n in prefix}
    acc, rows = "", []
    for i, (h0, h1) in enumerate(bounds(full[ha], grid)):
        row = []
        for j, (w0, w1) in enumerate(bounds(full[wa], grid)):
            tile = _patch(g, ng, prefix, windows, (h0, h1, w0, w1), f"p{i}_{j}", ha, wa)
            if assemble == "place":
                starts = [0] * 4
                starts[ha], starts[wa] = h0, w0
                last = i == grid - 1 and j == grid - 1
                acc = _add(ng, Node("PlaceTile", ng.unique(f"{out}_place_p{i}_{j}"), [acc, tile],
                                    [out if last else ng.unique(f"{out}_acc_p{i}_{j}")],
                                    {"shape": tuple(full), "starts": tuple(starts)}), g[out])
            else:
                row.append(tile)
        if assemble == "concat":
            rows.append(_concat(ng, row, wa, f"{out}_row{i}", g[out]) if len(row) > 1 else row[0])
    if assemble == "concat":
        last = _concat(ng, rows, ha, out, g[out]) if len(rows) > 1 else rows[0]
        if last != out:    # a 1x1 grid: the only tile is the whole output
            ng.nodes[-1].outputs[0] = out
            ng.tensors[out] = Tensor(out, full, g[out].dtype, None, g[out].quant)
    ng.nodes += [Node(n.op, n.name, list(n.inputs), list(n.outputs), dict(n.attrs)) for n in g.nodes[split + 1:]]
    ng.validate()
    return ng


def _patch(g, ng, prefix, windows, region, tag, ha, wa) -> str:
    """Append one patch's nodes to ng; returns the tile of the split output."""
    out = prefix[-1].outputs[0]
    want = {out: region}          # tensor -> region of it this patch computes
    reads = {}                    # (node, input) -> (region read, tile pads)
    for n in reversed(prefix):
        y = n.outputs[0]
        if y not in want:
            continue              # not needed by this patch (cannot happen in a connected prefix)
        w = windows[n.name]
        for x in data_inputs(n, g):
            shape = g[x].shape
            r, pads = w.needs(want[y], (shape[ha], shape[wa]))
            reads[n.name, x] = r, pads
            want[x] = r if x not in want else _union(want[x], r)
    tiles = {}                    # tensor -> (tile tensor, region)
    for n in prefix:
        y = n.outputs[0]
        if y not in want:
            continue
        inputs = []
        for x in n.inputs:
            if not x or g[x].is_const:
                inputs.append(x)
                continue
            r, _ = reads[n.name, x]
            if x in tiles and tiles[x][1] == r:
                inputs.append(tiles[x][0])
                continue
            # a Slice: the graph input's tile, or a crop of a tile computed for a wider consumer
            src, at = (x, (0, 0)) if x not in tiles else (tiles[x][0], (tiles[x][1][0], tiles[x][1][2]))
            starts, ends = [0] * 4, list(ng[src].shape)
            starts[ha], ends[ha] = r[0] - at[0], r[1] - at[0]
            starts[wa], ends[wa] = r[2] - at[1], r[3] - at[1]
            shape = list(ng[src].shape)
            shape[ha], shape[wa] = r[1] - r[0], r[3] - r[2]
            inputs.append(_add(ng, Node("Slice", ng.unique(f"{x}_slice_{tag}"), [src], [ng.unique(f"{x}_{tag}")],
                                        {"starts": starts, "ends": ends, "steps": [1] * 4}), g[x], shape))
        attrs = dict(n.attrs)
        if windows[n.name].layout:
            x = data_inputs(n, g)[0]
            pads = reads[n.name, x][1]
            attrs["pads"] = tuple(pads) if isinstance(n.attrs["pads"], tuple) else list(pads)
        shape = list(g[y].shape)
        r = want[y]
        shape[ha], shape[wa] = r[1] - r[0], r[3] - r[2]
        tiles[y] = _add(ng, Node(n.op, ng.unique(f"{n.name}_{tag}"), inputs, [ng.unique(f"{y}_{tag}")], attrs),
                        g[y], shape), r
    return tiles[out][0]


def _union(a, b):
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def _add(ng: Graph, node: Node, like: Tensor, shape=None) -> str:
    """Append node, creating its output tensor (dtype and quantization of `like`); checks the
    op's own shape inference against `shape` (default: like's shape)."""
    y = node.outputs[0]
    ng.tensors[y] = Tensor(y, tuple(shape or like.shape), like.dtype, None, like.quant)
    (inferred, dtype), = registry.get(node.op).infer(node, ng)
    if tuple(inferred) != ng[y].shape or dtype != like.dtype:
        raise SmeltError(f"patching: '{node.name}' ({node.op}) makes {inferred} {dtype}, "
                         f"expected {ng[y].shape} {like.dtype}")
    ng.nodes.append(node)
    return y


def _concat(ng: Graph, parts: list[str], axis: int, name: str, like: Tensor) -> str:
    shape = list(ng[parts[0]].shape)
    shape[axis] = sum(ng[p].shape[axis] for p in parts)
    y = name if name not in ng.tensors else ng.unique(name)
    return _add(ng, Node("Concat", ng.unique(f"{name}_concat"), list(parts), [y], {"axis": axis}), like, shape)
