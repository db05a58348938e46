"""Result requester: creates and signs tasks, owns the secret HE key, decrypts and attests results."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import numpy as np
from fastapi import FastAPI, Request, Response

from govfabric.errors import MPCError, SignatureInvalid
from govfabric.mpc import compute, he
from govfabric.mpc.envelope import envelope_digest
from govfabric.mpc.party import Party
from govfabric.mpc.signing import canonical, digest
from govfabric.mpc.spec import TaskSpec
from govfabric.mpc.tasks import verified_assignment


class Requester(Party):
    role = "requester"

    def create_task(self, spec: TaskSpec, scheduler: str | None = None) -> dict[str, Any]:
        task_id = uuid.uuid4().hex
        plan = compute.plan(spec)
        ctx = he.new_secret_context(plan.scheme, plan.galois)
        folder = self.task_dir(task_id)
        (folder / "secret.ctx").write_bytes(ctx.serialize(save_secret_key=True, save_galois_keys=False))
        (folder / "secret.ctx").chmod(0o600)
        public, evaluation = he.public_bytes(ctx, evaluation=False), he.public_bytes(ctx, evaluation=True)
        (folder / "public.ctx").write_bytes(public)
        (folder / "evaluation.ctx").write_bytes(evaluation)
        schedulers = [p.id for p in self.directory.with_role("scheduler")]
        scheduler = scheduler or (schedulers[0] if schedulers else None)
        if not scheduler:
            raise MPCError("no compute scheduler in the directory")
        body = {
            "task_id": task_id,
            "requester": self.id,
            "scheduler": scheduler,
            "spec": spec.model_dump(mode="json"),
            "scheme": plan.scheme,
            "contexts": {
                "public": {"digest": digest(public), "size": len(public)},
                "evaluation": {"digest": digest(evaluation), "size": len(evaluation), "galois": plan.galois},
            },
            "created": time.time(),
        }
        env = self.seal(body, "task")
        self.save(task_id, "task.json", env)
        self.log.info("task %s created (%s), sent to %s", task_id, spec.computation.kind, scheduler)
        answer = self.call(scheduler, "/tasks", json_body={"envelope": env})
        return {"task_id": task_id, **answer}

    def finalize(self, env: dict[str, Any]) -> dict[str, Any]:
        assignment = self.load(env["body"]["task_id"], "assignment.json")
        spec, abody = verified_assignment(self, assignment, fresh=False)
        body = self.receive(env, "step", sender=abody["task"]["body"]["scheduler"])
        task_id = abody["task_id"]
        computed = body["computed"]
        cbody = self.check(computed, "computed", sender=spec.compute)
        if cbody["task_id"] != task_id:
            raise SignatureInvalid("computed result belongs to another task")
        raw = self.call(spec.compute, f"/tasks/{task_id}/output", method="GET")
        bundle = he.Bundle.decode(raw)
        if envelope_digest(bundle.envelope) != envelope_digest(computed):
            raise SignatureInvalid("the compute party's output differs from the signed computation record")
        scheme = compute.plan(spec).scheme
        t0 = time.perf_counter()
        ctx = he.load_context((self.task_dir(task_id) / "secret.ctx").read_bytes())
        outputs = {
            name: np.concatenate([he.decrypt(ctx, scheme, b) for b in blobs]) for name, blobs in bundle.blobs.items()
        }
        result = compute.finalize(spec, outputs)
        decrypt_s = time.perf_counter() - t0
        salt = secrets.token_hex(16)
        self.save(task_id, "result.json", {"result": result, "salt": salt})
        attestation = self.seal(
            {
                "task_id": task_id,
                "computed_digest": envelope_digest(computed),
                "result_digest": digest(canonical(result) + salt.encode()),
                "rows": len(result["rows"]),
                "decrypted_at": time.time(),
                "decrypt_s": round(decrypt_s, 4),
            },
            "result_attestation",
        )
        self.save(task_id, "attestation.json", attestation)
        self.log.info("task %s result decrypted and attested", task_id)
        return attestation

    def register(self, app: FastAPI) -> None:
        @app.post("/admin/tasks")
        def create(request: Request, payload: dict[str, Any]) -> dict[str, Any]:
            self.require_admin(request)
            return self.create_task(TaskSpec.model_validate(payload["spec"]), payload.get("scheduler"))

        @app.get("/tasks/{task_id}/context/{which}")
        def context(task_id: str, which: str) -> Response:
            if which not in ("public", "evaluation"):
                raise MPCError("context is 'public' or 'evaluation'")
            path = self.task_dir(task_id, create=False) / f"{which}.ctx"
            if not path.exists():
                raise MPCError(f"no task {task_id} here")
            return Response(path.read_bytes(), media_type="application/octet-stream")

        @app.post("/assignments")
        def assignment(payload: dict[str, Any]) -> dict[str, Any]:
            spec, body = verified_assignment(self, payload["envelope"])
            self.save(body["task_id"], "assignment.json", payload["envelope"])
            return {"ok": True}

        @app.post("/tasks/{task_id}/finalize")
        def finalize(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            if payload["envelope"]["body"].get("task_id") != task_id:
                raise MPCError("task id mismatch")
            return {"envelope": self.finalize(payload["envelope"])}

        @app.get("/admin/tasks/{task_id}/result")
        def result(task_id: str, request: Request) -> dict[str, Any]:
            self.require_admin(request)
            return self.load(task_id, "result.json")
