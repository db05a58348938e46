"""Monitor: reviews what providers submitted (shapes, sizes, signatures) before anything is computed.

The monitor never sees ciphertext or plaintext — only each provider's signed manifest and,
if a provider chooses to open it, its description, which it checks against the commitment
in the submission.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from govfabric.errors import GovfabricError, MPCError, SignatureInvalid
from govfabric.mpc import compute
from govfabric.mpc.envelope import canonical_of, envelope_digest
from govfabric.mpc.party import Party
from govfabric.mpc.signing import check_digest
from govfabric.mpc.tasks import verified_assignment


class Monitor(Party):
    role = "monitor"

    def review_data(self, task_id: str, step_env: dict[str, Any], submissions: list[dict[str, Any]]) -> dict[str, Any]:
        spec, abody = verified_assignment(self, self.load(task_id, "assignment.json"), fresh=False)
        self.receive(step_env, "step", sender=abody["task"]["body"]["scheduler"])
        problems: list[str] = []
        seen: dict[str, str] = {}
        accepted: dict[str, dict[str, Any]] = {}
        expected = {s.party for s in spec.sources}
        for sub in submissions:
            who = sub.get("meta", {}).get("from", "?")
            try:
                body = self.check(sub, "submission")
                if self.directory.get(who).role != "provider":
                    raise MPCError(f"{who} is not a provider")
            except GovfabricError as exc:
                problems.append(f"{who}: {exc}")
                continue
            if who not in expected:
                problems.append(f"{who} is not an approved provider of this task")
                continue
            if body.get("task_id") != task_id or body.get("assignment_digest") != envelope_digest(
                self.load(task_id, "assignment.json")
            ):
                problems.append(f"{who}: submission is not for this task's assignment")
            if body.get("scheme") != compute.plan(spec).scheme:
                problems.append(f"{who}: encrypted under {body.get('scheme')}, task needs {compute.plan(spec).scheme}")
            problems += compute.check_shapes(spec, who, body.get("manifest", {}))
            seen[who] = envelope_digest(sub)
            accepted[who] = sub
        problems += [f"{p}: no submission" for p in sorted(expected - set(seen))]
        self.save(task_id, "submissions.json", accepted)
        verdict = self.seal(
            {"task_id": task_id, "ok": not problems, "problems": problems, "submissions": seen}, "data_review"
        )
        self.log.info("task %s data review: %s", task_id, "passed" if not problems else problems)
        return verdict

    def receive_description(self, env: dict[str, Any]) -> None:
        body = self.receive(env, "description", role="provider")
        task_id, who = body["task_id"], env["meta"]["from"]
        subs = self.load(task_id, "submissions.json", {})
        if who in subs:
            committed = subs[who]["body"]["description_digest"]
            if not check_digest(body["salt"].encode() + canonical_of(subs[who])(body["description"]), committed):
                raise SignatureInvalid(f"{who}'s opened description does not match its committed digest")
        self.save(task_id, f"description_{who}.json", body)

    def register(self, app: FastAPI) -> None:
        @app.post("/assignments")
        def assignment(payload: dict[str, Any]) -> dict[str, Any]:
            _, body = verified_assignment(self, payload["envelope"])
            self.save(body["task_id"], "assignment.json", payload["envelope"])
            return {"ok": True}

        @app.post("/tasks/{task_id}/check")
        def check(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
            if not isinstance(payload.get("submissions"), list):
                raise MPCError("submissions must be a list of envelopes")
            return {"envelope": self.review_data(task_id, payload["envelope"], payload["submissions"])}

        @app.post("/descriptions")
        def description(payload: dict[str, Any]) -> dict[str, Any]:
            self.receive_description(payload["envelope"])
            return {"ok": True}
