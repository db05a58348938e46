"""The closed set of computations, in four parts per kind.

``encode``   (provider, plaintext → named streams of numbers, then encrypted in chunks)
``expected`` (monitor, which streams and how many chunks each provider may send)
``evaluate`` (compute party, ciphertext only)
``finalize`` (requester, decrypted outputs → result rows)
plus ``plaintext`` — the same result computed in the clear, for tests and benchmarks.

Row values travel encrypted one per slot; the compute party adds the chunks slot-wise and
folds the slots with a rotation sum, so the requester only ever decrypts totals. Counts and
histograms are per-provider integer vectors (one slot per group or bucket) added under BFV.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from govfabric.errors import MPCError, ValidationFailed
from govfabric.mpc import he
from govfabric.mpc.spec import PSI_KINDS, TaskSpec

ROTATING = {"sum", "mean", "variance", "weighted_sum", "psi_sum"}


@dataclass(frozen=True)
class Plan:
    scheme: str  # ckks | bfv
    galois: bool  # the compute party needs rotation keys


def plan(spec: TaskSpec) -> Plan:
    kind = spec.computation.kind
    scheme = (
        "bfv"
        if kind in ("count", "histogram", "psi_cardinality", "psi_membership")
        else ("bfv" if spec.computation.dtype == "int" else "ckks")
    )
    return Plan(scheme, kind in ROTATING)


def psi_client(spec: TaskSpec) -> str:
    """The provider that learns PSI matches (the openmined.psi client): the second source."""
    return spec.sources[1].party


# ---------------------------------------------------------------- provider side


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def _values(spec: TaskSpec, arr: np.ndarray) -> np.ndarray:
    if spec.computation.dtype == "int" or plan(spec).scheme == "bfv":
        as_float = arr.astype(np.float64)
        if not np.all(np.equal(np.mod(as_float, 1), 0)):
            raise ValidationFailed("an integer (BFV) computation got non-integer values; declare dtype 'real'")
        return arr.astype(np.int64)
    return arr.astype(np.float64) / spec.computation.unit


def _group_index(spec: TaskSpec, table: pa.Table, party: str) -> np.ndarray:
    src = spec.source(party)
    if not spec.grouped:
        return np.zeros(table.num_rows, dtype=np.int64)
    pos = {g: i for i, g in enumerate(spec.group_keys)}
    keys = _column(table, src.group or "")
    return np.array([pos.get(str(k), -1) for k in keys], dtype=np.int64)


def _valid_rows(table: pa.Table, cols: Sequence[str]) -> pa.Table:
    mask = None
    for c in cols:
        valid = table.column(c).is_valid()
        mask = valid if mask is None else pa.compute.and_(mask, valid)
    return table if mask is None else table.filter(mask)


def encode(spec: TaskSpec, party: str, table: pa.Table, psi_hits: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Plaintext streams this provider encrypts (never leaves the provider unencrypted)."""
    import pyarrow.compute  # noqa: F401  (registers pa.compute)

    c, src, kind = spec.computation, spec.source(party), spec.computation.kind
    g_count = len(spec.group_keys)
    if kind in PSI_KINDS:
        if party != psi_client(spec):
            return {}
        if psi_hits is None:
            raise MPCError("the PSI client encodes after the intersection step; psi result missing")
        if kind == "psi_cardinality":
            return {"n": np.array([int(psi_hits.sum())], dtype=np.int64)}
        if kind == "psi_membership":
            keys = [str(k) for k in _column(table, src.key or "")]
            hit = {k for k, h in zip(keys, psi_hits, strict=True) if h}
            return {"m": np.array([1 if e in hit else 0 for e in c.entities or []], dtype=np.int64)}
        vals = _values(spec, np.nan_to_num(_column(table, src.value or "").astype(np.float64)))
        return {"x/0": vals[psi_hits.astype(bool)], "n": np.array([int(psi_hits.sum())], dtype=np.int64)}
    if kind == "linear_score":
        keys = [str(k) for k in _column(table, src.key or "")]
        if len(set(keys)) != len(keys):
            raise ValidationFailed(f"{party}: key column {src.key} has duplicates; scoring needs one row per entity")
        pos = {k: i for i, k in enumerate(keys)}
        out = {}
        for feat, col in src.features.items():
            vals = _values(spec, np.nan_to_num(_column(table, col).astype(np.float64)) * c.unit)
            out[f"f/{feat}"] = np.array(
                [vals[pos[e]] if e in pos else 0 for e in c.entities or []],
                dtype=vals.dtype,
            )
        return out
    used = [x for x in (src.value, src.group, *src.features.values()) if x]
    table = _valid_rows(table, used)
    gidx = _group_index(spec, table, party)
    keep = gidx >= 0
    gidx = gidx[keep]
    counts = np.bincount(gidx, minlength=g_count).astype(np.int64)
    if kind == "count":
        return {"n": counts}
    if kind == "histogram":
        edges = np.asarray(c.buckets, dtype=np.float64)
        vals = _column(table, src.value or "").astype(np.float64)[keep]
        b = np.searchsorted(edges, vals, side="right") - 1
        inside = (b >= 0) & (b < len(edges) - 1)
        flat = gidx[inside] * (len(edges) - 1) + b[inside]
        return {"h": np.bincount(flat, minlength=g_count * (len(edges) - 1)).astype(np.int64)}
    out: dict[str, np.ndarray] = {"n": counts}
    order = np.argsort(gidx, kind="stable")
    bounds = np.searchsorted(gidx[order], np.arange(g_count + 1))
    cols = {f"/{f}": col for f, col in src.features.items()} if kind == "weighted_sum" else {"": src.value or ""}
    for suffix, col in cols.items():
        vals = _values(spec, _column(table, col))[keep][order]
        for g in range(g_count):
            part = vals[bounds[g] : bounds[g + 1]]
            if len(part):
                out[f"x/{g}{suffix}"] = part
    return out


