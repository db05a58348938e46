"""Data provider: reviews tasks, reads its own data, encrypts it, and keeps a signed attestation.

Nothing is read before the provider's operator approves the task and the scheduler's
assignment proves every other provider approved too. Plaintext never leaves this process:
the compute party receives ciphertext under the requester's public context; the monitor and
the report receive sizes, digests and signatures; the description (asset, columns, row
count) is disclosed only to the parties the operator chooses.
"""

from __future__ import annotations

import io
import secrets
import time
from typing import Any

import pyarrow as pa
from fastapi import FastAPI, Request

from govfabric.errors import AccessDenied, MPCError, SignatureInvalid
from govfabric.mpc import compute, he
from govfabric.mpc.data import DataReader
from govfabric.mpc.envelope import canonical_of, envelope_digest
from govfabric.mpc.party import Party
from govfabric.mpc.psi import TASK_BUCKETS, PSIClient, PSIServer, b64, unb64, workers_for
from govfabric.mpc.signing import canonical, check_digest, digest, digest_alg_for
from govfabric.mpc.spec import TaskSpec
from govfabric.mpc.tasks import verified_assignment, verified_task


def table_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


class Provider(Party):
    role = "provider"

    def __init__(self, *args: Any, reader: DataReader | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reader = reader

    def _digest(self, data: bytes) -> str:
        return digest(data, digest_alg_for(self.key.alg))

    # ------------------------------------------------------------ b: review

    def review_request(self, env: dict[str, Any]) -> None:
        body = self.receive(env, "review_request", role="scheduler")
        spec, task = verified_task(self, body["task"])
        if task["scheduler"] != env["meta"]["from"]:
            raise SignatureInvalid("review request forwarded by a scheduler the task does not name")
        src = spec.source(self.id)
        self.save(task["task_id"], "review_request.json", body["task"])
        self.log.info("task %s awaits review: %s on %s", task["task_id"], spec.computation.kind, src.asset)

    def what_i_see(self, task_id: str) -> dict[str, Any]:
        """Exactly what this provider is asked to contribute: the review screen."""
        task_env = self.load(task_id, "review_request.json")
        spec, task = verified_task(self, task_env)
        src = spec.source(self.id)
        return {
            "task_id": task_id,
            "requester": task["requester"],
            "title": spec.title,
            "purpose": spec.purpose,
            "asset": src.asset,
            "columns": src.columns(),
            "where": src.where,
            "computation": spec.computation.model_dump(mode="json", exclude_none=True),
            "other_providers": [s.party for s in spec.sources if s.party != self.id],
            "compute_party": spec.compute,
            "monitor": spec.monitor,
            "requester_learns": _learns(spec),
            "decision": self.load(task_id, "review.json", {}).get("body", {}).get("decision"),
        }

    def decide(self, task_id: str, decision: str, reason: str = "") -> dict[str, Any]:
        if decision not in ("approve", "reject"):
            raise MPCError("decision is 'approve' or 'reject'")
        task_env = self.load(task_id, "review_request.json")
        _, task = verified_task(self, task_env)
        env = self.seal(
            {
                "task_id": task_id,
                "task_digest": envelope_digest(task_env),
                "decision": decision,
                "reason": reason,
                "columns": self.what_i_see(task_id)["columns"],
            },
            "review",
        )
        self.save(task_id, "review.json", env)
        self.log.info("task %s: %s", task_id, decision)
        return self.call(task["scheduler"], f"/tasks/{task_id}/reviews", json_body={"envelope": env})

    # ------------------------------------------------------------ d: data access

    def _assigned(self, task_id: str, step_env: dict[str, Any]) -> tuple[TaskSpec, dict[str, Any]]:
        spec, body = verified_assignment(self, self.load(task_id, "assignment.json"), fresh=False)
        self.receive(step_env, "step", sender=body["task"]["body"]["scheduler"])
        if step_env["body"]["task_id"] != task_id:
            raise MPCError("step message is for another task")
        return spec, body

    def _read(self, spec: TaskSpec) -> pa.Table:
        if self.reader is None:
            raise MPCError(f"provider {self.id} has no data reader; start it with --data")
        src = spec.source(self.id)
        return self.reader.read(src.asset, src.columns(), src.where)

    def psi_request(self, task_id: str, step_env: dict[str, Any]) -> dict[str, Any]:
        spec, _ = self._assigned(task_id, step_env)
        if compute.psi_client(spec) != self.id:
            raise AccessDenied(f"{self.id} is not the PSI client of task {task_id}")
        keys = [str(k) for k in self._read(spec).column(spec.source(self.id).key or "").to_pylist()]
        client = PSIClient(keys, task_id, TASK_BUCKETS, workers=workers_for(len(keys)))
        (self.task_dir(task_id) / "psi.key").write_bytes(client.key)
        payload = {"requests": b64(client.requests())}
        env = self.seal(
            {
                "task_id": task_id,
                "sizes": [len(p) for p in client.positions],
                "payload_digest": digest(canonical(payload)),
            },
            "psi_request",
        )
        return {"envelope": env, "payload": payload}

    def _psi_server(self, spec: TaskSpec, task_id: str) -> PSIServer:
        if spec.sources[0].party != self.id:
            raise AccessDenied(f"{self.id} is not the PSI server of task {task_id}")
        keys = [str(k) for k in self._read(spec).column(spec.source(self.id).key or "").to_pylist()]
        key_file = self.task_dir(task_id) / "psi.key"
        server = PSIServer(
            keys,
            task_id,
            TASK_BUCKETS,
            key=key_file.read_bytes() if key_file.exists() else None,
            workers=workers_for(len(keys)),
        )
        key_file.write_bytes(server.key)
        return server

    def psi_setup(self, task_id: str, step_env: dict[str, Any]) -> dict[str, Any]:
        """Blind this provider's own keys; runs while the client prepares its request."""
        spec, _ = self._assigned(task_id, step_env)
        setups = b64(self._psi_server(spec, task_id).setups())
        self.save(task_id, "psi_setups.json", setups)
        return {"ok": True, "buckets": len(setups)}

    def psi_respond(self, task_id: str, step_env: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
        spec, _ = self._assigned(task_id, step_env)
        body = self.receive(request["envelope"], "psi_request", sender=compute.psi_client(spec))
        if not check_digest(canonical_of(request["envelope"])(request["payload"]), body["payload_digest"]):
            raise SignatureInvalid("PSI request payload was altered")
        server = self._psi_server(spec, task_id)
        setups = self.load(task_id, "psi_setups.json", []) or b64(server.setups())
        payload = {
            "setups": setups,
            "responses": b64(server.responses(unb64(request["payload"]["requests"]))),
        }
        env = self.seal({"task_id": task_id, "payload_digest": digest(canonical(payload))}, "psi_response")
        return {"envelope": env, "payload": payload}

    def prepare(self, task_id: str, step_env: dict[str, Any], psi: dict[str, Any] | None) -> dict[str, Any]:
        spec, abody = self._assigned(task_id, step_env)
        t_read = time.perf_counter()
        table = self._read(spec)
        read_s = time.perf_counter() - t_read
        hits = None
        if spec.computation.kind.startswith("psi") and compute.psi_client(spec) == self.id:
            if not psi:
                raise MPCError("PSI client needs the server's response")
            pb = self.check(psi["envelope"], "psi_response", sender=spec.sources[0].party)
            if not check_digest(canonical_of(psi["envelope"])(psi["payload"]), pb["payload_digest"]):
                raise SignatureInvalid("PSI response payload was altered")
            keys = [str(k) for k in table.column(spec.source(self.id).key or "").to_pylist()]
            client = PSIClient(
                keys,
                task_id,
                TASK_BUCKETS,
                key=(self.task_dir(task_id) / "psi.key").read_bytes(),
                workers=workers_for(len(keys)),
            )
            hits = client.hits(unb64(psi["payload"]["setups"]), unb64(psi["payload"]["responses"]))
        streams = compute.encode(spec, self.id, table, hits)
        task = abody["task"]["body"]
        public = self.call(task["requester"], f"/tasks/{task_id}/context/public", method="GET")
        if not check_digest(public, task["contexts"]["public"]["digest"]):
            raise SignatureInvalid("the requester's public context does not match the signed task")
        scheme = compute.plan(spec).scheme
        t0 = time.perf_counter()
        blobs = compute.encrypt_streams(he.load_context(public), scheme, streams)
        encrypt_s = time.perf_counter() - t0
        manifest = {name: [{"digest": digest(b), "size": len(b)} for b in items] for name, items in blobs.items()}
        src = spec.source(self.id)
        description = {
            "task_id": task_id,
            "provider": self.id,
            "asset": src.asset,
            "columns": src.columns(),
            "where": src.where,
            "rows": table.num_rows,
            "scheme": scheme,
            "streams": {k: len(v) for k, v in blobs.items()},
        }
        desc_salt, data_salt = secrets.token_hex(16), secrets.token_hex(16)
        attestation = self.seal(
            {
                "task_id": task_id,
                "provider": self.id,
                "asset": src.asset,
                "columns": src.columns(),
                "rows": table.num_rows,
                "data_digest": self._digest(data_salt.encode() + table_bytes(table)),
            },
            "attestation",
        )
        self.save(task_id, "attestation.json", {"attestation": attestation, "salt": data_salt})
        self.save(task_id, "description.json", {"description": description, "salt": desc_salt})
        submission = self.seal(
            {
                "task_id": task_id,
                "provider": self.id,
                "scheme": scheme,
                "manifest": manifest,
                "description_digest": self._digest(desc_salt.encode() + canonical(description)),
                "attestation_digest": envelope_digest(attestation),
                "assignment_digest": envelope_digest(self.load(task_id, "assignment.json")),
            },
            "submission",
        )
        bundle = he.Bundle(submission, blobs).encode()
        t1 = time.perf_counter()
        self.call(spec.compute, f"/tasks/{task_id}/inputs", content=bundle)
        self.log.info(
            "task %s: sent %d ciphertexts (%d bytes), encrypt %.2fs transfer %.2fs",
            task_id,
            sum(len(v) for v in blobs.values()),
            len(bundle),
            encrypt_s,
            time.perf_counter() - t1,
        )
        timing = {
            "read_s": read_s,
            "encrypt_s": encrypt_s,
            "transfer_s": time.perf_counter() - t1,
            "bytes": len(bundle),
        }
        return {"envelope": submission, "timing": timing}

    def open_description(self, task_id: str, to: list[str]) -> dict[str, Any]:
        """e: disclose this provider's description to the parties its operator chooses."""
        spec, abody = verified_assignment(self, self.load(task_id, "assignment.json"), fresh=False)
        stored = self.load(task_id, "description.json")
        env = self.seal({"task_id": task_id, **stored}, "description")
        for pid in to:
            self.directory.get(pid)
            self.call(pid, "/descriptions", json_body={"envelope": env})
        event = self.seal(
            {
                "task_id": task_id,
                "event": "description_opened",
                "to": sorted(to),
                "description_digest": envelope_digest(env),
            },
            "event",
        )
        self.call(abody["task"]["body"]["scheduler"], f"/tasks/{task_id}/events", json_body={"envelope": event})
        return {"opened_to": sorted(to)}

    def register(self, app: FastAPI) -> None:
        @app.post("/review-requests")
        def review_request(payload: dict[str, Any]) -> dict[str, Any]:
            self.review_request(payload["envelope"])
            return {"ok": True}

        @app.get("/admin/reviews")
        def reviews(request: Request) -> list[dict[str, Any]]:
            self.require_admin(request)
            tasks = sorted((self.state / "tasks").glob("*/review_request.json"), key=lambda p: p.stat().st_mtime)
            return [self.what_i_see(p.parent.name) for p in tasks]

        @app.post("/admin/tasks/{task_id}/review")
        def review(task_id: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
            self.require_admin(request)
            return self.decide(task_id, payload["decision"], payload.get("reason", ""))

        @app.post("/admin/tasks/{task_id}/open")
        def open_(task_id: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
            self.require_admin(request)
            return self.open_description(task_id, list(payload["to"]))

        @app.get("/admin/tasks/{task_id}/attestation")
        def attestation(task_id: str, request: Request) -> dict[str, Any]:
            self.require_admin(request)
            return self.load(task_id, "attestation.json")

        @app.post("/assignments")
        def assignment(payload: dict[str, Any]) -> dict[str, Any]:
            spec, body = verified_assignment(self, payload["envelope"])
            spec.source(self.id)
            self.save(body["task_id"], "assignment.json", payload["envelope"])
            return {"ok": True}

        @app.post("/tasks/{task_id}/psi/request")
        def psi_request(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            return self.psi_request(task_id, payload["envelope"])

        @app.post("/tasks/{task_id}/psi/setup")
        def psi_setup(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            return self.psi_setup(task_id, payload["envelope"])

        @app.post("/tasks/{task_id}/psi/respond")
        def psi_respond(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            return self.psi_respond(task_id, payload["envelope"], payload["request"])

        @app.post("/tasks/{task_id}/prepare")
        def prepare(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            return self.prepare(task_id, payload["envelope"], payload.get("psi"))


def _learns(spec: TaskSpec) -> str:
    kind = spec.computation.kind
    if kind == "psi_cardinality":
        return "the size of the intersection (the second provider learns it too)"
    if kind == "psi_membership":
        return "which of the public candidate entities are in both sets (the second provider learns its matches)"
    if kind == "psi_sum":
        return "the count and the sum of the second provider's values over the intersection"
    if kind == "linear_score":
        return "one score per listed entity"
    scope = "per public group" if spec.grouped else "over all providers together"
    return f"the {kind} {scope}; no per-provider figure"
