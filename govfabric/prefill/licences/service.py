"""The e-licence library (§9.5.2): import, read by holder, verify, revoke, anchor.

Importing and revoking are steward actions of the licence's department (or an admin's). A licence
is read only by its holder (a person principal linked to the holder's identifier), the issuing
department's stewards, auditors and admins, and a service item's principal acting for an applicant
who consented to that licence type for that item (``item=``); every read is audited
(``licence.read``) with the holder's identifier hashed under a workspace-derived key. Licence files
live under ``<home>/licences/`` (0640, written atomically) with their SHA-256 and SM3 digests recorded at import.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from govfabric.auth.audit import append
from govfabric.auth.readpath import may_steward, require_steward
from govfabric.errors import AccessDenied, Conflict, NotFound, ValidationFailed
from govfabric.identifiers import validate_resident_id, validate_uscc
from govfabric.outputs import DIR_MODE, AtomicFolder, atomic_folder, synced_together
from govfabric.prefill.licences import importers
from govfabric.prefill.licences.identifier import authority_problem, complete_identifier, parse_identifier
from govfabric.prefill.licences.models import Licence
from govfabric.store.base import new_id, utcnow
from govfabric.store.bulk import bulk_insert

if TYPE_CHECKING:
    from govfabric.auth.principals import Actor
    from govfabric.fabric import Fabric
    from govfabric.governance.security.consent import ConsentDecision
    from govfabric.prefill.spec import ItemSpec

    #: a service item by name, or its spec as the caller (a prefill run) already holds it
    ItemRef = str | ItemSpec

STATUSES = ("valid", "revoked", "expired", "suspended")
STATUS_ALIASES = {"有效": "valid", "正常": "valid", "吊销": "revoked", "撤销": "revoked", "注销": "revoked",
                  "废止": "revoked", "已过期": "expired", "过期": "expired", "失效": "expired",
                  "暂停": "suspended", "中止": "suspended", "挂起": "suspended", "迁出": "suspended"}
HOLDER_TYPES = {"uscc": "uscc", "统一社会信用代码": "uscc", "001": "uscc",
                "resident_id": "resident_id", "公民身份号码": "resident_id", "居民身份证": "resident_id",
                "111": "resident_id"}
OVERSEERS = ("auditor",)  # and admins: every licence
MAX_FILE = 64 * 1024 * 1024
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,10}$")
_OPEN_ENDED = ("", "长期", "永久", "-")


@dataclass(frozen=True)
class LicenceView:
    """What callers (the prefill service, the CLI) see of a licence."""

    id: str
    identifier: str
    type_code: str
    type_name: str
    holder_name: str
    holder_id: str
    authority: str
    authority_code: str
    issued_on: date
    valid_from: date
    valid_until: date | None
    status: str
    sha256: str | None
    sm3: str | None
    file_name: str | None


@dataclass(frozen=True)
class Verification:
    """``ok`` when every check passed; ``reasons`` names each one that did not."""

    ok: bool
    reasons: list[str]
    checked_at: datetime
    licence_id: str = ""


@dataclass(frozen=True)
class ImportResult:
    imported: int
    ids: list[str] = field(default_factory=list)
    files: int = 0
    completed_check_chars: int = 0  # identifiers written without their check character (legacy)


def holder_type(holder_id: str, declared: str | None = None) -> str:
    """``uscc`` or ``resident_id`` for a valid holder identifier; :class:`ValidationFailed` otherwise."""
    kind = HOLDER_TYPES.get((declared or "").strip().lower()) or HOLDER_TYPES.get((declared or "").strip())
    if declared and kind is None:
        raise ValidationFailed(f"holder identifier type {declared!r} is unknown; use uscc (统一社会信用代码) "
                               "or resident_id (公民身份号码)")
    if kind is None:  # undeclared: a credit code may be all digits too (91110101127845529Y), so try both
        looks_personal = holder_id[:17].isdigit() and len(holder_id) == 18
        first, second = ("resident_id", "uscc") if looks_personal else ("uscc", "resident_id")
        try:
            _VALIDATE[first](holder_id)
            return first
        except ValidationFailed:
            try:
                _VALIDATE[second](holder_id)
                return second
            except ValidationFailed:
                pass
        kind = first  # neither: report against the likelier reading
    _VALIDATE[kind](holder_id)
    return kind


_VALIDATE: dict[str, Callable[[str], None]] = {"uscc": validate_uscc, "resident_id": validate_resident_id}


def _date(text: str, what: str) -> date:
    t = text.strip()
    if len(t) == 10 and t[4] == t[7] == "-" and t.isascii() and t[:4].isdigit() and t[5:7].isdigit() \
            and t[8:].isdigit():
        try:  # YYYY-MM-DD, nearly every date: what strptime's first format gives, ~10x cheaper
            return date.fromisoformat(t)
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d", "%Y年%m月%d日"):
        try:
            return datetime.strptime(t, fmt).date()
        except ValueError:
            continue
    raise ValidationFailed(f"{what} {text!r} is not a date; write YYYY-MM-DD")


def _status(text: str) -> str:
    t = (text or "valid").strip()
    s = STATUS_ALIASES.get(t) or t.lower()
    if s not in STATUSES:
        raise ValidationFailed(f"status {text!r} is unknown; use one of {', '.join(STATUSES)} (or 有效, 吊销, "
                               "注销, 已过期, 暂停)")
    return s


def _view(row: Licence) -> LicenceView:
    return LicenceView(row.id, row.identifier, row.type_code, row.type_name, row.holder_name, row.holder_id,
                       row.authority, row.authority_code, row.issued_on, row.valid_from, row.valid_until,
                       row.status, row.sha256, row.sm3, row.file_name)


#: a row's licence file: a path, or (name, content) given in memory, or none
Source = Path | tuple[str, bytes] | None


def _chunks(src: Path | tuple[str, bytes]) -> Iterator[bytes]:
    if isinstance(src, tuple):
        yield src[1]
        return
    with src.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            yield chunk


def _digests(path: Path) -> tuple[str, str, int]:
    sha, sm3, size = hashlib.sha256(), hashlib.new("sm3"), 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
            sm3.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), sm3.hexdigest(), size


class Licences:
    """``fabric.licences``."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric

    @property
    def root(self) -> Path:
        """Where licence files are kept: ``<home>/licences``."""
        return Path(self.fabric.settings.home) / "licences"

    # -- reading (the prefill service's contract) ---------------------------------------------------

    def for_holder(self, holder_id: str, *, item: ItemRef | None = None,
                   consent: ConsentDecision | None = None) -> list[LicenceView]:
        """The licences held by ``holder_id`` (credit code or resident ID, validated) that the actor
        may read (see :meth:`_readable`; ``item``: the service item a service principal reads for;
        ``consent``: the caller's own decision for the holder, relied on when it covers the item's
        licences); audited."""
        holder_type(holder_id)
        readable = self._readable(holder_id, item, consent)
        with self.fabric.store.session() as s:
            rows = s.scalars(select(Licence).where(Licence.holder_id == holder_id)
                             .order_by(Licence.type_name, Licence.issued_on.desc(), Licence.id)).all()
            views = [_view(r) for r in rows if readable(r)]
            self._audit_read(s, holder_id, [v.id for v in views], "for_holder", consent)
        return views

    def get(self, licence_id: str, *, item: ItemRef | None = None,
            consent: ConsentDecision | None = None) -> LicenceView:
        """One licence by its id or its GB/T 36904 identifier; audited."""
        with self.fabric.store.session() as s:
            row = self._row(s, licence_id)
            self._require_readable(row, item, consent)
            view = _view(row)
            self._audit_read(s, view.holder_id, [view.id], "get", consent)
        return view

    def verify(self, licence_id: str, *, on: date | None = None, item: ItemRef | None = None,
               consent: ConsentDecision | None = None) -> Verification:
        """Check the stored file against its digests, the status, the validity on ``on`` (today),
        the identifier's structure and check character and the holder identifier; audited."""
        on = on or date.today()
        with self.fabric.store.session() as s:
            row = self._row(s, licence_id)
            self._require_readable(row, item, consent)
            reasons = self._problems(row, on)
            result = Verification(not reasons, reasons, utcnow(), row.id)
            append(s, self.fabric.user, "licence.verify", f"licence:{row.id}",
                   {"holder": self._holder_hash(row.holder_id), "ok": result.ok, "reasons": reasons,
                    "on": on.isoformat()})
        return result

    # -- who reads which licence -------------------------------------------------------------------

    def _readable(self, holder_id: str, item: ItemRef | None,
                  consent: ConsentDecision | None = None) -> Callable[[Licence], bool]:
        """Which of ``holder_id``'s licences the actor may read: all of them for auditors, admins and
        the holder; those of the types the applicant consented to for ``item`` for that item's
        service principal; those its department issued for a steward. Anyone else: AccessDenied."""
        from govfabric.prefill.applicants import linked_applicant

        actor = self.fabric.actor  # read once: inside a transaction each read is a query
        if actor.has(*OVERSEERS) or linked_applicant(self.fabric, actor) == holder_id.strip().upper():
            return lambda row: True
        if item is not None:
            types = self._consented_types(holder_id, item, consent, actor)
            return lambda row: row.type_code in types
        if "steward" in actor.roles:
            return lambda row: may_steward(actor, row.department)
        raise AccessDenied(f"{actor.name} may not read e-licences of this holder: only the holder, a steward of "
                           "the issuing department, an auditor or admin, or a service item's principal for an "
                           "applicant who consented (pass the item) may")

    def _require_readable(self, row: Licence, item: ItemRef | None,
                          consent: ConsentDecision | None = None) -> None:
        if not self._readable(row.holder_id, item, consent)(row):
            name = item if isinstance(item, str) or item is None else item.name
            raise AccessDenied(f"{self.fabric.user} may not read e-licence {row.identifier}: it was issued "
                               f"by another department{' or is not consented for ' + name if name else ''}")

    def _consented_types(self, holder_id: str, item: ItemRef, consent: ConsentDecision | None = None,
                         actor: Actor | None = None) -> set[str]:
        """The licence types ``item`` attaches, when the actor is its service principal and the holder
        consented to all of them: ``consent`` when it covers them (the caller's own check, already
        audited — :meth:`Consents.covers`), else the consent module's check, audited."""
        actor = actor or self.fabric.actor
        spec = self.fabric.prefill.spec(item) if isinstance(item, str) else item
        if actor.name != spec.principal:
            raise AccessDenied(f"{actor.name} may not read e-licences for {spec.name}: only its service principal "
                               f"{spec.principal} does")
        types = sorted({m.licence_type for m in spec.materials if m.licence_type and m.shared})
        if not types:
            raise AccessDenied(f"{spec.name} attaches no licences; nothing to read for it")
        scope = [f"licence:{t}" for t in types]
        consents = self.fabric.security.consent
        if consents.covers(consent, holder_id, spec.purpose, scope, spec.principal):
            return set(types)
        decision = consents.check(holder_id, spec.purpose, scope, spec.principal)
        if not decision.allowed:
            raise AccessDenied(f"the holder has not consented to {spec.principal} reading their licences for "
                               f"{spec.title}: {decision.reason}; record it with `govfabric security consent give`")
        return set(types)

    def _problems(self, row: Licence, on: date) -> list[str]:
        reasons = self._file_problems(row)
        if row.status != "valid":
            why = f" ({row.status_reason})" if row.status_reason else ""
            reasons.append(f"the licence is {row.status}{why}")
        if on < row.valid_from:
            reasons.append(f"the licence is not valid before {row.valid_from.isoformat()}")
        if row.valid_until is not None and on > row.valid_until:
            reasons.append(f"the licence expired on {row.valid_until.isoformat()}")
        try:
            ident = parse_identifier(row.identifier)
            if ident.type_code != row.type_code or ident.authority_code != row.authority_code:
                reasons.append("the identifier's type or authority code differs from the licence's")
        except ValidationFailed as exc:
            reasons.append(f"the identifier is not valid: {exc}")
        try:
            holder_type(row.holder_id, row.holder_id_type)
        except ValidationFailed:
            reasons.append(f"the holder identifier ({row.holder_id_type}) fails its structure or check character")
        return reasons

    def _file_problems(self, row: Licence) -> list[str]:
        if not row.stored_name or not row.sha256 or not row.sm3:
            return ["no licence file is stored; import the licence with its file (--files DIR)"]
        path = self.root / row.stored_name
        if not path.is_file():
            return [f"the licence file {row.file_name} is missing from the library"]
        sha, sm3, _ = _digests(path)
        problems = []
        if not hmac.compare_digest(sha, row.sha256):
            problems.append("the licence file's SHA-256 digest does not match the one recorded at import "
                            "(the file was changed or replaced)")
        if not hmac.compare_digest(sm3, row.sm3):
            problems.append("the licence file's SM3 digest does not match the one recorded at import")
        return problems

    def file_path(self, licence_id: str, *, item: str | None = None) -> Path | None:
        """The stored licence file (for attaching it); read access as :meth:`get`, audited."""
        view = self.get(licence_id, item=item)
        with self.fabric.store.session() as s:
            row = s.get(Licence, view.id)
            return self.root / row.stored_name if row is not None and row.stored_name else None

    def _holder_hash(self, holder_id: str) -> str:
        key = self.__dict__.get("_holder_key")
        if key is None:
            key = self.__dict__["_holder_key"] = self.fabric.secrets.derive("licence-holder")
        return hmac.new(key, holder_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def _audit_read(self, s: Any, holder_id: str, ids: list[str], via: str,
                    consent: ConsentDecision | None = None) -> None:
        digest = self._holder_hash(holder_id)
        details: dict[str, Any] = {"holder": digest, "licences": ids, "via": via}
        if consent is not None and consent.trace is not None:
            details["consent_check"] = consent.trace  # the audited check the read relied on
        append(s, self.fabric.user, "licence.read", f"licence-holder:{digest[:16]}", details)

    @staticmethod
    def _row(s: Any, licence_id: str) -> Licence:
        row = s.scalars(select(Licence).where(or_(Licence.id == licence_id, Licence.identifier == licence_id))
                        ).first()
        if row is None:
            raise NotFound(f"no licence {licence_id!r}; find one with `govfabric licence list --holder ID`")
        return row

    # -- import --------------------------------------------------------------------------------------

    def import_file(self, path: str | Path, *, files: str | Path | None = None,
                    department: str | None = None) -> ImportResult:
        """Import an XML or CSV file (see :mod:`.importers`); all or nothing."""
        path = Path(path)
        return self.import_rows(importers.read_rows(path), files=files, department=department, source=path.name)

    def import_rows(self, rows: Sequence[importers.Row], *, files: str | Path | None = None,
                    department: str | None = None, source: str = "rows",
                    documents: Mapping[str, bytes] | None = None) -> ImportResult:
        """Validate every row; when one has a problem, raise them all and write nothing.
        ``documents``: the rows' files by name, held in memory by the caller (the demo renders
        them), instead of a folder (``files``): no temporary copy written and read back."""
        actor = self.fabric.actor
        department = department or actor.department
        if not department:
            raise ValidationFailed("say which department issues these licences (--department); its stewards "
                                   "import and revoke them")
        require_steward(actor, department, "import licences")
        files_dir = Path(files).resolve() if files is not None else None
        if files_dir is not None and not files_dir.is_dir():
            raise ValidationFailed(f"--files {files} is not a folder")
        parsed, problems, completed = self._parse_all(rows, files_dir, documents)
        if problems:
            raise ValidationFailed(f"{source}: {len(problems)} problem(s); nothing imported", problems)
        if not parsed:
            raise ValidationFailed(f"{source} holds no licences")
        return self._write(parsed, department, source, completed)

    def _parse_all(self, rows: Sequence[importers.Row], files_dir: Path | None,
                   documents: Mapping[str, bytes] | None = None
                   ) -> tuple[list[tuple[dict[str, Any], Source]], list[str], int]:
        parsed: list[tuple[dict[str, Any], Source]] = []
        problems: list[str] = []
        completed = 0
        seen: dict[str, str] = {}
        for where, values in rows:
            row_problems: list[str] = []
            values_out, src, was_completed = self._parse(values, files_dir, row_problems, documents)
            problems.extend(f"{where}: {p}" for p in row_problems)
            if row_problems:
                continue
            completed += was_completed
            ident = values_out["identifier"]
            if ident in seen:
                problems.append(f"{where}: identifier {ident} is also on {seen[ident]}")
                continue
            seen[ident] = where
            parsed.append((values_out, src))
        if seen:
            with self.fabric.store.session() as s:
                known = set()
                idents = list(seen)
                for i in range(0, len(idents), 500):
                    known |= set(s.scalars(select(Licence.identifier)
                                           .where(Licence.identifier.in_(idents[i:i + 500]))))
            problems.extend(f"{seen[i]}: licence {i} is already in the library" for i in sorted(known))
        return parsed, problems, completed

    def _parse(self, values: dict[str, str], files_dir: Path | None, problems: list[str],
               documents: Mapping[str, bytes] | None = None) -> tuple[dict[str, Any], Source, bool]:
        if "__error__" in values:
            problems.append(values["__error__"])
            return {}, None, False
        out: dict[str, Any] = {}
        for name in ("identifier", "type_name", "holder_name", "holder_id", "authority", "authority_code",
                     "issued_on"):
            if not values.get(name):
                problems.append(f"{name} is missing")
        if problems:
            return {}, None, False

        def check(fn: Any, *args: Any) -> Any:
            try:
                return fn(*args)
            except ValidationFailed as exc:
                problems.append(str(exc))
                return None

        ident_text, was_completed = check(complete_identifier, values["identifier"]) or (values["identifier"],
                                                                                         False)
        ident = check(parse_identifier, ident_text)
        out["identifier"] = ident_text
        out["type_code"] = values.get("type_code") or (ident.type_code if ident else "")
        if ident and ident.type_code != out["type_code"]:
            problems.append(f"type code {out['type_code']} differs from the identifier's {ident.type_code}")
        out["authority_code"] = values["authority_code"]
        before = len(problems)
        if (problem := authority_problem(values["authority_code"])) is not None:
            problems.append(problem)
        if len(problems) == before and ident and ident.authority_code != values["authority_code"]:
            problems.append(f"authority code {values['authority_code']} differs from the identifier's "
                            f"{ident.authority_code}")
        out["holder_id_type"] = check(holder_type, values["holder_id"], values.get("holder_id_type"))
        for name in ("number", "type_name", "holder_name", "holder_id", "authority"):
            out[name] = values.get(name) or None
        out["issued_on"] = check(_date, values["issued_on"], "issued_on")
        out["valid_from"] = (check(_date, values["valid_from"], "valid_from") if values.get("valid_from")
                             else out["issued_on"])
        until = values.get("valid_until") or ""
        out["valid_until"] = None if until.strip() in _OPEN_ENDED else check(_date, until, "valid_until")
        if out["valid_from"] and out["valid_until"] and out["valid_until"] < out["valid_from"]:
            problems.append(f"valid_until {out['valid_until']} is before valid_from {out['valid_from']}")
        out["status"] = check(_status, values.get("status") or "valid")
        src = self._source_file(values.get("file") or "", files_dir, problems, documents)
        return out, src, was_completed

    @staticmethod
    def _source_file(name: str, files_dir: Path | None, problems: list[str],
                     documents: Mapping[str, bytes] | None = None) -> Source:
        if not name:
            return None
        if documents is not None:
            data = documents.get(name)
            if data is None:
                problems.append(f"names the file {name!r}, which is not among the documents given")
                return None
            if len(data) > MAX_FILE:
                problems.append(f"file {name!r} is larger than {MAX_FILE // (1024 * 1024)} MiB")
                return None
            return name, data
        if files_dir is None:
            problems.append(f"names the file {name!r}; give the folder holding it with --files DIR")
            return None
        target = (files_dir / name).resolve()
        if not target.is_relative_to(files_dir) or not target.is_file():
            problems.append(f"file {name!r} is not a file inside {files_dir}")
            return None
        if target.stat().st_size > MAX_FILE:
            problems.append(f"file {name!r} is larger than {MAX_FILE // (1024 * 1024)} MiB")
            return None
        return target

    def _write(self, parsed: list[tuple[dict[str, Any], Source]], department: str, source: str,
               completed: int) -> ImportResult:
        actor = self.fabric.actor.name
        written: list[Path] = []
        now = utcnow()
        root = self.root
        written_any = any(src is not None for _, src in parsed)
        if written_any:
            root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        inside = root.resolve()
        try:
            # every file on disk before the commit that records them
            with synced_together(), atomic_folder(root, inside) if written_any else nullcontext() as folder:
                rows = [self._licence(values, src, department, actor, now, written, folder)
                        for values, src in parsed]
            with self.fabric.store.session() as s:
                bulk_insert(s.connection(), Licence.__table__, rows)  # one statement, not 2,000 ORM objects
                append(s, actor, "licence.import", f"licences:{department}",
                       {"source": source, "count": len(rows), "files": len(written),
                        "identifiers": [r["identifier"] for r in rows], "completed_check_chars": completed})
        except BaseException:
            for p in written:
                p.unlink(missing_ok=True)
            raise
        return ImportResult(len(rows), [r["id"] for r in rows], len(written), completed)

    @staticmethod
    def _licence(values: dict[str, Any], src: Source, department: str, actor: str, now: datetime,
                 written: list[Path], folder: AtomicFolder | None) -> dict[str, Any]:
        """The row's values (every row the same keys), and its file copied into ``folder`` (the
        licence root, opened once for all files) with its digests."""
        row = {"id": new_id(), "department": department, "imported_by": actor, "imported_at": now, **values,
               "file_name": None, "stored_name": None, "size": None, "sha256": None, "sm3": None}
        if src is not None:
            name = src[0] if isinstance(src, tuple) else src.name
            ext = Path(name).suffix.lower()
            assert folder is not None  # opened when any row has a file
            target = folder.path / f"{row['id']}{ext if _SUFFIX.match(ext) else ''}"
            sha, sm3, size = hashlib.sha256(), hashlib.new("sm3"), 0
            with folder.open(target.name) as out:
                for chunk in _chunks(src):
                    sha.update(chunk)
                    sm3.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            written.append(target)
            row.update(file_name=name, stored_name=target.name, size=size, sha256=sha.hexdigest(),
                       sm3=sm3.hexdigest())
        return row

    # -- steward actions ------------------------------------------------------------------------------

    def revoke(self, licence_id: str, reason: str) -> LicenceView:
        """Revoke a licence (a steward of its department, or an admin); the reason is kept."""
        if not reason or not reason.strip():
            raise ValidationFailed("give the reason for revoking (--reason)")
        actor = self.fabric.actor
        with self.fabric.store.session() as s:
            row = self._row(s, licence_id)
            require_steward(actor, row.department, "revoke this licence")
            if row.status == "revoked":
                raise Conflict(f"licence {row.identifier} is already revoked ({row.status_reason})")
            old = row.status
            row.status, row.status_reason = "revoked", reason.strip()
            row.status_changed_by, row.status_changed_at = actor.name, utcnow()
            append(s, actor.name, "licence.revoke", f"licence:{row.id}",
                   {"identifier": row.identifier, "from": old, "reason": row.status_reason})
            return _view(row)

    def anchor(self, licence_id: str) -> dict[str, Any]:
        """Anchor the licence file's SHA-256 on the chain (kind ``licence``); a steward action."""
        actor = self.fabric.actor
        with self.fabric.store.session() as s:
            row = self._row(s, licence_id)
            require_steward(actor, row.department, "anchor this licence")
            if row.anchor_id:
                raise Conflict(f"licence {row.identifier} is already anchored (anchor {row.anchor_id})")
            if not row.sha256:
                raise ValidationFailed(f"licence {row.identifier} has no file to anchor; import it with --files")
            lid, sha, meta = row.id, row.sha256, {"identifier": row.identifier, "sm3": row.sm3}
            department = row.department
        receipt = self.fabric.chain.anchor("licence", [(lid, sha)], meta, department=department)
        with self.fabric.store.session() as s:
            stored = self._row(s, lid)
            stored.anchor_id = receipt.anchor_id
            append(s, actor.name, "licence.anchor", f"licence:{lid}",
                   {"sha256": sha, "anchor": receipt.anchor_id, "tx": receipt.tx_hash})
        return {"licence": lid, "anchor": receipt.anchor_id, "tx_hash": receipt.tx_hash}

    def describe(self, licence_id: str, *, item: str | None = None) -> dict[str, Any]:
        """Everything recorded about one licence (for ``licence show``); a read, audited."""
        view = self.get(licence_id, item=item)
        with self.fabric.store.session() as s:
            row = self._row(s, view.id)
            return {**view.__dict__, "number": row.number, "holder_id_type": row.holder_id_type,
                    "department": row.department, "status_reason": row.status_reason, "size": row.size,
                    "anchor_id": row.anchor_id, "imported_by": row.imported_by, "imported_at": row.imported_at}


# -- the demo ----------------------------------------------------------------------------------------

DEMO_XML = Path("demo_data") / "files" / "licences" / "电子证照.xml"
DEMO_STEWARD = "steward_mr"


def _render(values: dict[str, str]) -> bytes:
    """A small licence document standing for the issued file (the demo has no OFD files)."""
    lines = [values.get("type_name", "电子证照"), ""]
    lines += [f"{k}: {values.get(k, '')}" for k in importers.FIELDS if k != "file" and values.get(k)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _completed(identifier: str) -> str:
    try:
        return complete_identifier(identifier)[0]
    except ValidationFailed:
        return identifier  # the import names the defect


def import_demo_licences(fabric: Fabric, *, types: Iterable[str] = ("营业执照",),
                         xml: str | Path | None = None) -> ImportResult:
    """Import the demo library's licences of ``types`` (营业执照 by default) with a rendered file each,
    as the market-regulation steward when the demo has one; licences already there are skipped.
    ``xml``: the demo's licence file (default ``<home>/demo_data/files/licences/电子证照.xml``)."""
    path = Path(xml) if xml is not None else Path(fabric.settings.home) / DEMO_XML
    if not path.is_file():
        raise NotFound(f"no demo licence library at {path}; run `govfabric demo` first")
    names = {p.name for p in fabric.principals()}
    acting = fabric.as_user(DEMO_STEWARD) if DEMO_STEWARD in names else fabric
    wanted = set(types)
    rows = [(w, v) for w, v in importers.read_rows(path) if v.get("type_name") in wanted]
    with fabric.store.session() as s:
        have = set(s.scalars(select(Licence.identifier)))
    fresh = [(w, v) for w, v in rows if _completed(v.get("identifier", "")) not in have] if have else rows
    if not fresh:
        return ImportResult(0)
    out: list[importers.Row] = []
    documents: dict[str, bytes] = {}
    for n, (where, values) in enumerate(fresh):
        name = f"licence-{n:06d}.txt"
        documents[name] = _render(values)
        out.append((where, {**values, "file": name}))
    return acting.licences.import_rows(out, source=path.name, documents=documents)
