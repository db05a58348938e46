"""Compute party: evaluates the declared computation on ciphertext only.

It holds the requester's *evaluation* context (public key, relinearisation keys, and galois
keys only when the computation rotates) — never a secret key. It accepts inputs only from
providers whose signed approval is in the assignment, only after the monitor's verdict,
and only if every ciphertext matches the digest its provider signed.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request, Response

from govfabric.errors import AccessDenied, MPCError, SignatureInvalid
from govfabric.mpc import compute, he
from govfabric.mpc.envelope import envelope_digest
from govfabric.mpc.party import Party
from govfabric.mpc.signing import check_digest, digest
from govfabric.mpc.tasks import verified_assignment


class ComputeParty(Party):
    role = "compute"

    def accept_assignment(self, env: dict[str, Any]) -> None:
        spec, body = verified_assignment(self, env)
        if spec.compute != self.id:
            raise AccessDenied(f"task {body['task_id']} names compute party {spec.compute}, not {self.id}")
        task = body["task"]["body"]
        ctx = self.call(task["requester"], f"/tasks/{body['task_id']}/context/evaluation", method="GET")
        if not check_digest(ctx, task["contexts"]["evaluation"]["digest"]):
            raise SignatureInvalid("the requester's evaluation context does not match the signed task")
        folder = self.task_dir(body["task_id"])
        (folder / "evaluation.ctx").write_bytes(ctx)
        self.save(body["task_id"], "assignment.json", env)
        self.log.info("task %s assigned: %s, context %d bytes", body["task_id"], spec.computation.kind, len(ctx))

    def accept_inputs(self, task_id: str, data: bytes) -> dict[str, Any]:
        spec, abody = verified_assignment(self, self.load(task_id, "assignment.json"), fresh=False)
        bundle = he.Bundle.decode(data)  # refuses any ciphertext that differs from its signed digest
        who = bundle.envelope.get("meta", {}).get("from", "?")
        if who not in {s.party for s in spec.sources}:
            raise AccessDenied(f"{who} did not approve task {task_id} and cannot contribute to it")
        body = self.receive(bundle.envelope, "submission", role="provider")
        if body["task_id"] != task_id or body["assignment_digest"] != envelope_digest(
            self.load(task_id, "assignment.json")
        ):
            raise MPCError("submission is for another task or assignment")
        (self.task_dir(task_id) / f"input_{who}.bin").write_bytes(data)
        self.log.info("task %s: inputs from %s (%d bytes)", task_id, who, len(data))
        return {"ok": True, "digest": envelope_digest(bundle.envelope)}

    def run(self, task_id: str, step_env: dict[str, Any]) -> dict[str, Any]:
        spec, abody = verified_assignment(self, self.load(task_id, "assignment.json"), fresh=False)
        body = self.receive(step_env, "step", sender=abody["task"]["body"]["scheduler"])
        verdict = self.check(body["verdict"], "data_review", sender=spec.monitor)
        if not verdict["ok"] or verdict["task_id"] != task_id:
            raise MPCError("the monitor has not passed this task's data")
        folder = self.task_dir(task_id)
        inputs: dict[str, dict[str, list[bytes]]] = {}
        for src in spec.sources:
            path = folder / f"input_{src.party}.bin"
            if not path.exists():
                raise MPCError(f"no ciphertext from {src.party}; it must resubmit (resume the task)")
            bundle = he.Bundle.decode(path.read_bytes())
            if envelope_digest(bundle.envelope) != verdict["submissions"].get(src.party):
                raise SignatureInvalid(f"{src.party}'s stored inputs are not the ones the monitor reviewed")
            inputs[src.party] = bundle.blobs
        ctx = he.load_context((folder / "evaluation.ctx").read_bytes())
        if ctx.is_private():
            raise MPCError("evaluation context holds a secret key; refusing to compute")
        t0 = time.perf_counter()
        outputs = compute.evaluate(spec, ctx, inputs)
        elapsed = time.perf_counter() - t0
        manifest = {name: [{"digest": digest(b), "size": len(b)} for b in blobs] for name, blobs in outputs.items()}
        env = self.seal(
            {
                "task_id": task_id,
                "manifest": manifest,
                "inputs": verdict["submissions"],
                "verdict_digest": envelope_digest(body["verdict"]),
                "compute_s": round(elapsed, 4),
            },
            "computed",
        )
        (folder / "output.bin").write_bytes(he.Bundle(env, outputs).encode())
        self.log.info("task %s computed in %.3fs: %s", task_id, elapsed, sorted(outputs))
        return env

    def register(self, app: FastAPI) -> None:
        @app.post("/assignments")
        def assignment(payload: dict[str, Any]) -> dict[str, Any]:
            self.accept_assignment(payload["envelope"])
            return {"ok": True}

        @app.post("/tasks/{task_id}/inputs")
        async def inputs(task_id: str, request: Request) -> dict[str, Any]:
            data = await request.body()
            from starlette.concurrency import run_in_threadpool

            return await run_in_threadpool(self.accept_inputs, task_id, data)

        @app.post("/tasks/{task_id}/compute")
        def run(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            return {"envelope": self.run(task_id, payload["envelope"])}

        @app.get("/tasks/{task_id}/output")
        def output(task_id: str) -> Response:
            path = self.task_dir(task_id, create=False) / "output.bin"
            if not path.exists():
                raise MPCError(f"task {task_id} has no output yet")
            return Response(path.read_bytes(), media_type="application/octet-stream")
