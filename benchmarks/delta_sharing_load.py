"""Delta Sharing ``load_as_pandas`` (issue 12, report): the official client (``delta-sharing``
1.4.2, in its own venv) reading N rows from a real ``govfabric serve``, against pandas reading the
same rows from a local Parquet file.

Setup (not timed): a DuckDB file with ``enterprise`` (uscc, name, district, capital, founded,
updated) of N rows, registered, mapped as ``market.enterprise``, granted to ``analyst1`` and shared
as ``bench.market.enterprise``; a recipient acting as ``analyst1``; the anchor Parquet file written
by DuckDB ``COPY``. Both loads run in the client venv (same pandas and pyarrow).

Measured: ``cold`` — the first ``load_as_pandas`` (govfabric materialises the recipient's file through
the guarded read path, then the client fetches it by its signed URL); ``warm`` — the next one (the
cached file); ``anchor`` — ``pandas.read_parquet`` of the local file. Ratios are warm/anchor and
cold/anchor.

    python benchmarks/delta_sharing_load.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import enterprise_workspace, write_results

HERE = Path(__file__).parent
ROOT = HERE.parent
VENV = ROOT / ".cache" / "delta-sharing-venv"

CLIENT = """
import json, sys, time
import delta_sharing, pandas as pd
profile, anchor = sys.argv[1], sys.argv[2]
out = {}
for label in ("cold", "warm"):
    t0 = time.perf_counter()
    df = delta_sharing.load_as_pandas(profile + "#bench.market.enterprise")
    out[label] = time.perf_counter() - t0
    out["rows"] = len(df)
t0 = time.perf_counter()
local = pd.read_parquet(anchor)
out["anchor"] = time.perf_counter() - t0
out["anchor_rows"] = len(local)
print(json.dumps(out))
"""


def ensure_client() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "delta-sharing==1.4.2"], check=True)
    return py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(tmp: Path, rows: int, endpoint: str) -> tuple[Path, Path, Path]:
    import duckdb


    data = tmp / "data.duckdb"
    con = duckdb.connect(str(data))
    con.execute(f"""CREATE TABLE enterprise AS SELECT
        '913501' || lpad(i::VARCHAR, 11, '0') || 'X' AS uscc, '企业' || i AS name,
        (350100 + i % 13)::VARCHAR AS district, ((i % 100000) * 10.5)::DECIMAL(18, 2) AS capital,
        DATE '2000-01-01' + (i % 9000)::INTEGER AS founded,
        TIMESTAMP '2024-01-01' + to_seconds(i % 86400) AS updated
        FROM range({int(rows)}) t(i)""")  # noqa: S608 (a number)
    anchor = tmp / "anchor.parquet"
    con.execute(f"COPY enterprise TO '{anchor}' (FORMAT parquet)")
    con.close()
    home = tmp / "ws"
    fabric, steward = enterprise_workspace(home, data)
    steward.access.grant("analyst1", "market.enterprise", purpose="benchmark")
    steward.delta_sharing.create_share("bench")
    steward.delta_sharing.add_table("bench.market.enterprise", "market.enterprise")
    _, profile = steward.delta_sharing.add_recipient("bench_r", "analyst1", endpoint=endpoint)
    fabric.close()
    return home, profile, anchor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--py-spy", metavar="FILE", help="run the server under `py-spy record -f raw -o FILE`")
    args = parser.parse_args()
    py = ensure_client()
    load_before = [round(x, 2) for x in os.getloadavg()]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as raw:
        tmp = Path(raw)
        home, profile, anchor = setup(tmp, args.rows, f"{url}/delta-sharing")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        log = (tmp / "serve.log").open("w+")
        cmd = [sys.executable, "-m", "govfabric.cli.main", "--home", str(home), "serve", "--port", str(port)]
        if args.py_spy:
            cmd = ["py-spy", "record", "-f", "raw", "-r", "200", "-o", args.py_spy, "--", *cmd]
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            import httpx

            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(Path(log.name).read_text())
            done = subprocess.run([py, "-c", CLIENT, str(profile), str(anchor)], capture_output=True, text=True,
                                  check=True, env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"})
        finally:
            proc.send_signal(signal.SIGINT if args.py_spy else signal.SIGTERM)  # py-spy writes on SIGINT
            proc.wait(timeout=30)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["rows"] == got["anchor_rows"] == args.rows, got
    got |= {"rows_requested": args.rows, "warm_ratio": round(got["warm"] / got["anchor"], 1),
            "cold_ratio": round(got["cold"] / got["anchor"], 1), "load_avg_before": load_before,
            "load_avg_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    print(json.dumps(got, indent=2))
    write_results("delta_sharing_load", got)


if __name__ == "__main__":
    main()
