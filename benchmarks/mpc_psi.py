"""PSI cardinality of two sets: govfabric's bucketed, multi-core PSI vs raw openmined.psi, same run.

Raw: openmined.psi called directly, single-threaded (client request → server setup →
server response → client intersection). govfabric: both sides hash items into buckets with
the task's salt; the client's request and the server's setup run at the same time, and all
buckets run in a process pool with one worker per core. Goal: ≥ 2× faster than raw.

    python benchmarks/mpc_psi.py            # 100k × 100k
    python benchmarks/mpc_psi.py --full     # also 1M × 1M (≈ 5 min raw)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from govfabric.mpc.psi import PSIClient, PSIServer, default_buckets, raw_psi, shutdown_pool

RESULTS = Path(os.environ.get("GOVFABRIC_BENCH_RESULTS") or Path(__file__).parent / "results") / "mpc_psi.json"


def sets(n: int) -> tuple[list[str], list[str]]:
    """Two sets of unified social credit code-like keys; half of each overlaps."""
    a = [f"91110108MA{i:08d}" for i in range(n)]
    b = [f"91110108MA{i:08d}" for i in range(n // 2, n + n // 2)]
    return a, b


def govfabric_psi(server_items: list[str], client_items: list[str]) -> int:
    buckets = default_buckets(len(client_items))
    client = PSIClient(client_items, "task-salt", buckets)
    server = PSIServer(server_items, "task-salt", buckets)
    with ThreadPoolExecutor(2) as both:
        requests_f = both.submit(client.requests)
        setups_f = both.submit(server.setups)
        requests, setups = requests_f.result(), setups_f.result()
    return int(client.hits(setups, server.responses(requests)).sum())


def _cpu() -> float:
    """CPU seconds of this process plus its reaped children (the PSI worker pool)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(n: int) -> dict[str, float]:
    a, b = sets(n)
    load = os.getloadavg()[0]
    c0, t0 = _cpu(), time.perf_counter()
    ours = govfabric_psi(a, b)  # includes starting the worker pool
    shutdown_pool()
    t_ours, cpu_ours = time.perf_counter() - t0, _cpu() - c0
    c1, t1 = _cpu(), time.perf_counter()
    raw = raw_psi(a, b)
    t_raw, cpu_raw = time.perf_counter() - t1, _cpu() - c1
    assert ours == raw == n // 2, (ours, raw)
    cores = os.cpu_count() or 1
    print(
        f"PSI {n:,} × {n:,}: raw openmined.psi {t_raw:7.2f} s | govfabric {t_ours:7.2f} s "
        f"({default_buckets(n)} buckets, {cores} cores) | speed-up {t_raw / t_ours:4.2f}× (goal ≥ 2×)\n"
        f"    CPU seconds: raw {cpu_raw:.1f}, govfabric {cpu_ours:.1f} (all workers); "
        f"load average at start {load:.1f} on {cores} cores"
    )
    return {
        "n": n,
        "raw_s": t_raw,
        "govfabric_s": t_ours,
        "speedup": t_raw / t_ours,
        "raw_cpu_s": cpu_raw,
        "govfabric_cpu_s": cpu_ours,
        "load_average": load,
        "intersection": ours,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--full", action="store_true", help="also run 1M × 1M")
    args = ap.parse_args()
    runs = [run(args.n)] + ([run(1_000_000)] if args.full else [])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cores": os.cpu_count(), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
