"""The eight steps across real party processes on loopback: accuracy, report, and refusals.

One set of seven services (requester, scheduler, compute, monitor, three providers) is
started for the module. The compute party is reached only through a recording TCP proxy,
so its HTTP traffic can be scanned for provider plaintext.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from govfabric.errors import AccessDenied, GovfabricError, IntegrityError, SignatureInvalid
from govfabric.mpc import compute, report
from govfabric.mpc.cluster import Cluster, standard_cluster
from govfabric.mpc.data import DuckDBReader
from govfabric.mpc.envelope import envelope_digest, seal
from govfabric.mpc.party import http_call
from govfabric.mpc.signing import KeyPair
from govfabric.mpc.spec import TaskSpec

PROVIDERS = ("p1", "p2", "p3")
GROUPS = ["north", "south", "east"]


class Recorder:
    """A TCP proxy that forwards to the compute party and keeps every byte in both directions."""

    def __init__(self, target_port: int, path: Path) -> None:
        self.target_port, self.path, self.port = target_port, path, 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        sink = self.path.open("ab")

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(1 << 16):
                    sink.write(data)
                    writer.write(data)
                    await writer.drain()
            finally:
                writer.close()

        async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
            sr, sw = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(pipe(cr, sw), pipe(sr, cw), return_exceptions=True)

        async def main() -> None:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)  # the kernel's port: no race
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            async with server:
                await server.serve_forever()

        self.loop.run_until_complete(main())


def _write_db(path: Path, table: pa.Table) -> None:
    with duckdb.connect(str(path)) as con:
        con.register("src", table)
        con.execute("CREATE SCHEMA dept; CREATE TABLE dept.records AS SELECT * FROM src")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("mpc")
    rng = np.random.default_rng(11)
    tables = {}
    for i, p in enumerate(PROVIDERS):
        n = 2500 + 1000 * i
        ids = [f"91110108{j:010d}" for j in range(i * 1500, i * 1500 + n)]  # overlapping ranges for PSI
        tables[p] = pa.table(
            {
                "uscc": ids,
                "region": rng.choice(GROUPS, n),
                # distinctive values (many digits) so a leak of any of them is findable
                "capital": np.round(rng.uniform(1000, 90000, n), 6) + 0.123457,
                "staff": rng.integers(100_000, 900_000, n),
            }
        )
        _write_db(root / f"{p}.duckdb", tables[p])
    cluster = standard_cluster(root / "parties", {p: f"duckdb:{root / f'{p}.duckdb'}" for p in PROVIDERS})
    cluster.start()
    recorder = Recorder(cluster.members["compute"].port, root / "compute_traffic.bin")
    cluster.url_overrides["compute"] = f"http://127.0.0.1:{recorder.port}"
    cluster.write_directory()
    try:
        yield {"cluster": cluster, "tables": tables, "root": root}
    finally:
        cluster.stop()


def _run(cluster: Cluster, spec: TaskSpec, decisions: dict[str, str] | None = None) -> tuple[str, dict]:
    task_id = cluster.handle("requester").create_task(spec)
    for src in spec.sources:
        seen = [t for t in cluster.handle(src.party).pending() if t["task_id"] == task_id][0]
        assert seen["columns"] == src.columns() and seen["computation"]["kind"] == spec.computation.kind
        decision = (decisions or {}).get(src.party, "approve")
        cluster.handle(src.party).review(task_id, decision)
        if decision == "reject":
            break
    st = cluster.handle("scheduler").wait(task_id, timeout=180)
    t = [e["time"] for e in st["log"]]
    print(spec.computation.kind, [(e["step"], round(e["time"] - t[0], 2)) for e in st["log"]])
    return task_id, st


def _spec(kind: str, **computation: object) -> TaskSpec:
    return TaskSpec(
        title=f"test {kind}",
        sources=[{"party": p, "asset": "dept.records", "value": "capital", "group": "region"} for p in PROVIDERS],
        computation={"kind": kind, "groups": GROUPS, **computation},
    )


def test_grouped_variance_end_to_end_report_and_no_plaintext_at_compute(world: dict) -> None:
    cluster, tables = world["cluster"], world["tables"]
    spec = _spec("variance", unit=1000.0)
    task_id, st = _run(cluster, spec)
    assert st["status"] == "done", st
    got = cluster.handle("requester").result(task_id)
    want = compute.plaintext(spec, tables)
    for g, w in zip(got["rows"], want["rows"], strict=True):
        assert g["count"] == w["count"]
        for key in ("mean", "variance"):
            assert abs(g[key] - w[key]) <= 1e-6 * abs(w[key])
    steps = [e["step"] for e in st["log"]]
    for needed in (
        "a_task_created",
        "b_review",
        "c_assignment",
        "d_data_submitted",
        "e_data_review",
        "f_computed",
        "g_result_attested",
        "h_report",
    ):
        assert needed in steps

    raw = cluster.handle("scheduler").report(task_id)
    assert report.verify(raw)["task_id"] == task_id
    assert b"<h1>Secure computation report</h1>" in cluster.handle("scheduler").report(task_id, "html")
    rng = np.random.default_rng(0)
    for pos in rng.choice(len(raw), 40, replace=False):  # any altered byte fails
        bad = bytearray(raw)
        bad[pos] = (bad[pos] + 1) % 256
        with pytest.raises((IntegrityError, SignatureInvalid)):
            report.verify(bytes(bad))

    # the compute party's logs, stored artifacts and HTTP traffic hold no provider plaintext
    blobs = [p.read_bytes() for p in (cluster.root / "compute").rglob("*") if p.is_file()]
    blobs.append((world["root"] / "compute_traffic.bin").read_bytes())
    assert sum(map(len, blobs)) > 1_000_000  # the ciphertexts really passed through here
    values = np.concatenate([t.column("capital").to_numpy() for t in tables.values()])
    assert not _leaks(blobs, values, scale=1000.0)
    from govfabric.mpc import he

    ctx = he.load_context((cluster.root / "compute" / "tasks" / task_id / "evaluation.ctx").read_bytes())
    assert ctx.is_public() and not list((cluster.root / "compute").rglob("secret*"))


def _leaks(blobs: list[bytes], values: np.ndarray, scale: float) -> list[str]:
    """Provider values found as decimal text or as float64 bytes (raw or in the task's unit)."""
    texts = {f"{v:.6f}" for v in values} | {repr(float(v)) for v in values}
    wanted = np.unique(np.concatenate([values, values / scale]))
    exponents = (wanted.view("<u8") >> np.uint64(52)) & np.uint64(0x7FF)
    lo, hi = exponents.min(), exponents.max()
    found = []
    for blob in blobs:
        found += [m.decode() for m in re.findall(rb"\d+\.\d{4,}", blob) if m.decode() in texts]
        for offset in range(8):
            usable = max(len(blob) - offset, 0) // 8 * 8
            if not usable:
                continue
            words = np.frombuffer(blob, dtype="<u8", count=usable // 8, offset=offset)
            exp = (words >> np.uint64(52)) & np.uint64(0x7FF)
            candidates = words[(exp >= lo) & (exp <= hi)].view("<f8")
            found += [str(v) for v in candidates[np.isin(candidates, wanted)]]
    return found


def test_leak_scanner_finds_planted_values() -> None:
    values = np.array([12345.678901, 54321.123457])
    assert _leaks([b"xx" + struct.pack("<d", 12.345678901) + b"yy"], values, 1000.0)
    assert _leaks([b'{"v": 54321.123457}'], values, 1000.0)
    assert not _leaks([b"54321.12 nothing here"], values, 1000.0)


@pytest.mark.slow
def test_psi_sum_and_cardinality_are_exact(world: dict) -> None:
    cluster, tables = world["cluster"], world["tables"]
    for kind in ("psi_sum", "psi_cardinality"):
        spec = TaskSpec(
            title=kind,
            sources=[
                {"party": "p1", "asset": "dept.records", "key": "uscc"},
                {"party": "p2", "asset": "dept.records", "key": "uscc", "value": "staff"},
            ],
            computation={"kind": kind, "dtype": "int"},
        )
        task_id, st = _run(cluster, spec)
        assert st["status"] == "done", st
        got = cluster.handle("requester").result(task_id)
        assert got == compute.plaintext(spec, {p: tables[p] for p in ("p1", "p2")})
        assert got["rows"][0].get("count", got["rows"][0].get("cardinality")) == 1000


def test_rejection_stops_the_task_and_unapproved_providers_are_refused(world: dict) -> None:
    cluster = world["cluster"]
    spec = TaskSpec(
        title="count",
        sources=[{"party": p, "asset": "dept.records", "group": "region"} for p in PROVIDERS],
        computation={"kind": "count", "groups": GROUPS},
    )
    task_id, st = _run(cluster, spec, {"p2": "reject"})
    assert st["status"] == "rejected" and "p2 rejected" in st["error"]
    assert not (cluster.root / "compute" / "tasks" / task_id).exists()

    # a scheduler that includes a non-approving provider is refused by every other party
    sched_key = KeyPair.load_or_create(cluster.root / "scheduler" / "key.json")
    task_env = http_call(cluster.url("scheduler") + f"/tasks/{task_id}", method="GET")  # status is public
    assert task_env["status"] == "rejected"
    state = (cluster.root / "scheduler" / "tasks" / task_id / "state.json").read_text()

    st_raw = json.loads(state)
    approvals = [e for e in st_raw["reviews"].values() if e["body"]["decision"] == "approve"]
    forged = seal(
        {
            "task_id": task_id,
            "task_digest": st_raw["task_digest"],
            "task": st_raw["task"],
            "approvals": approvals,
        },
        "assignment",
        "scheduler",
        sched_key,
    )
    with pytest.raises(AccessDenied, match="p2"):
        http_call(cluster.url("compute") + "/assignments", json_body={"envelope": forged})
    with pytest.raises(AccessDenied, match="p2"):
        http_call(cluster.url("p1") + "/assignments", json_body={"envelope": forged})


def test_tampered_task_signature_and_replay_are_refused(world: dict) -> None:
    cluster = world["cluster"]
    key = KeyPair.load_or_create(cluster.root / "requester" / "key.json")
    body = {
        "task_id": "f" * 32,
        "requester": "requester",
        "scheduler": "scheduler",
        "spec": _spec("sum").model_dump(mode="json"),
        "scheme": "ckks",
        "contexts": {},
    }
    env = seal(body, "task", "requester", key)
    tampered = {**env, "body": {**env["body"], "spec": _spec("mean").model_dump(mode="json")}}
    with pytest.raises(SignatureInvalid):
        http_call(cluster.url("scheduler") + "/tasks", json_body={"envelope": tampered})
    bad_sig = {**env, "sig": env["sig"][:-2] + ("00" if env["sig"][-2:] != "00" else "11")}
    with pytest.raises(SignatureInvalid):
        http_call(cluster.url("scheduler") + "/tasks", json_body={"envelope": bad_sig})
    impostor = seal(body, "task", "requester", KeyPair.generate())
    with pytest.raises(SignatureInvalid):
        http_call(cluster.url("scheduler") + "/tasks", json_body={"envelope": impostor})
    # replay: the same signed review sent twice is refused the second time
    task_id, st = _run(
        cluster,
        TaskSpec(
            title="c",
            sources=[{"party": p, "asset": "dept.records"} for p in PROVIDERS],
            computation={"kind": "count"},
        ),
    )
    assert st["status"] == "done", st["error"]
    review = json.loads((cluster.root / "p1" / "tasks" / task_id / "review.json").read_text())
    with pytest.raises(SignatureInvalid, match="replayed"):
        http_call(cluster.url("scheduler") + f"/tasks/{task_id}/reviews", json_body={"envelope": review})
    # a ciphertext altered in transit is refused by the compute party
    bundle = bytearray((cluster.root / "compute" / "tasks" / task_id / "input_p1.bin").read_bytes())
    bundle[-50] ^= 0xFF
    with pytest.raises(SignatureInvalid, match="altered"):
        http_call(cluster.url("compute") + f"/tasks/{task_id}/inputs", content=bytes(bundle))
    assert envelope_digest(review)


def test_crashed_compute_party_leaves_a_stalled_recoverable_task(world: dict) -> None:
    cluster = world["cluster"]
    spec = TaskSpec(
        title="count after crash",
        sources=[{"party": p, "asset": "dept.records", "group": "region"} for p in PROVIDERS],
        computation={"kind": "count", "groups": GROUPS},
    )
    task_id = cluster.handle("requester").create_task(spec)
    for p in PROVIDERS[:2]:
        cluster.handle(p).review(task_id, "approve")
    cluster.kill("compute")
    cluster.handle("p3").review(task_id, "approve")
    st = cluster.handle("scheduler").wait(task_id, timeout=60)
    assert st["status"] == "stalled" and st["step"] == "assign" and "unreachable" in st["error"]
    with pytest.raises(GovfabricError, match="no report"):
        cluster.handle("scheduler").report(task_id)
    cluster.restart("compute")
    cluster.handle("scheduler").resume(task_id)
    st = cluster.handle("scheduler").wait(task_id, timeout=60)
    assert st["status"] == "done"
    got = cluster.handle("requester").result(task_id)
    want = compute.plaintext(spec, world["tables"])
    assert got == want
    raw = cluster.handle("scheduler").report(task_id)
    assert {"stalled", "resumed"} <= {e["step"] for e in json.loads(raw)["report"]["steps"]}
    report.verify(raw)


def test_duckdb_reader_refuses_subqueries(tmp_path: Path) -> None:
    from govfabric.errors import QueryRejected

    path = tmp_path / "x.duckdb"
    _write_db(path, pa.table({"a": [1, 2, 3]}))
    reader = DuckDBReader(path)
    assert reader.read("dept.records", ["a"], "a > 1").num_rows == 2
    with pytest.raises(QueryRejected):
        reader.read("dept.records", ["a"], "a IN (SELECT 1)")


def test_cli_status_and_verify(world: dict, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from govfabric.cli.mpc import app

    cluster = world["cluster"]
    spec = TaskSpec(
        title="cli", sources=[{"party": p, "asset": "dept.records"} for p in PROVIDERS], computation={"kind": "count"}
    )
    task_id, st = _run(cluster, spec)
    assert st["status"] == "done", st["error"]
    runner = CliRunner()
    status = runner.invoke(app, ["task", "status", task_id, "--scheduler", cluster.url("scheduler")])
    assert status.exit_code == 0 and '"status": "done"' in status.output
    out = tmp_path / "report.json"
    saved = runner.invoke(app, ["task", "report", task_id, "--scheduler", cluster.url("scheduler"), "--out", str(out)])
    assert saved.exit_code == 0 and out.with_suffix(".html").exists()
    ok = runner.invoke(app, ["verify", str(out), "--keys", str(cluster.directory_path)])
    assert ok.exit_code == 0 and "report OK" in ok.output
    out.write_bytes(out.read_bytes().replace(b'"decision":"approve"', b'"decision":"approvE"', 1))
    assert runner.invoke(app, ["verify", str(out)]).exit_code != 0