def encrypt_streams(ctx: Any, scheme: str, streams: dict[str, np.ndarray]) -> dict[str, list[bytes]]:
    return {name: he.encrypt_chunks(ctx, scheme, vals) for name, vals in streams.items()}


# ---------------------------------------------------------------- monitor side


def expected(spec: TaskSpec, party: str) -> dict[str, tuple[int, int]]:
    """Stream name pattern → (min, max) chunk count a provider may send; ``x/*`` is data-sized."""
    kind, n = spec.computation.kind, he.slots(plan(spec).scheme)
    g_count = len(spec.group_keys)
    fixed = lambda length: (math.ceil(length / n), math.ceil(length / n))  # noqa: E731
    if kind in PSI_KINDS:
        if party != psi_client(spec):
            return {}
        if kind == "psi_membership":
            return {"m": fixed(len(spec.computation.entities or []))}
        return {"n": fixed(1), **({"x/*": (0, 10**9)} if kind == "psi_sum" else {})}
    if kind == "linear_score":
        k = len(spec.computation.entities or [])
        return {f"f/{f}": fixed(k) for f in spec.source(party).features}
    if kind == "count":
        return {"n": fixed(g_count)}
    if kind == "histogram":
        return {"h": fixed(g_count * (len(spec.computation.buckets or []) - 1))}
    return {"n": fixed(g_count), "x/*": (0, 10**9)}


