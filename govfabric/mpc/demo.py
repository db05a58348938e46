"""``govfabric mpc demo``: joint average registered capital per district across three departments.

Market regulation, tax and social security each keep an enterprise table in their own
DuckDB file (generated here until the shared demo workspace provides them; any
``DataReader`` can be swapped in). Three provider processes, a requester, a scheduler, a
compute party and a monitor run on loopback; every step a–h is printed, then the result is
compared with the plaintext computation and the report is verified.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from govfabric.mpc import compute, report
from govfabric.mpc.cluster import Cluster, standard_cluster
from govfabric.mpc.spec import TaskSpec

DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区"]
DEPARTMENTS = {
    "market": ("market.enterprises", "reg_capital_wan"),
    "tax": ("tax.taxpayers", "registered_capital"),
    "social": ("social.employers", "capital_10k_cny"),
}


def _uscc(rng: np.random.Generator) -> str:
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    return "91110" + "".join(rng.choice(list(chars), 13))


def make_data(folder: Path, rows: int = 3000, seed: int = 7) -> dict[str, Path]:
    """One DuckDB file per department: enterprise id, district, registered capital in 万元."""
    import duckdb

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, (dept, (asset, col)) in enumerate(DEPARTMENTS.items()):
        n = rows + 400 * i
        schema, table = asset.split(".")
        capital = np.round(rng.lognormal(mean=5.5 + 0.2 * i, sigma=1.2, size=n), 2)
        tab = pa.table(
            {
                "uscc": [_uscc(rng) for _ in range(n)],
                "district": rng.choice(DISTRICTS, size=n, p=[0.12, 0.13, 0.25, 0.25, 0.15, 0.10]),
                col: capital,
                "employees": rng.integers(1, 500, size=n),
            }
        )
        path = folder / f"{dept}_system.duckdb"
        path.unlink(missing_ok=True)
        with duckdb.connect(str(path)) as con:
            con.execute(f'CREATE SCHEMA "{schema}"')
            con.register("src", tab)
            con.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM src')  # noqa: S608 (fixed names)
        out[dept] = path
    return out


def demo_spec() -> TaskSpec:
    return TaskSpec(
        title="Joint average registered capital per district",
        purpose="district economic profile for the municipal development plan",
        sources=[{"party": d, "asset": a, "value": c, "group": "district"} for d, (a, c) in DEPARTMENTS.items()],
        computation={"kind": "mean", "groups": DISTRICTS},
    )


def run(
    root: Path,
    echo: Callable[[str], None] = print,
    readers: dict[str, str] | None = None,
    alg: str = "ed25519",
) -> dict[str, Any]:
    root = Path(root)
    if readers is None:
        paths = make_data(root / "data")
        readers = {d: f"duckdb:{p}" for d, p in paths.items()}
        echo(f"generated department data in {root / 'data'}")
    cluster = standard_cluster(root / "parties", dict(readers), alg=alg)
    with cluster:
        echo("started parties: " + ", ".join(f"{m.id} ({m.role}) :{m.port}" for m in cluster.members.values()))
        return _flow(cluster, echo)


def _flow(cluster: Cluster, echo: Callable[[str], None]) -> dict[str, Any]:
    spec = demo_spec()
    requester, scheduler = cluster.handle("requester"), cluster.handle("scheduler")
    task_id = requester.create_task(spec)
    echo(f"a. requester signed task {task_id} ({spec.computation.kind} per district) → scheduler")
    for src in spec.sources:
        seen = cluster.handle(src.party).pending()[-1]
        echo(
            f"b. {src.party} reviews: reads {seen['asset']} columns {seen['columns']}; "
            f"computation {seen['computation']['kind']}; requester learns {seen['requester_learns']}"
        )
        cluster.handle(src.party).review(task_id, "approve")
        echo(f"   {src.party} approved (signed)")
    st = scheduler.wait(task_id)
    if st["status"] != "done":
        raise RuntimeError(f"task ended {st['status']}: {st['error']}")
    cluster.handle("market").open_description(task_id, ["monitor"])
    for entry in st["log"]:
        if entry["step"][:2] in ("c_", "d_", "e_", "f_", "g_"):
            echo(
                f"{report.STEP_TITLES.get(entry['step'], entry['step'])} — by {entry['actor']} "
                f"[{(entry['digest'] or '')[:23]}…]"
            )
    echo("e. market opened its description to the monitor")
    result = requester.result(task_id)
    raw = scheduler.report(task_id)
    (cluster.root / "report.json").write_bytes(raw)
    (cluster.root / "report.html").write_bytes(scheduler.report(task_id, "html"))
    summary = report.verify(raw)
    echo(f"h. report: {cluster.root / 'report.json'} (+ .html) — verified, {summary['signatures']} signatures")
    tables = {s.party: _read(cluster, s.party, spec) for s in spec.sources}
    expected = compute.plaintext(spec, tables)
    worst = 0.0
    echo("\n  district      enterprises   mean registered capital (万元)")
    for got, want in zip(result["rows"], expected["rows"], strict=True):
        rel = abs(got["mean"] - want["mean"]) / abs(want["mean"])
        worst = max(worst, rel)
        echo(f"  {got['group']:<10} {got['count']:>10}   {got['mean']:>14.2f}")
    echo(f"\n  largest relative error against the plaintext computation: {worst:.2e}")
    return {
        "task_id": task_id,
        "result": result,
        "max_rel_error": worst,
        "report": str(cluster.root / "report.json"),
    }


def _read(cluster: Cluster, party: str, spec: TaskSpec) -> pa.Table:
    from govfabric.mpc.data import make_reader

    data = cluster.members[party].data
    src = spec.source(party)
    return make_reader(data or "").read(src.asset, src.columns(), src.where)


if __name__ == "__main__":  # pragma: no cover
    import sys
    import tempfile

    print(json.dumps(run(Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()))["result"], ensure_ascii=False))
