"""Consent records (GB/T 35273-2020 §5.4, §7.2.5): who agreed to what, for whom, until when.

The prefill services call :meth:`Consents.check` before they fill a form for a data
subject; every give, withdraw and check writes an audit event, and a check returns
the audit sequence number so the caller can cite it (traceability).

Subjects are identified by resident ID number (or a unified social credit code for
an enterprise applicant) and stored only as an HMAC-SHA256 under a key derived from
the workspace secret: the store alone cannot be brute-forced back to ID numbers, and
the same subject always hashes the same way, so lookups stay indexed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from govfabric.auth.audit import append
from govfabric.errors import NotFound, ValidationFailed
from govfabric.governance.security.models import ConsentRecord
from govfabric.identifiers import is_valid_uscc, validate_resident_id
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

RECORDERS = ("steward", "business_system")
READERS = ("steward", "auditor", "business_system")
_KEY_LABEL = b"govfabric/security/consent-subject/v1"
#: how long a checked decision vouches for a later step of the same call (:meth:`Consents.covers`)
DECISION_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class ConsentDecision:
    """The answer to "may ``grantee`` use these data items of this subject for this purpose?"."""

    allowed: bool
    reason: str
    consent_id: str | None = None
    expires_at: datetime | None = None
    missing_scope: list[str] = field(default_factory=list)
    trace: int | None = None  # the audit event's sequence number
    #: what was checked (the subject's keyed hash, the purpose, the grantee, the scope), when, and the
    #: check's seal over them: a later step of the same call relies on it (:meth:`Consents.covers`)
    subject: str | None = None
    purpose: str | None = None
    grantee: str | None = None
    scope: tuple[str, ...] = ()
    checked_at: datetime | None = None
    seal: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, object]:
        return {"allowed": self.allowed, "reason": self.reason, "consent_id": self.consent_id,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None,
                "missing_scope": self.missing_scope, "trace": self.trace}


def _text(value: str, what: str, limit: int = 256) -> str:
    v = (value or "").strip()
    if not v or len(v) > limit:
        raise ValidationFailed(f"{what} must be 1–{limit} characters, got {value!r}")
    return v


def _scope(scope: list[str] | tuple[str, ...] | str) -> list[str]:
    items = [scope] if isinstance(scope, str) else list(scope)
    clean = sorted({_text(i, "each scope item", 128) for i in items})
    if not clean:
        raise ValidationFailed("scope must name at least one data item (e.g. 户籍地址)")
    return clean


def _expiry(value: date | datetime | None) -> datetime | None:
    if value is None:
        return None
    at = value if isinstance(value, datetime) else datetime.combine(value, time.max, tzinfo=UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if at <= utcnow():
        raise ValidationFailed(f"expiry {value} is in the past; a consent must expire in the future")
    return at


def normalise_subject(subject_id: str) -> str:
    """A resident ID number (check digit verified) or an enterprise's credit code."""
    v = (subject_id or "").strip().upper()
    if is_valid_uscc(v):
        return v
    validate_resident_id(v)  # raises with the exact defect
    return v


