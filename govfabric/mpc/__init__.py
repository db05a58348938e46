"""Secure multi-party computation sharing mode (GB/T 40756-2021 §8.4.2.4 a–h).

Five roles run as separate HTTP services, each with only its own keys: result requester,
data providers (≥ 2), compute scheduler, compute party and monitor. Tasks are declarative
(:class:`TaskSpec`), signed, reviewed by every provider, computed on TenSEAL ciphertext
(or with openmined.psi for set intersection) and recorded in a signed, offline-verifiable
report.

Python API::

    from govfabric.mpc import PartyHandle, TaskSpec, verify_report
    task_id = PartyHandle(requester_url, requester_state).create_task(spec)
    PartyHandle(provider_url, provider_state).review(task_id, "approve")
    PartyHandle(scheduler_url).wait(task_id)
    PartyHandle(requester_url, requester_state).result(task_id)
    verify_report(PartyHandle(scheduler_url).report(task_id))
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Cluster",
    "Computation",
    "DataReader",
    "DuckDBReader",
    "FabricReader",
    "PartyHandle",
    "Source",
    "TaskSpec",
    "serve",
    "standard_cluster",
    "verify_report",
]

_LAZY = {
    "Cluster": "govfabric.mpc.cluster",
    "standard_cluster": "govfabric.mpc.cluster",
    "Computation": "govfabric.mpc.spec",
    "Source": "govfabric.mpc.spec",
    "TaskSpec": "govfabric.mpc.spec",
    "DataReader": "govfabric.mpc.data",
    "DuckDBReader": "govfabric.mpc.data",
    "FabricReader": "govfabric.mpc.data",
    "PartyHandle": "govfabric.mpc.client",
    "serve": "govfabric.mpc.serve",
}


def verify_report(data: bytes, trusted: Any = None) -> dict[str, Any]:
    """Verify a full-process report offline (raises on any altered byte)."""
    from govfabric.mpc.report import verify

    return verify(data, trusted)


def __getattr__(name: str) -> Any:  # keep `import govfabric.mpc` free of tenseal/fastapi imports
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
