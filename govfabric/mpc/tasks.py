"""Checks every party applies to the task and its assignment before acting on them."""

from __future__ import annotations

from typing import Any

from govfabric.errors import AccessDenied, MPCError, SignatureInvalid
from govfabric.mpc.envelope import envelope_digest
from govfabric.mpc.spec import TaskSpec


def verified_task(party: Any, task_env: dict[str, Any]) -> tuple[TaskSpec, dict[str, Any]]:
    """A task signed by a requester in the directory, with a valid spec."""
    body = party.check(task_env, "task")
    if party.directory.get(task_env["meta"]["from"]).role != "requester":
        raise AccessDenied(f"{task_env['meta']['from']} is not a result requester")
    if body.get("requester") != task_env["meta"]["from"]:
        raise SignatureInvalid("task names a requester other than its signer")
    return TaskSpec.model_validate(body["spec"]), body


def verified_assignment(party: Any, env: dict[str, Any], *, fresh: bool = True) -> tuple[TaskSpec, dict[str, Any]]:
    """The scheduler's signed assignment: embeds the requester's task and every provider's approval.

    Each party re-checks the approvals itself, so a provider that did not approve cannot be
    included even by a misbehaving scheduler.
    """
    body = party.receive(env, "assignment", role="scheduler") if fresh else party.check(env, "assignment")
    spec, task = verified_task(party, body["task"])
    if body.get("task_digest") != envelope_digest(body["task"]) or body.get("task_id") != task["task_id"]:
        raise SignatureInvalid("assignment does not match the task it claims to assign")
    approvals: dict[str, dict[str, Any]] = {}
    for review in body.get("approvals", []):
        rb = party.check(review, "review")
        who = review["meta"]["from"]
        if rb.get("task_digest") != body["task_digest"] or rb.get("decision") != "approve":
            raise AccessDenied(f"{who}'s review is not an approval of this task")
        approvals[who] = rb
    missing = [s.party for s in spec.sources if s.party not in approvals]
    if missing:
        raise AccessDenied(
            f"assignment includes provider(s) {', '.join(missing)} without their signed approval; refused"
        )
    extra = set(approvals) - {s.party for s in spec.sources}
    if extra:
        raise MPCError(f"assignment carries approvals from parties outside the task: {sorted(extra)}")
    return spec, body


def task_parties(spec: TaskSpec, requester: str) -> list[str]:
    return [requester, *[s.party for s in spec.sources], spec.compute, spec.monitor]
