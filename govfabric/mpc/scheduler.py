"""Compute scheduler: forwards tasks for review, assigns approved tasks and drives steps c–h.

The scheduler holds no data and no decryption key. It persists the task after every step;
when a party fails (crash, refusal) the task stops as ``stalled`` at that step with the
reason, and ``resume`` continues from the same step once the party is back.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Request, Response

from govfabric.errors import AccessDenied, Conflict, GovfabricError, MPCError
from govfabric.mpc import report as report_mod
from govfabric.mpc.envelope import envelope_digest
from govfabric.mpc.party import Party
from govfabric.mpc.spec import PSI_KINDS
from govfabric.mpc.tasks import task_parties, verified_task

STEPS = ("assign", "psi", "data", "data_review", "compute", "result", "report")


class Scheduler(Party):
    role = "scheduler"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._locks: dict[str, threading.Lock] = {}
        self._running: set[str] = set()
        for path in (self.state / "tasks").glob("*/state.json"):  # the scheduler itself crashed
            st = json.loads(path.read_text())
            if st["status"] == "running":
                st["status"], st["error"] = "stalled", f"step {st['step']}: the scheduler restarted mid-step"
                self.record(st, "stalled", None, note=st["error"])

    def lock(self, task_id: str) -> threading.Lock:
        return self._locks.setdefault(task_id, threading.Lock())

    def state_of(self, task_id: str) -> dict[str, Any]:
        return self.load(task_id, "state.json")

    def record(self, st: dict[str, Any], step: str, env: dict[str, Any] | None, note: str = "", **extra: Any) -> None:
        st["log"].append(
            {
                "step": step,
                "actor": env["meta"]["from"] if env else self.id,
                "time": env["meta"]["ts"] if env else time.time(),
                "digest": envelope_digest(env) if env else None,
                "envelope": env,
                "note": note,
                **extra,
            }
        )
        self.save(st["task_id"], "state.json", st)

    # ------------------------------------------------------------ a, b: task and review

    def accept_task(self, env: dict[str, Any]) -> dict[str, Any]:
        self.receive(env, "task", role="requester")
        spec, body = verified_task(self, env)
        task_id = body["task_id"]
        if body.get("scheduler") != self.id:
            raise MPCError(f"task is addressed to scheduler {body.get('scheduler')}, not {self.id}")
        for pid in task_parties(spec, body["requester"]):
            self.directory.get(pid)
        roles = {s.party: "provider" for s in spec.sources} | {
            spec.compute: "compute",
            spec.monitor: "monitor",
        }
        for pid, role in roles.items():
            if self.directory.get(pid).role != role:
                raise MPCError(f"{pid} is a {self.directory.get(pid).role}, the task needs a {role}")
        if (self.task_dir(task_id) / "state.json").exists():
            raise Conflict(f"task {task_id} already exists")
        st = {
            "task_id": task_id,
            "status": "review",
            "step": "review",
            "error": None,
            "task": env,
            "task_digest": envelope_digest(env),
            "reviews": {},
            "submissions": {},
            "log": [],
        }
        self.record(st, "a_task_created", env)
        forward = self.seal({"task_id": task_id, "task": env}, "review_request")
        for src in spec.sources:
            try:
                self.call(src.party, "/review-requests", json_body={"envelope": forward})
                self.record(st, "b_review_requested", None, note=f"sent to {src.party}")
            except GovfabricError as exc:
                self.record(st, "b_review_requested", None, note=f"{src.party} unreachable: {exc}")
        return {"status": st["status"]}

    def accept_review(self, task_id: str, env: dict[str, Any]) -> dict[str, Any]:
        with self.lock(task_id):
            st = self.state_of(task_id)
            spec, _ = verified_task(self, st["task"])
            body = self.receive(env, "review", role="provider")
            who = env["meta"]["from"]
            if who not in {s.party for s in spec.sources}:
                raise AccessDenied(f"{who} is not a provider of task {task_id}")
            if body.get("task_digest") != st["task_digest"]:
                raise MPCError("review does not refer to this task's signed content")
            if st["status"] != "review":
                raise Conflict(f"task {task_id} is {st['status']}; reviews are closed")
            st["reviews"][who] = env
            self.record(st, "b_review", env, note=body["decision"])
            if body["decision"] != "approve":
                st["status"], st["step"] = "rejected", "review"
                st["error"] = f"{who} rejected the task: {body.get('reason', '')}"
                self.save(task_id, "state.json", st)
                return {"status": st["status"]}
            if all(s.party in st["reviews"] for s in spec.sources):
                st["status"], st["step"] = "running", "assign"
                self.save(task_id, "state.json", st)
                self.start(task_id)
            return {"status": st["status"]}

    # ------------------------------------------------------------ c–h: the driver

    def start(self, task_id: str) -> None:
        if task_id in self._running:
            raise Conflict(f"task {task_id} is already running")
        self._running.add(task_id)
        threading.Thread(target=self._drive, args=(task_id,), daemon=True).start()

    def _drive(self, task_id: str) -> None:
        try:
            while True:
                st = self.state_of(task_id)
                if st["status"] != "running":
                    return
                step = st["step"]
                try:
                    nxt = getattr(self, f"step_{step}")(st)
                except Exception as exc:  # any failure leaves a resumable, reported state
                    st = self.state_of(task_id)
                    st["status"], st["error"] = "stalled", f"step {step}: {exc}"
                    self.record(st, "stalled", None, note=st["error"])
                    self.log.warning("task %s stalled at %s: %s", task_id, step, exc)
                    return
                st = self.state_of(task_id)
                st["step"] = nxt
                if nxt == "done":
                    st["status"] = "done"
                self.save(task_id, "state.json", st)
        finally:
            self._running.discard(task_id)

    def _ctx(self, st: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        spec, body = verified_task(self, st["task"])
        return spec, body

    def _step_env(self, st: dict[str, Any], step: str, **extra: Any) -> dict[str, Any]:
        return self.seal({"task_id": st["task_id"], "step": step, **extra}, "step")

    def step_assign(self, st: dict[str, Any]) -> str:
        spec, body = self._ctx(st)
        approvals = [st["reviews"][s.party] for s in spec.sources]
        env = self.seal(
            {
                "task_id": st["task_id"],
                "task_digest": st["task_digest"],
                "task": st["task"],
                "approvals": approvals,
            },
            "assignment",
        )
        for pid in task_parties(spec, body["requester"]):
            self.call(pid, "/assignments", json_body={"envelope": env})
        self.record(st, "c_assignment", env)
        return "psi" if spec.computation.kind in PSI_KINDS else "data"

    def step_psi(self, st: dict[str, Any]) -> str:
        spec, _ = self._ctx(st)
        server, client = spec.sources[0].party, spec.sources[1].party
        tid = st["task_id"]
        with ThreadPoolExecutor(max_workers=2) as pool:  # the two sides blind their keys at the same time
            setup = pool.submit(
                self.call,
                server,
                f"/tasks/{tid}/psi/setup",
                json_body={"envelope": self._step_env(st, "psi")},
            )
            request = pool.submit(
                self.call,
                client,
                f"/tasks/{tid}/psi/request",
                json_body={"envelope": self._step_env(st, "psi")},
            )
            req = request.result()
            setup.result()
        self.record(st, "d_psi_request", req["envelope"])
        resp = self.call(
            server,
            f"/tasks/{tid}/psi/respond",
            json_body={"envelope": self._step_env(st, "psi"), "request": req},
        )
        self.record(st, "d_psi_response", resp["envelope"])
        (self.task_dir(tid) / "psi_response.json").write_text(json.dumps(resp))
        return "data"

    def step_data(self, st: dict[str, Any]) -> str:
        """Every provider reads, encrypts and submits at the same time."""
        spec, _ = self._ctx(st)
        tid = st["task_id"]

        def prepare(party: str) -> dict[str, Any]:
            extra: dict[str, Any] = {}
            if spec.computation.kind in PSI_KINDS and party == spec.sources[1].party:
                extra["psi"] = json.loads((self.task_dir(tid) / "psi_response.json").read_text())
            ans = self.call(party, f"/tasks/{tid}/prepare", json_body={"envelope": self._step_env(st, "data"), **extra})
            self.check(ans["envelope"], "submission", sender=party)
            return dict(ans)

        with ThreadPoolExecutor(max_workers=len(spec.sources)) as pool:
            subs = dict(
                zip(
                    [s.party for s in spec.sources],
                    pool.map(prepare, [s.party for s in spec.sources]),
                    strict=True,
                )
            )
        st = self.state_of(tid)
        for party, ans in subs.items():
            st["submissions"][party] = ans["envelope"]
            self.record(st, "d_data_submitted", ans["envelope"], timing=ans.get("timing"))
        return "data_review"

    def step_data_review(self, st: dict[str, Any]) -> str:
        spec, _ = self._ctx(st)
        subs = [st["submissions"][s.party] for s in spec.sources]
        ans = self.call(
            spec.monitor,
            f"/tasks/{st['task_id']}/check",
            json_body={"envelope": self._step_env(st, "data_review"), "submissions": subs},
        )
        verdict = ans["envelope"]
        vb = self.check(verdict, "data_review", sender=spec.monitor)
        self.record(st, "e_data_review", verdict, note="passed" if vb["ok"] else "; ".join(vb["problems"]))
        if not vb["ok"]:
            raise MPCError("the monitor refused the submitted data: " + "; ".join(vb["problems"]))
        st = self.state_of(st["task_id"])
        st["verdict"] = verdict
        self.save(st["task_id"], "state.json", st)
        return "compute"

    def step_compute(self, st: dict[str, Any]) -> str:
        spec, _ = self._ctx(st)
        ans = self.call(
            spec.compute,
            f"/tasks/{st['task_id']}/compute",
            json_body={"envelope": self._step_env(st, "compute", verdict=st["verdict"])},
        )
        self.check(ans["envelope"], "computed", sender=spec.compute)
        self.record(st, "f_computed", ans["envelope"])
        st = self.state_of(st["task_id"])
        st["computed"] = ans["envelope"]
        self.save(st["task_id"], "state.json", st)
        return "result"

    def step_result(self, st: dict[str, Any]) -> str:
        _, body = self._ctx(st)
        ans = self.call(
            body["requester"],
            f"/tasks/{st['task_id']}/finalize",
            json_body={"envelope": self._step_env(st, "result", computed=st["computed"])},
        )
        self.check(ans["envelope"], "result_attestation", sender=body["requester"])
        self.record(st, "g_result_attested", ans["envelope"])
        return "report"

    def step_report(self, st: dict[str, Any]) -> str:
        self.record(st, "h_report", None, note="full-process report issued")
        st = self.state_of(st["task_id"])
        rep = report_mod.build(st, self.directory, self.id, self.key)
        folder = self.task_dir(st["task_id"])
        (folder / "report.json").write_bytes(rep)
        (folder / "report.html").write_text(report_mod.to_html(rep))
        return "done"

    def add_event(self, task_id: str, env: dict[str, Any]) -> None:
        with self.lock(task_id):
            st = self.state_of(task_id)
            spec, body = verified_task(self, st["task"])
            self.receive(env, "event")
            if env["meta"]["from"] not in task_parties(spec, body["requester"]):
                raise AccessDenied(f"{env['meta']['from']} is not a party of task {task_id}")
            self.record(st, "e_" + str(env["body"].get("event", "event")), env)

    def summary(self, task_id: str) -> dict[str, Any]:
        st = self.state_of(task_id)
        return {
            "task_id": task_id,
            "status": st["status"],
            "step": st["step"],
            "error": st["error"],
            "reviews": {p: e["body"]["decision"] for p, e in st["reviews"].items()},
            "log": [{k: e[k] for k in ("step", "actor", "time", "digest", "note")} for e in st["log"]],
        }

    def register(self, app: FastAPI) -> None:
        @app.post("/tasks")
        def create(payload: dict[str, Any]) -> dict[str, Any]:
            return self.accept_task(payload["envelope"])

        @app.post("/tasks/{task_id}/reviews")
        def review(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            return self.accept_review(task_id, payload["envelope"])

        @app.post("/tasks/{task_id}/events")
        def event(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            self.add_event(task_id, payload["envelope"])
            return {"ok": True}

        @app.get("/tasks/{task_id}")
        def status(task_id: str) -> dict[str, Any]:
            return self.summary(task_id)

        @app.get("/tasks/{task_id}/report")
        def report(task_id: str, format: str = "json") -> Response:
            path = self.task_dir(task_id, create=False) / ("report.html" if format == "html" else "report.json")
            if not path.exists():
                raise MPCError(f"task {task_id} has no report yet (status: {self.state_of(task_id)['status']})")
            media = "text/html" if format == "html" else "application/json"
            return Response(path.read_bytes(), media_type=media)

        @app.post("/admin/tasks/{task_id}/resume")
        def resume(task_id: str, request: Request) -> dict[str, Any]:
            self.require_admin(request)
            with self.lock(task_id):
                st = self.state_of(task_id)
                if st["status"] != "stalled":
                    raise Conflict(f"task {task_id} is {st['status']}; only a stalled task resumes")
                st["status"], st["error"] = "running", None
                self.record(st, "resumed", None, note=f"resumed at step {st['step']}")
            self.start(task_id)
            return {"status": "running", "step": st["step"]}
