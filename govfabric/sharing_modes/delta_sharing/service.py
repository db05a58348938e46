"""Delta Sharing (the open protocol, PROTOCOL.md of delta-io/delta-sharing) served from govfabric.

A *recipient* is a bearer token (shown once in its profile file, stored as a keyed digest) acting as
one principal: what it reads is what that principal's grants show, masks and row filters applied,
because every file is written from ``fabric.queries.stream`` acting as the principal. A *share*
holds ``schema.table`` names, each over a virtual table or view.

Table versions: a counter kept per shared table that moves when its source's fingerprint changes
(the virtual definition's version, the asset's harvest version and content signature), checked on
every version, metadata and query call. Files: one Parquet file per (table, version, principal,
policy and hints), named by its SHA-256 under ``<export_root>/.delta-sharing/``, served through
URLs signed with a workspace-derived key that expire (no bearer token on the file URL)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets as _secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlalchemy import select
from sqlglot import exp

from govfabric.auth.audit import append
from govfabric.auth.readpath import require_steward
from govfabric.errors import (
    AccessDenied,
    AlreadyExists,
    AuthenticationRequired,
    GovfabricError,
    NotFound,
    ValidationFailed,
)
from govfabric.outputs import atomic_open, export_path, export_root
from govfabric.sharing_modes.delta_sharing.models import DeltaFile, DeltaRecipient, DeltaShare, DeltaTable
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.orm import Session

    from govfabric.fabric import Fabric

TOKEN_PREFIX = "gfds_"
TOKEN_PURPOSE = "delta-sharing-recipients"
URL_PURPOSE = "delta-sharing-files"
#: a file URL lives this long (the client fetches right after the query)
URL_TTL_S = 3600
#: roles a recipient (a data consumer's token, its profile held by the steward who made it) may not act with
PRIVILEGED = frozenset({"admin", "steward", "auditor", "reviewer"})
CACHE_DIR = ".delta-sharing"
PROFILE_DIR = "delta-sharing"
PREFIX = "/delta-sharing"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,127}$")


def check_name(text: str, what: str) -> str:
    if not _NAME.match(text or ""):
        raise ValidationFailed(f"{what} {text!r} is not a valid name; use letters, digits, _ and - (max 128)")
    return text


def token_digest(fabric: Fabric, token: str) -> str:
    return hmac.new(fabric.secrets.derive(TOKEN_PURPOSE), token.encode(), hashlib.sha256).hexdigest()


def sign_file(fabric: Fabric, file_id: str, recipient: str, expires: int, policy: str = "") -> str:
    """The file URL's signature; ``policy`` (the principal's policy digest when the URL was made) binds
    it to the grants, masks and filters the file was written under: any change voids outstanding URLs."""
    message = "\n".join((file_id, recipient, str(expires), policy)).encode()
    return hmac.new(fabric.secrets.derive(URL_PURPOSE), message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Recipient:
    id: str
    name: str
    principal: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    #: the departments whose shared tables it reads (``None``: whatever its principal may read), as of
    #: :meth:`DeltaSharing.authenticate`: see :func:`_scope`
    scope: frozenset[str] | None = None


def _recipient(row: DeltaRecipient, scope: frozenset[str] | None = None) -> Recipient:
    return Recipient(row.id, row.name, row.principal, row.created_at, row.expires_at, row.revoked_at, scope)


def _scope(s: Session, row: DeltaRecipient) -> frozenset[str] | None:
    """What a recipient may read beyond its principal's grants: anything (``None``) when it acts as
    its maker or an admin made it; otherwise only tables owned by its maker's department. A steward's
    token acting as consumer X would else open what *other* departments shared with X — data the
    steward, who holds the token, may not read. A maker since deactivated or removed: nothing."""
    from govfabric.auth import principals

    if row.principal == row.created_by:
        return None
    try:
        maker = principals.get(s, row.created_by)
    except NotFound:
        return frozenset()
    if not maker.active:
        return frozenset()
    if "admin" in (maker.roles or []):
        return None
    return frozenset({maker.department}) if maker.department else frozenset()


@dataclass(frozen=True)
class Answer:
    """What a metadata or query call returns: the version, the table's metadata, file actions."""

    version: int
    metadata: dict[str, Any]
    files: list[dict[str, Any]]


