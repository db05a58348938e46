"""Lineage as Graphviz DOT and as a self-contained HTML page with an SVG graph.

The SVG is laid out here (no Graphviz needed): datasets in columns by their depth from
the root (upstream to the left, downstream to the right), edges as curves.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

KIND_COLOURS = {"catalog": "#e8f1fb", "virtual": "#eaf7ea", "query": "#fdf3e1", "source": "#f3eefa",
                "file": "#f3eefa", "root": "#ffe3e3"}


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]]) -> str:
    """``nodes``: dataset → {kind, label, columns…}; ``edges``: src/dst/kind dicts (dataset level)."""
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontname="sans"];']
    for name, n in sorted(nodes.items()):
        label = n.get("label") or name
        cols = n.get("columns") or []
        if cols and cols != ["*"]:
            label += "\\n" + ", ".join(cols[:8]) + (" …" if len(cols) > 8 else "")
        lines.append(f"  {_q(name)} [label={_q(label)}, fillcolor={_q(KIND_COLOURS.get(n.get('kind', ''), '#fff'))}];")
    seen = set()
    for e in edges:
        key = (e["src"], e["dst"], e["kind"])
        if key in seen or e["src"] == e["dst"] and e["kind"] == "DATASET":
            continue
        seen.add(key)
        style = "dashed" if e["kind"] == "INDIRECT" else "solid"
        lines.append(f"  {_q(e['src'])} -> {_q(e['dst'])} [style={style}, label={_q(e['kind'].lower())}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _layers(nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, int]:
    """Longest-path layering over the acyclic part (back edges of cycles ignored)."""
    out: dict[str, list[str]] = defaultdict(list)
    indeg: dict[str, int] = dict.fromkeys(nodes, 0)
    pairs = {(e["src"], e["dst"]) for e in edges if e["src"] in nodes and e["dst"] in nodes and e["src"] != e["dst"]}
    for s, d in pairs:
        out[s].append(d)
        indeg[d] += 1
    layer = dict.fromkeys(nodes, 0)
    ready = [n for n, k in indeg.items() if k == 0]
    done: set[str] = set()
    while True:
        while ready:
            n = ready.pop()
            done.add(n)
            for d in out[n]:
                layer[d] = max(layer[d], layer[n] + 1)
                indeg[d] -= 1
                if indeg[d] == 0:
                    ready.append(d)
        rest = [n for n in nodes if n not in done]
        if not rest:
            return layer
        ready = [min(rest, key=lambda n: indeg[n])]  # break a cycle
        indeg[ready[0]] = 0


def to_svg(nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]]) -> str:
    layer = _layers(nodes, edges)
    cols: dict[int, list[str]] = defaultdict(list)
    for n in sorted(nodes):
        cols[layer[n]].append(n)
    w, h, gx, gy = 260, 54, 90, 22
    pos: dict[str, tuple[int, int]] = {}
    for li, names in cols.items():
        for i, n in enumerate(names):
            pos[n] = (20 + li * (w + gx), 20 + i * (h + gy))
    width = 40 + (max(cols) + 1 if cols else 1) * (w + gx)
    height = 40 + max((len(v) for v in cols.values()), default=1) * (h + gy)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>']
    seen = set()
    for e in edges:
        key = (e["src"], e["dst"], e["kind"] == "INDIRECT")
        if key in seen or e["src"] not in pos or e["dst"] not in pos or e["src"] == e["dst"]:
            continue
        seen.add(key)
        (x1, y1), (x2, y2) = pos[e["src"]], pos[e["dst"]]
        sx, sy, tx, ty = x1 + w, y1 + h / 2, x2, y2 + h / 2
        if tx <= sx:  # a back edge (cycle): loop below
            d = f"M{sx},{sy} C{sx + 60},{sy + 90} {tx - 60},{ty + 90} {tx},{ty}"
        else:
            d = f"M{sx},{sy} C{(sx + tx) / 2},{sy} {(sx + tx) / 2},{ty} {tx},{ty}"
        dash = ' stroke-dasharray="5,4"' if e["kind"] == "INDIRECT" else ""
        parts.append(f'<path d="{d}" fill="none" stroke="#555"{dash} marker-end="url(#arrow)">'
                     f'<title>{html.escape(e["src"])} → {html.escape(e["dst"])} ({e["kind"]})</title></path>')
    for n, (x, y) in pos.items():
        info = nodes[n]
        fill = KIND_COLOURS.get(info.get("kind", ""), "#fff")
        label = info.get("label") or n
        sub = ", ".join(c for c in info.get("columns") or [] if c != "*")
        tip = html.escape(json.dumps(info, ensure_ascii=False, default=str))
        parts.append(f'<g class="node"><title>{tip}</title>'
                     f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="8" fill="{fill}" stroke="#333"/>'
                     f'<text x="{x + 8}" y="{y + 20}" font-weight="bold">{html.escape(label[:38])}</text>'
                     f'<text x="{x + 8}" y="{y + 40}" fill="#444">{html.escape(sub[:40])}</text></g>')
    parts.append("</svg>")
    return "\n".join(parts)


def to_html(title: str, nodes: dict[str, dict[str, Any]], edges: list[dict[str, Any]],
            details: dict[str, Any] | None = None) -> str:
    """One file, no scripts or external resources: the SVG graph, a legend and the node table."""
    rows = "\n".join(
        f"<tr><td>{html.escape(n)}</td><td>{html.escape(str(i.get('kind', '')))}</td>"
        f"<td>{html.escape(', '.join(i.get('owners') or []))}</td>"
        f"<td>{html.escape(', '.join(i.get('consumers') or []))}</td>"
        f"<td>{html.escape(', '.join(i.get('columns') or []))}</td></tr>" for n, i in sorted(nodes.items()))
    legend = " ".join(f'<span style="background:{c};padding:2px 6px;border:1px solid #999">{k}</span>'
                      for k, c in KIND_COLOURS.items())
    extra = (f"<h2>Details</h2><pre>{html.escape(json.dumps(details, ensure_ascii=False, indent=2, default=str))}"
             "</pre>") if details else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:20px}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}} .graph{{overflow:auto;border:1px solid #ddd}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>Generated by govfabric at {datetime.now(UTC).isoformat(timespec="seconds")}.
Solid edges: data flows (DIRECT); dashed: INDIRECT influence (joins, filters, grouping).</p>
<p>{legend}</p>
<div class="graph">{to_svg(nodes, edges)}</div>
<h2>Datasets</h2>
<table><tr><th>dataset</th><th>kind</th><th>owners</th><th>consumers</th><th>columns</th></tr>
{rows}</table>
{extra}
</body></html>
"""
