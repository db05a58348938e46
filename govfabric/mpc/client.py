"""Python API for operators: act as a party (with its admin token) or read public task state.

``PartyHandle`` talks to one running party service; the scheduler's task status and report
are public, everything under ``/admin`` needs the party's token from its state directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govfabric.errors import MPCError
from govfabric.mpc.party import http_call
from govfabric.mpc.spec import TaskSpec

FINAL = ("done", "stalled", "rejected")


@dataclass
class PartyHandle:
    url: str
    state: Path | None = None

    @property
    def token(self) -> str:
        if self.state is None:
            raise MPCError("operator actions need the party's --state directory (for its admin token)")
        return (self.state / "admin.token").read_text().strip()

    def get(self, path: str) -> Any:
        return http_call(self.url.rstrip("/") + path, method="GET")

    def admin(self, path: str, body: Any = None, method: str = "POST") -> Any:
        return http_call(
            self.url.rstrip("/") + path, method=method, json_body=body, headers={"x-admin-token": self.token}
        )

    # requester
    def create_task(self, spec: TaskSpec | dict[str, Any]) -> str:
        raw = (
            spec.model_dump(mode="json")
            if isinstance(spec, TaskSpec)
            else TaskSpec.model_validate(spec).model_dump(mode="json")
        )
        return str(self.admin("/admin/tasks", {"spec": raw})["task_id"])

    def result(self, task_id: str) -> dict[str, Any]:
        return dict(self.admin(f"/admin/tasks/{task_id}/result", method="GET")["result"])

    # provider
    def pending(self) -> list[dict[str, Any]]:
        return list(self.admin("/admin/reviews", method="GET"))

    def review(self, task_id: str, decision: str, reason: str = "") -> Any:
        return self.admin(f"/admin/tasks/{task_id}/review", {"decision": decision, "reason": reason})

    def open_description(self, task_id: str, to: list[str]) -> Any:
        return self.admin(f"/admin/tasks/{task_id}/open", {"to": to})

    # scheduler
    def status(self, task_id: str) -> dict[str, Any]:
        return dict(self.get(f"/tasks/{task_id}"))

    def wait(self, task_id: str, timeout: float = 300.0, until: tuple[str, ...] = FINAL) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(task_id)
            if st["status"] in until:
                return st
            if time.monotonic() > deadline:
                raise MPCError(f"task {task_id} still {st['status']} at step {st['step']} after {timeout:.0f}s")
            time.sleep(0.05)

    def report(self, task_id: str, fmt: str = "json") -> bytes:
        return _raw(self.url, task_id, fmt)

    def resume(self, task_id: str) -> Any:
        return self.admin(f"/admin/tasks/{task_id}/resume")


def _raw(url: str, task_id: str, fmt: str) -> bytes:
    import httpx

    resp = httpx.get(url.rstrip("/") + f"/tasks/{task_id}/report", params={"format": fmt}, timeout=60)
    if resp.status_code >= 400:
        raise MPCError(resp.json().get("error", resp.text))
    return resp.content
