"""The memory plan as a picture: operators across, arena bytes up, one rectangle per buffer
(tensor or scratch) over the steps it is alive, the arena size marked; and an HTML report with
the picture embedded and the per-layer table."""
from __future__ import annotations

import base64
import html as html_mod
import io


def png(report) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    steps = max(len(report.layers), 1)
    fig, ax = plt.subplots(figsize=(min(4 + 0.25 * steps, 24), 5), dpi=100)
    cmap = plt.get_cmap("tab20")
    for k, b in enumerate(report.buffers):
        scratch = b["name"].endswith("#scratch")
        ax.add_patch(Rectangle((b["first"], b["offset"]), b["last"] - b["first"] + 1, b["size"],
                               facecolor="lightgrey" if scratch else cmap(k % 20), edgecolor="black",
                               linewidth=0.4, hatch="//" if scratch else None))
    top = max(report.arena_bytes, 1)
    ax.axhline(report.arena_bytes, color="red", linestyle="--", linewidth=1)
    ax.text(0, report.arena_bytes, f" arena {report.arena_bytes:,} B", color="red", va="bottom", fontsize=8)
    if report.buffers:
        peak = max(range(steps), key=lambda s: sum(b["size"] for b in report.buffers if b["first"] <= s <= b["last"]))
        ax.axvspan(peak, peak + 1, color="red", alpha=0.08)
    ax.set_xlim(0, steps)
    ax.set_ylim(0, top * 1.08)
    ax.set_xlabel("operator (execution order)")
    ax.set_ylabel("arena offset (bytes)")
    ax.set_title(f"{report.model}: memory plan ({report.placement}; I/O "
                 f"{'in the arena' if report.io_in_arena else 'outside'})", fontsize=10)
    if steps <= 40:
        ax.set_xticks([s + 0.5 for s in range(steps)])
        ax.set_xticklabels([l.op for l in report.layers], rotation=90, fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def html(report) -> str:
    e = html_mod.escape
    picture = base64.b64encode(png(report)).decode()
    rows = "".join(
        f"<tr><td>{k}</td><td>{e(l.name)}</td><td>{e(l.op)}</td>"
        f"<td>{e(' '.join('x'.join(map(str, s)) for s in l.outputs))}</td><td>{l.params:,}</td>"
        f"<td>{l.macs:,}</td><td>{l.activation_bytes:,}</td><td>{l.scratch_bytes:,}</td>"
        f"<td>{e(l.quant)}</td></tr>" for k, l in enumerate(report.layers))
    totals = report.table().split("\n\n", 1)[-1]
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>smelt report: {e(report.model)}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}
td:nth-child(2),td:nth-child(3),td:nth-child(4){{text-align:left}}</style>
</head><body>
<h1>{e(report.model)}</h1>
<pre>{e(totals)}</pre>
<h2>Memory plan</h2>
<img alt="memory timeline" src="data:image/png;base64,{picture}">
<h2>Layers</h2>
<table><tr><th>#</th><th>layer</th><th>op</th><th>output shape</th><th>params</th><th>MACs</th>
<th>act bytes</th><th>scratch</th><th>quantization</th></tr>
{rows}
</table></body></html>
"""