class Consents:
    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store
        self._hmac_key: bytes | None = None
        self._seal_key: bytes | None = None

    def subject_hash(self, subject_id: str) -> str:
        if self._hmac_key is None:
            # the v1 derivation: stored subject hashes are one-way, so a new key would orphan them
            self._hmac_key = self.fabric.secrets.derive_hmac(_KEY_LABEL)
        return hmac.new(self._hmac_key, normalise_subject(subject_id).encode(), hashlib.sha256).hexdigest()

    def give(self, subject_id: str, purpose: str, scope: list[str] | str, grantee: str, *,
             expires: date | datetime | None = None, channel: str | None = None) -> ConsentRecord:
        actor = self.fabric.actor
        actor.require(*RECORDERS, action="record consents")
        digest = self.subject_hash(subject_id)
        rec = ConsentRecord(subject_hash=digest, purpose=_text(purpose, "purpose"), scope=_scope(scope),
                            grantee=_text(grantee, "grantee"), expires_at=_expiry(expires),
                            channel=channel, recorded_by=actor.name)
        with self.store.session() as s:
            s.add(rec)
            s.flush()
            append(s, actor.name, "consent.give", f"consent:{rec.id}", {
                "subject": digest[:16], "purpose": rec.purpose, "scope": rec.scope, "grantee": rec.grantee,
                "expires_at": rec.expires_at, "channel": channel})
            return rec

    def withdraw(self, consent_id: str | None = None, *, subject_id: str | None = None,
                 purpose: str | None = None, grantee: str | None = None) -> list[ConsentRecord]:
        """Withdraw one consent by id, or every given consent of a subject (optionally per purpose/grantee)."""
        actor = self.fabric.actor
        actor.require(*RECORDERS, action="withdraw consents")
        if consent_id is None and subject_id is None:
            raise ValidationFailed("say which consent to withdraw: its id, or the subject's ID number")
        with self.store.session() as s:
            q = select(ConsentRecord).where(ConsentRecord.status == "given")
            if consent_id is not None:
                q = q.where(ConsentRecord.id == consent_id)
            if subject_id is not None:
                q = q.where(ConsentRecord.subject_hash == self.subject_hash(subject_id))
            if purpose is not None:
                q = q.where(ConsentRecord.purpose == purpose.strip())
            if grantee is not None:
                q = q.where(ConsentRecord.grantee == grantee.strip())
            rows = list(s.scalars(q))
            if not rows:
                raise NotFound("no consent in force matches; list them with `govfabric security consent list`")
            now = utcnow()
            for r in rows:
                r.status, r.withdrawn_at, r.withdrawn_by = "withdrawn", now, actor.name
                append(s, actor.name, "consent.withdraw", f"consent:{r.id}",
                       {"subject": r.subject_hash[:16], "purpose": r.purpose, "grantee": r.grantee})
            return rows

    def check(self, subject_id: str, purpose: str, scope: list[str] | str, grantee: str) -> ConsentDecision:
        """Whether a consent in force covers ``scope`` for ``purpose`` and ``grantee``; audited."""
        actor = self.fabric.actor
        actor.require(*RECORDERS, action="check consents")
        digest = self.subject_hash(subject_id)
        purpose, grantee, wanted = _text(purpose, "purpose"), _text(grantee, "grantee"), _scope(scope)
        with self.store.session() as s:
            rows = list(s.scalars(select(ConsentRecord).where(
                ConsentRecord.subject_hash == digest, ConsentRecord.purpose == purpose,
                ConsentRecord.grantee == grantee).order_by(ConsentRecord.given_at.desc())))
            decision = self._decide(rows, wanted)
            ev = append(s, actor.name, "consent.check", f"consent:{decision.consent_id or '-'}", {
                "subject": digest[:16], "purpose": purpose, "scope": wanted, "grantee": grantee,
                "allowed": decision.allowed, "reason": decision.reason})
            checked = ConsentDecision(decision.allowed, decision.reason, decision.consent_id, decision.expires_at,
                                      decision.missing_scope, ev.seq, digest, purpose, grantee, tuple(wanted),
                                      utcnow())
            return replace(checked, seal=self._seal(checked))

    def covers(self, decision: ConsentDecision | None, subject_id: str, purpose: str, scope: list[str] | str,
               grantee: str) -> bool:
        """Whether ``decision`` — an allowing answer of :meth:`check` (its seal intact), for the same
        subject, purpose and grantee, with a scope holding all of ``scope``, checked within
        :data:`DECISION_TTL` — answers this question too: a later step of the same call (the licence
        library's read for a prefill run) relies on it instead of checking and auditing again."""
        if decision is None or not decision.allowed or decision.seal is None or decision.checked_at is None:
            return False
        if not hmac.compare_digest(decision.seal, self._seal(decision)):
            return False
        if utcnow() - decision.checked_at > DECISION_TTL:
            return False
        if decision.purpose != purpose.strip() or decision.grantee != grantee.strip():
            return False
        if not set(_scope(scope)) <= set(decision.scope):
            return False
        return hmac.compare_digest(decision.subject or "", self.subject_hash(subject_id))

    def _seal(self, d: ConsentDecision) -> str:
        """An HMAC over what a decision says, under a workspace-derived key: only :meth:`check` makes one
        that :meth:`covers` accepts (a decision built or altered by a caller is checked afresh)."""
        if self._seal_key is None:
            self._seal_key = self.fabric.secrets.derive("consent-decision")
        body = json.dumps([d.allowed, d.consent_id, d.trace, d.subject, d.purpose, d.grantee, list(d.scope),
                           d.checked_at.isoformat() if d.checked_at else None], ensure_ascii=False)
        return hmac.new(self._seal_key, body.encode("utf-8"), hashlib.sha256).hexdigest()

    @staticmethod
    def _decide(rows: list[ConsentRecord], wanted: list[str]) -> ConsentDecision:
        now = utcnow()
        if not rows:
            return ConsentDecision(False, "the subject has given no consent for this purpose and grantee")
        in_force = [r for r in rows if r.status == "given" and (r.expires_at is None or r.expires_at > now)]
        for r in in_force:
            missing = [w for w in wanted if w not in set(r.scope)]
            if not missing:
                return ConsentDecision(True, "consent in force", r.id, r.expires_at)
        if in_force:
            best = in_force[0]
            missing = [w for w in wanted if w not in set(best.scope)]
            return ConsentDecision(False, f"the consent does not cover {', '.join(missing)}", best.id,
                                   best.expires_at, missing)
        last = rows[0]
        if last.status == "withdrawn":
            return ConsentDecision(False, f"the consent was withdrawn at {last.withdrawn_at:%Y-%m-%d %H:%M}",
                                   last.id, last.expires_at)
        return ConsentDecision(False, f"the consent expired at {last.expires_at:%Y-%m-%d %H:%M}", last.id,
                               last.expires_at)

    def records(self, subject_id: str | None = None, *, grantee: str | None = None,
                in_force_only: bool = False) -> list[ConsentRecord]:
        self.fabric.actor.require(*READERS, action="read consent records")
        with self.store.session() as s:
            q = select(ConsentRecord).order_by(ConsentRecord.given_at)
            if subject_id is not None:
                q = q.where(ConsentRecord.subject_hash == self.subject_hash(subject_id))
            if grantee is not None:
                q = q.where(ConsentRecord.grantee == grantee)
            rows = list(s.scalars(q))
        if in_force_only:
            now = utcnow()
            rows = [r for r in rows if r.status == "given" and (r.expires_at is None or r.expires_at > now)]
        return rows