class DeltaSharing:
    """The Delta Sharing mode, acting as ``fabric``'s principal (a recipient's, when serving, with the
    recipient's ``scope``: :func:`_scope`)."""

    def __init__(self, fabric: Fabric, scope: frozenset[str] | None = None) -> None:
        self.fabric = fabric
        self.store = fabric.store
        self.scope = scope

    # -- recipients (stewards and admins) -----------------------------------------------------------

    def add_recipient(self, name: str, principal: str, *, endpoint: str,
                      expires: timedelta | None = timedelta(days=30)) -> tuple[Recipient, Path]:
        """A recipient acting as ``principal``; writes its profile file (mode 0600, under the export
        root) holding the bearer token, which is stored only as a keyed digest."""
        from govfabric.auth import principals

        actor = self.fabric.actor
        actor.require("steward", action="add a Delta Sharing recipient")
        check_name(name, "recipient")
        token = TOKEN_PREFIX + _secrets.token_urlsafe(32)
        with self.store.session() as s:
            acting = principals.get(s, principal)  # NotFound names the fix
            if set(acting.roles or []) & PRIVILEGED and principal != actor.name and "admin" not in actor.roles:
                raise AccessDenied(f"a recipient acts as a data consumer; {principal} holds "
                                   f"{', '.join(sorted(set(acting.roles or []) & PRIVILEGED))} rights and only "
                                   "an admin may issue a token acting as them")
            if s.scalar(select(DeltaRecipient).where(DeltaRecipient.name == name)) is not None:
                raise AlreadyExists(f"recipient {name} exists; revoke it or pick another name")
            row = DeltaRecipient(name=name, principal=principal, digest=token_digest(self.fabric, token),
                                 created_by=actor.name, expires_at=(utcnow() + expires) if expires else None)
            s.add(row)
            s.flush()
            path = self._write_profile(name, endpoint, token, row.expires_at)
            append(s, actor.name, "delta.recipient.add", f"delta_recipient:{name}",
                   {"principal": principal, "expires_at": row.expires_at.isoformat() if row.expires_at else None})
            return _recipient(row), path

    def _write_profile(self, name: str, endpoint: str, token: str, expires: datetime | None) -> Path:
        profile = {"shareCredentialsVersion": 1, "endpoint": endpoint.rstrip("/"), "bearerToken": token,
                   "expirationTime": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z") if expires else None}
        target = export_path(self.fabric.settings, f"{PROFILE_DIR}/{name}.share")
        with atomic_open(target, inside=export_root(self.fabric.settings)) as fh:
            fh.write(json.dumps(profile, indent=2).encode())
        os.chmod(target, 0o600)
        return target

    def recipients(self) -> list[Recipient]:
        self.fabric.actor.require("steward", "auditor", action="list Delta Sharing recipients")
        with self.store.session() as s:
            return [_recipient(r) for r in s.scalars(select(DeltaRecipient).order_by(DeltaRecipient.name))]

    def revoke_recipient(self, name: str) -> Recipient:
        actor = self.fabric.actor
        actor.require("steward", action="revoke a Delta Sharing recipient")
        with self.store.session() as s:
            row = s.scalar(select(DeltaRecipient).where(DeltaRecipient.name == name))
            if row is None:
                raise NotFound(f"no recipient {name}; list them with `govfabric delta recipient list`")
            if row.created_by != actor.name:  # its maker's department's stewards, or an admin
                from govfabric.auth import principals

                try:
                    department = principals.get(s, row.created_by or "").department
                except NotFound:
                    department = None
                require_steward(actor, department, f"revoke recipient {name}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                append(s, actor.name, "delta.recipient.revoke", f"delta_recipient:{name}", {"principal": row.principal})
            return _recipient(row)

    def authenticate(self, token: str) -> Recipient:
        """The recipient a bearer token names: unknown → 401; revoked, expired or a disabled
        principal → 403 (the token was genuine but no longer opens anything)."""
        from govfabric.auth import principals

        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise AuthenticationRequired("the bearer token is not a govfabric Delta Sharing token; "
                                         "use the profile file your data provider sent")
        with self.store.session() as s:
            row = s.scalar(select(DeltaRecipient).where(DeltaRecipient.digest == token_digest(self.fabric, token)))
            if row is None:
                raise AuthenticationRequired("the bearer token is not known; ask your data provider for a profile")
            if row.revoked_at is not None:
                raise AccessDenied(f"recipient {row.name} was revoked; ask your data provider")
            if row.expires_at is not None and row.expires_at <= utcnow():
                raise AccessDenied(f"recipient {row.name}'s token has expired; ask for a new profile")
            if not principals.get(s, row.principal).active:
                raise AccessDenied(f"recipient {row.name}'s principal is deactivated")
            return _recipient(row, _scope(s, row))

    # -- shares and tables (stewards and admins) ----------------------------------------------------

    def create_share(self, name: str) -> DeltaShare:
        actor = self.fabric.actor
        actor.require("steward", action="create a Delta Sharing share")
        check_name(name, "share")
        with self.store.session() as s:
            if s.scalar(select(DeltaShare).where(DeltaShare.name == name)) is not None:
                raise AlreadyExists(f"share {name} exists")
            row = DeltaShare(name=name, created_by=actor.name)
            s.add(row)
            s.flush()
            append(s, actor.name, "delta.share.create", f"delta_share:{name}", {})
            s.expunge(row)
            return row

    def add_table(self, qualified: str, source: str) -> DeltaTable:
        """``share.schema.table`` over a virtual table or view ``source``."""
        from govfabric.virtualization.read import definition
        from govfabric.virtualization.tables import check_name as check_virtual

        actor = self.fabric.actor
        actor.require("steward", action="add a table to a Delta Sharing share")
        parts = qualified.split(".")
        if len(parts) != 3:
            raise ValidationFailed(f"{qualified!r} is not share.schema.table")
        share, schema, table = (check_name(p, w) for p, w in zip(parts, ("share", "schema", "table"), strict=True))
        source = check_virtual(source)
        with self.store.session() as s:
            self._share(s, share)
            found = definition(s, source)
            if found is None:
                raise NotFound(f"no virtual table or view {source}; list them with `govfabric vt list`")
            require_steward(actor, _owner_department(s, found), f"share {source} through Delta Sharing")
            if s.scalar(select(DeltaTable).where(DeltaTable.share == share, DeltaTable.schema_name == schema,
                                                 DeltaTable.name == table)) is not None:
                raise AlreadyExists(f"{qualified} exists in share {share}")
            row = DeltaTable(share=share, schema_name=schema, name=table, source=source, version=1,
                             fingerprint=_fingerprint(s, source), created_by=actor.name)
            s.add(row)
            s.flush()
            append(s, actor.name, "delta.table.add", f"delta_share:{share}", {"table": qualified, "source": source})
            s.expunge(row)
            return row

    def share_tables(self, share: str | None = None) -> list[DeltaTable]:
        """Every shared table (what a steward manages), of one share if given."""
        with self.store.session() as s:
            q = select(DeltaTable).order_by(DeltaTable.share, DeltaTable.schema_name, DeltaTable.name)
            rows = list(s.scalars(q.where(DeltaTable.share == share) if share else q))
            s.expunge_all()
            return rows

    # -- the protocol, acting as the recipient's principal ------------------------------------------

    def list_shares(self) -> list[dict[str, str]]:
        """Shares holding at least one table the caller may read."""
        readable = self._readable_tables(None)
        with self.store.session() as s:
            rows = s.scalars(select(DeltaShare).where(DeltaShare.name.in_({t.share for t in readable}))
                             .order_by(DeltaShare.name))
            return [{"name": r.name, "id": r.id} for r in rows]

    def get_share(self, share: str) -> dict[str, str]:
        with self.store.session() as s:
            row = self._share(s, share)
            if not self._readable_tables(share):
                raise NotFound(f"no share {share} for you")
            return {"name": row.name, "id": row.id}

    def list_schemas(self, share: str) -> list[dict[str, str]]:
        self.get_share(share)
        names = sorted({t.schema_name for t in self._readable_tables(share)})
        return [{"name": n, "share": share} for n in names]

    def list_tables(self, share: str, schema: str | None = None) -> list[dict[str, str]]:
        share_row = self.get_share(share)
        tables = [t for t in self._readable_tables(share) if schema is None or t.schema_name == schema]
        if schema is not None and not tables:
            raise NotFound(f"no schema {schema} in share {share}")
        return [{"name": t.name, "schema": t.schema_name, "share": t.share, "shareId": share_row["id"], "id": t.id}
                for t in tables]

    def version(self, share: str, schema: str, table: str) -> int:
        row = self._table(share, schema, table)
        self._plan(row)
        return row.version

    def metadata(self, share: str, schema: str, table: str) -> Answer:
        row = self._table(share, schema, table)
        return Answer(row.version, self._metadata(row, _target_schema(self._schema(row))), [])

    def query(self, share: str, schema: str, table: str, *, base_url: str, recipient: str,
              limit: int | None = None, predicate: dict[str, Any] | None = None,
              version: int | None = None) -> Answer:
        """Materialise (or reuse) the caller's Parquet file and return its signed URL."""
        row = self._table(share, schema, table)
        if version is not None and version != row.version:
            raise ValidationFailed(f"only the current version {row.version} of {share}.{schema}.{table} is served; "
                                   "query without a version")
        target = _target_schema(self._schema(row))
        f = self._materialise(row, target, limit, predicate)
        expires = int(time.time()) + URL_TTL_S
        sig = sign_file(self.fabric, f.id, recipient, expires, self._policy_digest(self.fabric.actor))
        url = f"{base_url.rstrip('/')}{PREFIX}/files/{f.id}?recipient={recipient}&expires={expires}&sig={sig}"
        action = {"url": url, "id": f.sha256, "partitionValues": {}, "size": f.size,
                  "stats": json.dumps({"numRecords": f.rows}), "expirationTimestamp": expires * 1000}
        return Answer(row.version, self._metadata(row, target), [action])

    def file_for_url(self, file_id: str, recipient: str, expires: int, sig: str) -> DeltaFile:
        """The file a signed URL names, after checking the signature, expiry and the recipient (a
        revoked recipient's outstanding URLs stop working)."""
        from govfabric.auth import principals

        if expires < time.time():
            raise AccessDenied("the file URL is not valid or has expired; query the table again")
        with self.store.session() as s:
            rec = s.scalar(select(DeltaRecipient).where(DeltaRecipient.name == recipient))
            row = s.get(DeltaFile, file_id)
            if rec is None or rec.revoked_at is not None or row is None or row.principal != rec.principal \
                    or (rec.expires_at is not None and rec.expires_at <= utcnow()):
                raise AccessDenied("the file URL is no longer valid; query the table again")
            table = s.get(DeltaTable, row.table_id)
            scope = _scope(s, rec)
            if table is None or not (scope is None or DeltaSharing(self.fabric, scope)._in_scope(s, table.source)):
                raise AccessDenied("the file URL is no longer valid; query the table again")
            p = principals.get(s, rec.principal)
            policy = self._policy_digest(principals.actor_of(p), s) if p.active else None
            s.expunge(row)
        want = sign_file(self.fabric, file_id, recipient, expires, policy or "")
        if policy is None or not hmac.compare_digest(want, sig.lower()):  # grants changed since: query again
            raise AccessDenied("the file URL is not valid or has expired; query the table again")
        if not _intact(Path(row.path), row.size):
            raise NotFound("the file is no longer cached; query the table again")
        return row

    # -- internals ----------------------------------------------------------------------------------

    def _policy_digest(self, actor: Any, session: Session | None = None) -> str:
        return hashlib.sha256(repr(self.fabric.access.policy_for(actor, session)).encode()).hexdigest()

    @staticmethod
    def _share(s: Session, name: str) -> DeltaShare:
        row = s.scalar(select(DeltaShare).where(DeltaShare.name == name))
        if row is None:
            raise NotFound(f"no share {name}")
        return row

    def _in_scope(self, s: Session, source: str) -> bool:
        """Whether the serving recipient's scope covers the table over ``source`` (its owner's department)."""
        if self.scope is None:
            return True
        from govfabric.virtualization.read import definition

        found = definition(s, source)
        return found is not None and _owner_department(s, found) in self.scope

    def _readable_tables(self, share: str | None) -> list[DeltaTable]:
        out = []
        tables = self.share_tables(share)
        if self.scope is not None:
            with self.store.session() as s:
                tables = [t for t in tables if self._in_scope(s, t.source)]
        for t in tables:
            try:
                self._plan(t)
            except GovfabricError:
                continue
            out.append(t)
        return out

    def _plan(self, row: DeltaTable) -> Any:
        planned, _ = self.fabric.queries.plan(_select(row.source))
        return planned

    def _table(self, share: str, schema: str, table: str) -> DeltaTable:
        """The shared table with its version brought up to date (the caller must be able to read it)."""
        with self.store.session() as s:
            row = s.scalar(select(DeltaTable).where(DeltaTable.share == share, DeltaTable.schema_name == schema,
                                                    DeltaTable.name == table))
            if row is None or not self._in_scope(s, row.source):
                raise NotFound(f"no table {share}.{schema}.{table}" + ("" if row is None else " for you"))
            fp = _fingerprint(s, row.source)
            if fp != row.fingerprint:
                row.version, row.fingerprint = row.version + 1, fp
                append(s, self.fabric.actor.name, "delta.table.version", f"delta_share:{share}",
                       {"table": f"{schema}.{table}", "version": row.version})
            s.flush()
            s.expunge(row)
        try:
            self._plan(row)
        except NotFound:
            raise NotFound(f"no table {share}.{schema}.{table} for you") from None
        return row

    def _schema(self, row: DeltaTable) -> pa.Schema:
        """The Arrow schema of the caller's rows (a ``LIMIT 0`` read through the guarded path)."""
        return self.fabric.sql(_select(row.source, limit=0)).schema

    @staticmethod
    def _metadata(row: DeltaTable, target: pa.Schema) -> dict[str, Any]:
        fields = [{"name": f.name, "type": _delta_type(f.type), "nullable": True, "metadata": {}} for f in target]
        return {"id": row.id, "name": row.name, "format": {"provider": "parquet", "options": {}},
                "schemaString": json.dumps({"type": "struct", "fields": fields}, ensure_ascii=False),
                "partitionColumns": [], "configuration": {}}

    def _materialise(self, row: DeltaTable, target: pa.Schema, limit: int | None,
                     hints: dict[str, Any] | None) -> DeltaFile:
        actor = self.fabric.actor
        masked = {c.lower() for cols in self._plan(row).masked_columns.values() for c in cols}
        where = _predicate(hints, {f.name for f in target} - masked) if hints else None
        sql = _select(row.source, limit=limit, where=where)
        with self.store.session() as s:
            policy = repr(self.fabric.access.policy_for(actor, s))
        request = hashlib.sha256(json.dumps([policy, sql]).encode()).hexdigest()
        with self.store.session() as s:
            found = s.scalars(select(DeltaFile).where(
                DeltaFile.table_id == row.id, DeltaFile.version == row.version, DeltaFile.principal == actor.name,
                DeltaFile.request == request).order_by(DeltaFile.created_at.desc())).first()
            if found is not None:
                s.expunge(found)
        if found is not None and _intact(Path(found.path), found.size):
            return found
        settings = self.fabric.settings
        root = export_root(settings)
        tmp = export_path(settings, f"{CACHE_DIR}/tmp/{uuid.uuid4().hex}.parquet")
        batches = self.fabric.queries.stream(sql, row_limit=settings.export_row_limit)
        with atomic_open(tmp, inside=root) as fh:
            rows = _write_parquet(batches, target, fh)
        sha = _sha256(tmp)
        final = export_path(settings, f"{CACHE_DIR}/{sha}.parquet")
        os.replace(tmp, final)  # content-addressed: the same bytes land on the same name
        f = DeltaFile(table_id=row.id, version=row.version, principal=actor.name, request=request,
                      path=str(final), rows=rows, size=final.stat().st_size, sha256=sha)
        with self.store.session() as s:
            s.add(f)
            s.flush()
            append(s, actor.name, "delta.file", f"delta_share:{row.share}",
                   {"table": f"{row.schema_name}.{row.name}", "version": row.version, "file": f.id, "rows": rows,
                    "size": f.size, "sha256": sha, "limit": limit, "predicate": where is not None})
            s.expunge(f)
        return f


def _owner_department(s: Session, found: Any) -> str | None:
    """The department owning a virtual table (its asset's) or a view (its creator's)."""
    from govfabric.auth import principals
    from govfabric.catalog.read import asset_by_id

    if found.kind == "table":
        asset = asset_by_id(s, found.asset_id)
        return asset.owner_department if asset else None
    try:
        return principals.get(s, found.created_by or "").department
    except NotFound:
        return None


def _fingerprint(s: Session, source: str) -> str:
    from govfabric.catalog.read import asset_by_id
    from govfabric.virtualization.read import definition

    found = definition(s, source)
    if found is None:
        raise NotFound(f"the shared object {source} no longer exists; ask the data provider")
    parts: list[Any] = [found.kind, found.version, found.definition]
    if found.kind == "table":
        asset = asset_by_id(s, found.asset_id)
        parts += [getattr(asset, "version", None), getattr(asset, "content_signature", None)]
    return hashlib.sha256(json.dumps(parts, default=str, ensure_ascii=False).encode()).hexdigest()


def _select(source: str, *, limit: int | None = None, where: exp.Expr | None = None) -> str:
    """``SELECT * FROM "schema"."name"`` built as a tree (the name is a checked virtual name)."""
    schema, _, table = source.partition(".")
    query = exp.select(exp.Star()).from_(exp.table_(table, db=schema, quoted=True))
    if where is not None:
        query = query.where(where)
    if limit is not None:
        query = query.limit(exp.Literal.number(limit))
    return query.sql(dialect="duckdb")


_CMP: dict[str, type[exp.Expression]] = {"equal": exp.EQ, "lessThan": exp.LT, "lessThanOrEqual": exp.LTE,
                                         "greaterThan": exp.GT, "greaterThanOrEqual": exp.GTE}
_NUMBERS = {"int", "long", "short", "byte", "float", "double"}


def _predicate(node: Any, columns: set[str]) -> exp.Expr | None:
    """A JSON predicate hint as a sqlglot condition with typed literals, or ``None`` where it cannot
    be used. Best effort and never narrower than the hint: an unusable conjunct is dropped, an
    unusable disjunct drops its whole ``or``; ``not`` is not used (dropping under it would narrow)."""
    if not isinstance(node, dict):
        return None
    op, children = node.get("op"), node.get("children") or []
    if op in ("and", "or") and isinstance(children, list) and children:
        parts = [_predicate(c, columns) for c in children]
        if op == "or" and any(p is None for p in parts):
            return None
        kept = [p for p in parts if p is not None]
        if not kept:
            return None
        return exp.and_(*kept) if op == "and" else exp.or_(*kept)
    if op == "isNull" and len(children) == 1:
        col = _column(children[0], columns)
        return exp.Is(this=col, expression=exp.Null()) if col is not None else None
    if op in _CMP and len(children) == 2:
        col, lit = _column(children[0], columns), _literal(children[1])
        if col is None or lit is None:
            return None
        return _CMP[op](this=col, expression=lit)
    return None


def _column(node: Any, columns: set[str]) -> exp.Expression | None:
    if isinstance(node, dict) and node.get("op") == "column" and node.get("name") in columns:
        return exp.column(str(node["name"]), quoted=True)
    return None


def _literal(node: Any) -> exp.Expression | None:
    if not isinstance(node, dict) or node.get("op") != "literal" or not isinstance(node.get("value"), str):
        return None
    value, kind = node["value"], node.get("valueType")
    if kind == "string":
        return exp.Literal.string(value)
    if kind in _NUMBERS and re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", value):
        return exp.Literal.number(value)
    if kind == "boolean" and value in ("true", "false"):
        return exp.Boolean(this=value == "true")
    if kind == "date" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return exp.cast(exp.Literal.string(value), exp.DataType.build("date"))
    return None


def _target(t: pa.DataType) -> pa.DataType:
    """The Arrow type a column is written as (one Delta type each); anything else becomes a string."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return pa.string()
    if pa.types.is_integer(t):
        return {8: pa.int8(), 16: pa.int16(), 32: pa.int32()}.get(t.bit_width, pa.int64()) \
            if pa.types.is_signed_integer(t) else {8: pa.int16(), 16: pa.int32()}.get(t.bit_width, pa.int64())
    if pa.types.is_float32(t) or pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_float64(t) or pa.types.is_boolean(t):
        return t
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_date(t):
        return pa.date32()
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_decimal(t) and t.precision <= 38:
        return pa.decimal128(t.precision, t.scale)
    return pa.string()


def _target_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, _target(f.type)) for f in schema])


def _delta_type(t: pa.DataType) -> str:
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    names = {pa.string(): "string", pa.int8(): "byte", pa.int16(): "short", pa.int32(): "integer",
             pa.int64(): "long", pa.float32(): "float", pa.float64(): "double", pa.bool_(): "boolean",
             pa.binary(): "binary", pa.date32(): "date", pa.timestamp("us", tz="UTC"): "timestamp"}
    return names.get(t, "string")


#: rows (and bytes) gathered into one row group: an engine's batches (64k rows from DuckDB, 10k from
#: PostgreSQL) written one row group each made the file 2.5× larger (dictionaries per small group) and
#: cost twice the CPU to write (1M rows: 0.88 → 0.44 s) — bounded so a wide table stays in memory bounds
ROW_GROUP_ROWS = 1 << 20
ROW_GROUP_BYTES = 128 << 20


def _write_parquet(batches: Iterator[pa.RecordBatch], target: pa.Schema, fh: Any) -> int:
    import pyarrow.parquet as pq

    rows = 0
    pending: list[pa.RecordBatch] = []
    size = count = 0
    with pq.ParquetWriter(fh, target, compression="zstd") as writer:
        for batch in batches:
            if batch.num_rows:
                pending.append(_cast(batch, target))
                rows += batch.num_rows
                count += batch.num_rows
                size += batch.nbytes
                if count >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
                    writer.write_table(pa.Table.from_batches(pending, target), row_group_size=count)
                    pending, size, count = [], 0, 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending, target), row_group_size=count)
    return rows


def _cast(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for col, field in zip(batch.columns, target, strict=True):
        if col.type == field.type:
            arrays.append(col)
        elif pa.types.is_timestamp(col.type) and col.type.tz is None:
            arrays.append(col.cast(pa.timestamp("us")).cast(field.type))
        else:
            arrays.append(col.cast(field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _intact(path: Path, size: int) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and path.stat().st_size == size
    except OSError:
        return False


def recipient_dict(r: Recipient) -> dict[str, Any]:
    return {"name": r.name, "principal": r.principal, "created_at": r.created_at.isoformat(),
            "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None}


def iter_ndjson(lines: list[dict[str, Any]]) -> Iterator[bytes]:
    for line in lines:
        yield (json.dumps(line, ensure_ascii=False) + "\n").encode()