def check_shapes(spec: TaskSpec, party: str, manifest: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Problems with a provider's ciphertext manifest (names, chunk counts, sizes)."""
    exp, problems = expected(spec, party), []
    lo_size, hi_size = he.CT_SIZE_BOUNDS[plan(spec).scheme]
    g_count = len(spec.group_keys)
    for name, entries in manifest.items():
        if name.startswith("x/"):
            parts = name.split("/")
            ok = "x/*" in exp and parts[1].isdigit() and int(parts[1]) < g_count
            if spec.computation.kind == "weighted_sum":
                ok = ok and len(parts) == 3 and parts[2] in (spec.computation.weights or {})
            else:
                ok = ok and len(parts) == 2
            if not ok:
                problems.append(f"{party}: unexpected stream {name}")
                continue
        elif name not in exp:
            problems.append(f"{party}: unexpected stream {name}")
            continue
        else:
            lo, hi = exp[name]
            if not lo <= len(entries) <= hi:
                problems.append(f"{party}: stream {name} has {len(entries)} ciphertexts, expected {lo}..{hi}")
        for i, e in enumerate(entries):
            if not lo_size <= int(e.get("size", 0)) <= hi_size:
                problems.append(f"{party}: {name}[{i}] is {e.get('size')} bytes, outside a ciphertext's size")
    missing = [k for k in exp if k != "x/*" and k not in manifest]
    problems += [f"{party}: missing stream {k}" for k in missing]
    return problems


# ---------------------------------------------------------------- compute side


def _add_all(vectors: list[Any]) -> Any:
    acc = vectors[0]
    for v in vectors[1:]:
        acc = acc + v
    return acc


def evaluate(spec: TaskSpec, ctx: Any, inputs: dict[str, dict[str, list[bytes]]]) -> dict[str, list[bytes]]:
    """Ciphertext in, ciphertext out. ``ctx`` is public: there is no key here to decrypt with."""
    scheme, kind, c = plan(spec).scheme, spec.computation.kind, spec.computation
    if scheme == "ckks":
        # Keep the exact scale (2^80) after a product instead of TenSEAL's rescale-and-relabel,
        # which would bias every product by (2^40/q - 1) ≈ 1.3e-7.
        ctx.auto_rescale = False
    load = lambda b: he.load_vector(ctx, scheme, b)  # noqa: E731
    streams: dict[str, list[list[Any]]] = {}
    for per_party in inputs.values():
        for name, blobs in per_party.items():
            streams.setdefault(name, []).append([load(b) for b in blobs])
    out: dict[str, list[bytes]] = {}

    def chunkwise(name: str) -> list[Any]:
        parts = streams[name]
        return [_add_all([p[i] for p in parts]) for i in range(len(parts[0]))]

    for name in ("n", "h", "m"):
        if name in streams:
            out[name] = [v.serialize() for v in chunkwise(name)]
    if kind == "linear_score":
        feats = [f for f in (c.weights or {}) if f"f/{f}" in streams]
        if not feats:
            raise MPCError("no provider supplied any scoring feature")
        n_chunks = len(streams[f"f/{feats[0]}"][0])
        scores = []
        for i in range(n_chunks):
            terms = [_add_all([p[i] for p in streams[f"f/{f}"]]) * _weight(scheme, c.weights[f]) for f in feats]
            acc = _add_all(terms)
            acc = acc + _constant(ctx, scheme, c.intercept, acc)
            scores.append(acc.serialize())
        out["score"] = scores
        return out
    for g in range(len(spec.group_keys)):
        if kind == "weighted_sum":
            terms = []
            for f, w in (c.weights or {}).items():
                name = f"x/{g}/{f}"
                if name in streams:
                    terms.append(_add_all([v for p in streams[name] for v in p]) * _weight(scheme, w))
            if terms:
                out[f"s1/{g}"] = [_add_all(terms).sum().serialize()]
            continue
        name = f"x/{g}"
        if name not in streams:
            continue
        flat = [v for p in streams[name] for v in p]
        if kind in ("sum", "mean", "variance", "psi_sum"):
            out[f"s1/{g}"] = [_add_all(flat).sum().serialize()]
        if kind == "variance":
            out[f"s2/{g}"] = [_add_all([v * v for v in flat]).sum().serialize()]
    return out


def _constant(ctx: Any, scheme: str, value: float, like: Any) -> Any:
    """A public constant at the same scale as ``like`` (CKKS) or as plain integers (BFV)."""
    n = he.slots(scheme)
    if scheme == "bfv":
        return [int(value)] * n
    import tenseal as ts

    return ts.ckks_vector(ctx, [float(value)] * n, scale=2.0**80)  # fresh 2^40 × public weight 2^40


def _weight(scheme: str, w: float) -> float | int:
    return int(w) if scheme == "bfv" else float(w)


# ---------------------------------------------------------------- requester side


def finalize(spec: TaskSpec, outputs: dict[str, np.ndarray]) -> dict[str, Any]:
    """Result rows from the decrypted outputs (numbers only; no per-provider figure exists)."""
    c, kind, scheme = spec.computation, spec.computation.kind, plan(spec).scheme
    exact = scheme == "bfv"
    num = (lambda v: int(round(float(v)))) if exact else (lambda v: float(v) * c.unit)
    unit = 1.0 if exact else c.unit
    groups = spec.group_keys
    rows: list[dict[str, Any]] = []
    if kind == "psi_cardinality":
        rows = [{"cardinality": int(outputs["n"][0])}]
    elif kind == "psi_membership":
        rows = [{"entity": e, "member": bool(outputs["m"][i])} for i, e in enumerate(c.entities or [])]
    elif kind == "psi_sum":
        s = outputs.get("s1/0")
        rows = [{"count": int(outputs["n"][0]), "sum": num(s[0]) if s is not None else 0}]
    elif kind == "linear_score":
        rows = [{"entity": e, "score": num(outputs["score"][i]) / unit} for i, e in enumerate(c.entities or [])]
    elif kind == "histogram":
        edges = c.buckets or []
        nb = len(edges) - 1
        for gi, g in enumerate(groups):
            for b in range(nb):
                rows.append(
                    {
                        "group": g,
                        "bucket": f"[{edges[b]:g}, {edges[b + 1]:g})",
                        "count": int(outputs["h"][gi * nb + b]),
                    }
                )
    else:
        for gi, g in enumerate(groups):
            n = int(round(float(outputs["n"][gi])))
            row: dict[str, Any] = {"group": g, "count": n}
            s1 = outputs.get(f"s1/{gi}")
            total = num(s1[0]) if s1 is not None else 0
            if kind == "sum":
                row["sum"] = total
            elif kind == "weighted_sum":
                row["weighted_sum"] = total
            elif kind in ("mean", "variance"):
                row["mean"] = total / n if n else None
                if kind == "variance":
                    s2 = outputs.get(f"s2/{gi}")
                    sq = (float(s2[0]) * unit * unit) if s2 is not None else 0.0
                    row["variance"] = (sq / n - (total / n) ** 2) if n else None
            rows.append(row)
    return {"kind": kind, "rows": rows}


# ---------------------------------------------------------------- reference


def plaintext(spec: TaskSpec, tables: dict[str, pa.Table]) -> dict[str, Any]:
    """The same result computed in the clear (what accuracy is measured against)."""
    kind, c = spec.computation.kind, spec.computation
    if kind in PSI_KINDS:
        a, b = spec.sources
        keys_a = {str(k) for k in _column(tables[a.party], a.key or "")}
        keys_b = [str(k) for k in _column(tables[b.party], b.key or "")]
        hits = np.array([k in keys_a for k in keys_b])
        outputs: dict[str, np.ndarray] = {"n": np.array([hits.sum()])}
        if kind == "psi_membership":
            inter = {k for k, h in zip(keys_b, hits, strict=True) if h}
            outputs["m"] = np.array([e in inter for e in c.entities or []])
        if kind == "psi_sum":
            vals = np.nan_to_num(_column(tables[b.party], b.value or "").astype(np.float64))
            outputs["s1/0"] = np.array([vals[hits].sum() / (1.0 if plan(spec).scheme == "bfv" else c.unit)])
        return finalize(spec, outputs)
    streams = [encode(spec, p, t) for p, t in tables.items()]
    merged: dict[str, np.ndarray] = {}
    for s in streams:
        for name, vals in s.items():
            v = vals.astype(np.float64)
            if name.startswith(("f/", "n", "h", "m")):
                merged[name] = merged.get(name, 0) + v
            else:
                merged[name] = np.concatenate([merged[name], v]) if name in merged else v
    outputs = {k: v for k, v in merged.items() if not k.startswith("x/")}
    if kind == "linear_score":
        total = sum(merged.get(f"f/{f}", 0) * w for f, w in (c.weights or {}).items()) + c.intercept
        outputs = {"score": np.asarray(total)}
    for g in range(len(spec.group_keys)):
        if kind == "weighted_sum":
            terms = [merged[f"x/{g}/{f}"].sum() * w for f, w in (c.weights or {}).items() if f"x/{g}/{f}" in merged]
            if terms:
                outputs[f"s1/{g}"] = np.array([sum(terms)])
        elif f"x/{g}" in merged:
            outputs[f"s1/{g}"] = np.array([merged[f"x/{g}"].sum()])
            outputs[f"s2/{g}"] = np.array([(merged[f"x/{g}"] ** 2).sum()])
    return finalize(spec, outputs)
