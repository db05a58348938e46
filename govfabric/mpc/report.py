"""The full-process report (step h): every step, actor, time, digest and signature, signed.

The JSON file is the canonical serialisation of ``{"report", "signature"}`` (RFC 8785 when the
report says ``"canon": "jcs"``, as every report built now does; the old form otherwise); verification
re-serialises it and requires identical bytes, checks the scheduler's signature, every
embedded party signature against the report's directory (optionally pinned to a trusted
directory file), and the digest links between steps. Any altered byte therefore fails.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from typing import Any

from govfabric.canonical import CANON, canonical, form, loads
from govfabric.errors import GovfabricError, IntegrityError, SignatureInvalid
from govfabric.mpc.envelope import Directory, check, envelope_digest
from govfabric.mpc.signing import KeyPair
from govfabric.mpc.signing import verify as verify_sig
from govfabric.mpc.spec import TaskSpec

FORMAT = "govfabric-mpc-report/1"
STEP_TITLES = {
    "a_task_created": "a. task created and signed by the requester",
    "b_review_requested": "b. task forwarded for provider review",
    "b_review": "b. provider review",
    "c_assignment": "c. signed task assignment",
    "d_psi_request": "d. PSI request (blinded keys)",
    "d_psi_response": "d. PSI response (blinded keys)",
    "d_data_submitted": "d. data encrypted and submitted",
    "e_data_review": "e. monitor data review",
    "e_description_opened": "e. description opened",
    "f_computed": "f. computed on ciphertext",
    "g_result_attested": "g. result decrypted and attested",
    "h_report": "h. full-process report",
    "stalled": "task stalled",
    "resumed": "task resumed",
}


def build(state: dict[str, Any], directory: Directory, issuer: str, key: KeyPair) -> bytes:
    spec = TaskSpec.model_validate(state["task"]["body"]["spec"])
    involved = {
        issuer,
        state["task"]["meta"]["from"],
        spec.compute,
        spec.monitor,
        *[s.party for s in spec.sources],
    }
    body = {
        "format": FORMAT,
        "task_id": state["task_id"],
        "status": "done",
        "issuer": issuer,
        "issued_at": time.time(),
        "task_digest": state["task_digest"],
        "directory": {"parties": {p: v for p, v in directory.to_dict()["parties"].items() if p in involved}},
        "steps": state["log"],
        "canon": CANON,
    }
    sig = {"by": issuer, "alg": key.alg, "public_key": key.public_hex, "sig": key.sign(canonical(body))}
    return canonical({"report": body, "signature": sig})


def verify(data: bytes, trusted: Directory | None = None) -> dict[str, Any]:
    """Check a report file offline; raise IntegrityError/SignatureInvalid naming the first defect."""
    try:
        doc = json.loads(data)
        body, sig = doc["report"], doc["signature"]
        canon = form(body.get("canon"))
        if canon is canonical:  # re-read so that doubles written as long integers are doubles again
            doc = loads(data)
            body, sig = doc["report"], doc["signature"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IntegrityError(f"not a govfabric MPC report: {exc}") from exc
    try:
        same = canon(doc) == data
    except GovfabricError:
        same = False
    if not same:
        raise IntegrityError("report bytes are not in their signed canonical form: the file was altered")
    try:
        return _verify(body, sig, trusted, canon)
    except (IntegrityError, SignatureInvalid):
        raise
    except (GovfabricError, KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise IntegrityError(f"report structure was altered ({type(exc).__name__}: {exc})") from exc


def _verify(body: dict[str, Any], sig: dict[str, Any], trusted: Directory | None,
            canon: Callable[[Any], bytes]) -> dict[str, Any]:
    if body.get("format") != FORMAT:
        raise IntegrityError(f"unknown report format {body.get('format')!r}")
    directory = Directory.from_dict(body["directory"])
    if trusted is not None:
        for pid, info in directory.parties.items():
            pinned = trusted.parties.get(pid)
            if pinned is None or (pinned.public_key, pinned.alg) != (info.public_key, info.alg):
                raise SignatureInvalid(f"report's key for {pid} is not the trusted one")
    issuer = directory.get(sig["by"])
    if (issuer.public_key, issuer.alg, issuer.role) != (sig["public_key"], sig["alg"], "scheduler"):
        raise SignatureInvalid("report is signed by a key that is not the scheduler's in its directory")
    verify_sig(sig["alg"], sig["public_key"], canon(body), sig["sig"])
    seen: dict[str, list[dict[str, Any]]] = {}
    for i, entry in enumerate(body["steps"]):
        env = entry.get("envelope")
        if env is None:
            continue
        try:
            check(env, directory)
        except SignatureInvalid as exc:
            raise SignatureInvalid(f"step {i} ({entry['step']}): {exc}") from exc
        if entry["digest"] != envelope_digest(env) or entry["actor"] != env["meta"]["from"]:
            raise IntegrityError(f"step {i} ({entry['step']}): digest or actor does not match its envelope")
        seen.setdefault(entry["step"], []).append(env)
    _check_links(body, seen)
    return {
        "task_id": body["task_id"],
        "steps": len(body["steps"]),
        "signatures": sum(map(len, seen.values())) + 1,
        "issuer": sig["by"],
    }


def _check_links(body: dict[str, Any], seen: dict[str, list[dict[str, Any]]]) -> None:
    def one(step: str) -> dict[str, Any]:
        items = seen.get(step) or []
        if not items:
            raise IntegrityError(f"report lacks step {STEP_TITLES.get(step, step)}")
        return items[-1]

    task = one("a_task_created")
    if envelope_digest(task) != body["task_digest"]:
        raise IntegrityError("task digest does not match the signed task")
    spec = TaskSpec.model_validate(task["body"]["spec"])
    assignment = one("c_assignment")
    if assignment["body"]["task_digest"] != body["task_digest"]:
        raise IntegrityError("assignment refers to another task")
    approvers = {a["meta"]["from"] for a in assignment["body"]["approvals"] if a["body"]["decision"] == "approve"}
    for a in assignment["body"]["approvals"]:
        check(a, Directory.from_dict(body["directory"]), kind="review")
    if approvers != {s.party for s in spec.sources}:
        raise IntegrityError("assignment does not carry an approval from every provider")
    verdict = one("e_data_review")
    subs = {e["meta"]["from"]: envelope_digest(e) for e in seen.get("d_data_submitted", [])}
    if verdict["body"]["submissions"] != {p: subs.get(p) for p in verdict["body"]["submissions"]}:
        raise IntegrityError("monitor reviewed submissions that are not in the report")
    computed = one("f_computed")
    if computed["body"]["inputs"] != verdict["body"]["submissions"]:
        raise IntegrityError("computation used inputs other than the reviewed ones")
    if one("g_result_attested")["body"]["computed_digest"] != envelope_digest(computed):
        raise IntegrityError("result attestation refers to another computation")


def to_html(data: bytes) -> str:
    doc = json.loads(data)
    body = doc["report"]
    spec = body["steps"][0]["envelope"]["body"]["spec"]
    e = html.escape
    rows = []
    for entry in body["steps"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry["time"]))
        sig = entry["envelope"]["sig"][:24] + "…" if entry.get("envelope") else ""
        rows.append(
            f"<tr><td>{e(STEP_TITLES.get(entry['step'], entry['step']))}</td><td>{e(entry['actor'])}</td>"
            f"<td>{when} UTC</td><td><code>{e(str(entry.get('digest') or ''))}</code></td>"
            f"<td><code>{e(sig)}</code></td><td>{e(str(entry.get('note') or ''))}</td></tr>"
        )
    parties = "".join(
        f"<tr><td>{e(p)}</td><td>{e(v['role'])}</td><td>{e(v['alg'])}</td><td><code>{e(v['public_key'][:32])}…"
        f"</code></td></tr>"
        for p, v in body["directory"]["parties"].items()
    )
    return f"""<!doctype html><html lang="en"><meta charset="utf-8">
<title>MPC report {e(body["task_id"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px;font-size:13px}}code{{font-size:11px}}</style>
<h1>Secure computation report</h1>
<p>Task <code>{e(body["task_id"])}</code> — {e(spec["title"])} ({e(spec["computation"]["kind"])}).
Issued by {e(body["issuer"])}. Verify offline with <code>govfabric mpc verify report.json</code>;
this HTML view is not itself signed.</p>
<h2>Parties</h2><table><tr><th>party</th><th>role</th><th>alg</th><th>public key</th></tr>{parties}</table>
<h2>Steps</h2><table><tr><th>step</th><th>actor</th><th>time</th><th>digest</th><th>signature</th><th>note</th>
</tr>{"".join(rows)}</table>
<h2>Report signature</h2><p><code>{e(doc["signature"]["sig"])}</code></p></html>
"""
