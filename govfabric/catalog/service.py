"""The catalog service: what the CLI, the server and Python users call (§8.4.1).

Every write checks the acting principal's role and appends an audit event in the
same transaction as the change.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, selectinload

from govfabric.auth.audit import append
from govfabric.auth.readpath import reads_source_data, signature_reads
from govfabric.catalog import memo, taxonomy
from govfabric.catalog import search as search_mod
from govfabric.catalog.harvest.meta import TableMeta
from govfabric.catalog.harvest.sync import SyncReport, roomy_sqlite_cache, sync_source, write_columns
from govfabric.catalog.models import Asset, AssetColumn, AssetVersion, Favourite, Notification, Source, Usage
from govfabric.catalog.read import active_ids
from govfabric.catalog.search_index import index_assets
from govfabric.catalog.search_index import remove as search_index_remove
from govfabric.catalog.sources import (
    check_name,
    dsn_with_secret,
    kind_of,
    parse_uri,
    seal_secret,
)
from govfabric.catalog.usage import record_usage
from govfabric.errors import AlreadyExists, Conflict, NotFound, SourceError, ValidationFailed
from govfabric.hooks import HarvestDone, emit
from govfabric.store.base import new_id, utcnow
from govfabric.store.bulk import paused_gc

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

STEWARD = ("steward",)
HarvestProgress = Callable[[str, int, int], None]
CLASSIFIABLE = ("level", "theme", "data_domain", "thematic_library", "sharing_class", "open_class",
                "update_frequency", "business_value", "asset_type")
LOCK_STALE_S = 3600


@dataclass
class SourceCheck:
    name: str
    ok: bool
    tables: int
    latency_ms: float
    message: str


def _lock_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"


def _lock_alive(token: str, since: Any) -> bool:
    host, pid, _ = (token.split(":") + ["", "", ""])[:3]
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, ValueError):
            return False
        except PermissionError:
            return True
        return True
    return since is not None and (utcnow() - since).total_seconds() < LOCK_STALE_S


class Catalog:
    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    # -- sources -----------------------------------------------------------------------------

    def add_source(self, name: str, uri: str, *, password_env: str | None = None, department: str | None = None,
                   description: str | None = None, options: dict[str, Any] | None = None,
                   replace: bool = False) -> Source:
        actor = self.fabric.actor
        actor.require(*STEWARD, action="register sources")
        check_name(name)
        parsed = parse_uri(uri)
        if parsed.path and not parsed.path.exists():
            raise SourceError(f"{parsed.path} does not exist; give the path of an existing "
                              f"{kind_of(parsed.kind).describe_missing()}")
        secret = seal_secret(parsed.password, password_env, self.fabric.secrets)
        with self.store.session() as s:
            src = s.scalar(select(Source).where(Source.name == name))
            if src is not None and not replace:
                raise AlreadyExists(f"source {name!r} is already registered ({src.uri}); "
                                    "use --replace to change it")
            dup = s.scalar(select(Source).where(Source.uri == parsed.uri, Source.name != name))
            if dup is not None:
                raise AlreadyExists(f"{parsed.uri} is already registered as source {dup.name!r}")
            if src is None:
                src = Source(name=name, created_by=actor.name)
                s.add(src)
            elif secret is None and src.uri == parsed.uri:
                secret = src.secret  # same URI, no new password: --replace changes the rest, keeps the secret
            src.kind, src.uri, src.secret = parsed.kind, parsed.uri, secret
            src.department = department or src.department or actor.department
            src.description = description or src.description
            src.options = options or src.options or {}
            s.flush()
            append(s, actor.name, "source.replace" if replace else "source.add", f"source:{name}",
                   {"kind": parsed.kind, "uri": parsed.uri,
                    "secret": "env" if password_env else ("sealed" if secret else None)})
            return src

    def source_dependants(self, name: str) -> dict[str, list[str]]:
        """What reads a source: its catalog assets and the virtual tables over them."""
        with self.store.session() as s:
            src = self.source(name, s)
            assets = dict(s.execute(select(Asset.id, Asset.qualified_name).where(Asset.source_id == src.id)).all())
        tables = sorted(t.name for t in self.fabric.virtual.tables() if t.asset_id in assets)
        return {"assets": sorted(assets.values()), "virtual_tables": tables}

    def remove_source(self, name: str, *, cascade: bool = False) -> dict[str, list[str]]:
        """Unregister a source (owning department's steward or admin). Refused while assets or virtual
        tables use it unless ``cascade``: then the virtual tables are dropped by their owners' rules
        (masks, row filters and grants go with them; views over them become broken), the assets are
        removed, and the source last — all in one transaction. Returns what went."""
        from govfabric.auth.readpath import require_steward

        actor = self.fabric.actor
        actor.require(*STEWARD, "admin", action="remove sources")
        require_steward(actor, self.source(name).department, f"remove source {name}")
        with self.store.session() as s:  # one transaction: a failure anywhere removes nothing
            gone = self.source_dependants(name)
            if (gone["assets"] or gone["virtual_tables"]) and not cascade:
                used = "; ".join(f"{k.replace('_', ' ')}: {', '.join(v)}" for k, v in gone.items() if v)
                raise Conflict(f"source {name!r} is in use ({used}); remove those first, or remove everything "
                               "with --cascade")
            for table in gone["virtual_tables"]:
                self.fabric.virtual.drop_table(table, force=True)  # joins this transaction
            src = self.source(name, s)
            ids = list(s.scalars(select(Asset.id).where(Asset.source_id == src.id)))
            search_index_remove(s, ids)
            s.execute(delete(Asset).where(Asset.id.in_(ids)))  # columns, versions, usage: ON DELETE CASCADE
            s.delete(src)
            append(s, actor.name, "source.remove", f"source:{name}", {"cascade": cascade, **gone})
        self.fabric.release_engines()
        return gone

    def sources(self) -> list[Source]:
        with self.store.session() as s:
            return list(s.scalars(select(Source).order_by(Source.name)))

    def source(self, name: str, session: Session | None = None) -> Source:
        def get(s: Session) -> Source:
            src = s.scalar(select(Source).where(Source.name == name))
            if src is None:
                known = ", ".join(s.scalars(select(Source.name).order_by(Source.name))) or "none yet"
                raise NotFound(f"no source named {name!r} (registered: {known}); add it with "
                               "`govfabric source add NAME URI`")
            return src

        if session is not None:
            return get(session)
        with self.store.session() as s:
            return get(s)

    def connection_uri(self, src: Source) -> tuple[str, str | None]:
        """The URI with its password restored, and the password (for redaction). Never log it."""
        return dsn_with_secret(src.uri, src.secret, self.fabric.secrets)

    def read_structure(self, src: Source, progress: HarvestProgress | None = None,
                       notices: list[dict[str, str]] | None = None) -> list[TableMeta]:
        """Read a source's structure, read-only; errors say what to fix and never show the password.
        Files that a folder source cannot harvest are skipped and named in ``notices``."""
        return kind_of(src).harvest(self, src, progress, notices)

    def test_source(self, name: str) -> SourceCheck:
        src = self.source(name)
        t0 = time.perf_counter()
        metas = self.read_structure(src)
        ms = (time.perf_counter() - t0) * 1000
        return SourceCheck(name, True, len(metas), ms, f"reachable; {len(metas)} tables/files visible")

    # -- harvest -----------------------------------------------------------------------------

    def harvest(self, name: str, progress: HarvestProgress | None = None) -> SyncReport:
        """Read the source, then sync the catalog in one transaction; one harvest per source at a time."""
        actor = self.fabric.actor
        actor.require(*STEWARD, action="harvest sources")
        token = self._acquire_lock(name)
        try:
            src = self.source(name)
            skipped: list[dict[str, str]] = []
            metas = self.read_structure(src, progress, skipped)
            seen: set[str] = set()
            for m in metas:
                if m.key() in seen:
                    raise SourceError(f"source {name!r} yields two assets named {m.key()!r}; rename one file")
                seen.add(m.key())
            with paused_gc(), self.store.session() as s:
                src = self.source(name, s)
                if src.harvest_lock != token:
                    raise Conflict(f"the harvest lock on {name!r} was taken over; run the harvest again")
                with roomy_sqlite_cache(s, len(metas)):
                    report = sync_source(s, src, metas, actor.name,
                                         (lambda i: progress("sync", i, len(metas))) if progress else None)
                    report.skipped = skipped
                    src.harvest_lock, src.harvest_lock_at = None, None
                    append(s, actor.name, "catalog.harvest", f"source:{name}", report.summary())
                    from govfabric.governance.lineage.events import record_harvest

                    record_harvest(self.fabric, s, src, assets=report.written_by_name())
                    write_columns(s, report)  # last: on PostgreSQL it may lock the catalog until the commit
        finally:
            self._release_lock(name, token)
        emit(HarvestDone(self.fabric, report))  # after the commit: e.g. PII detection
        return report

    def _acquire_lock(self, name: str) -> str:
        token = _lock_token()
        with self.store.session() as s:
            src = s.scalar(select(Source).where(Source.name == name).with_for_update())
            if src is None:
                self.source(name, s)  # raises NotFound with the list of names
            assert src is not None
            if src.harvest_lock and _lock_alive(src.harvest_lock, src.harvest_lock_at):
                raise Conflict(f"a harvest of {name!r} is already running ({src.harvest_lock.split(':')[0]} "
                               f"pid {src.harvest_lock.split(':')[1]}, since {src.harvest_lock_at:%H:%M:%S}); "
                               "wait for it to finish")
            src.harvest_lock, src.harvest_lock_at = token, utcnow()
        return token

    def _release_lock(self, name: str, token: str) -> None:
        with self.store.session() as s:
            src = s.scalar(select(Source).where(Source.name == name))
            if src is not None and src.harvest_lock == token:
                src.harvest_lock, src.harvest_lock_at = None, None

    # -- assets ------------------------------------------------------------------------------

    def resolve(self, s: Session, ref: str) -> Asset:
        """The asset ``ref`` names (id, qualified name, or an unambiguous suffix or name), loaded in
        the caller's session ``s`` so other modules can read and link it in their own transaction."""
        a = s.scalar(select(Asset).options(selectinload(Asset.columns)).where(
            or_(Asset.id == ref, Asset.qualified_name == ref)))
        if a is not None:
            return a
        matches = list(s.scalars(select(Asset).options(selectinload(Asset.columns)).where(
            or_(Asset.qualified_name.like(f"%.{ref}"), Asset.name == ref)).limit(6)))
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ValidationFailed(f"{ref!r} is ambiguous: " + ", ".join(m.qualified_name for m in matches[:5]))
        raise NotFound(f"no asset {ref!r}; find it with `govfabric catalog search TEXT`")

    def asset(self, ref: str) -> Asset:
        with self.store.session() as s:
            return self.resolve(s, ref)

    def assets(self, *, limit: int | None = 200, include_dropped: bool = False, source: str | None = None,
               department: str | None = None, tag: str | None = None, **facets: str | None) -> list[Asset]:
        q = select(Asset).order_by(Asset.qualified_name)
        with self.store.session() as s:
            if not include_dropped:
                q = q.where(Asset.status == "active")
            if source:
                q = q.where(Asset.source_id == self.source(source, s).id)
            if department:
                q = q.where(Asset.owner_department == department)
            for facet, value in facets.items():
                if value is not None:
                    if facet not in CLASSIFIABLE:
                        raise ValidationFailed(f"cannot filter by {facet!r}; use one of {', '.join(CLASSIFIABLE)}")
                    q = q.where(getattr(Asset, facet) == taxonomy.normalise(facet, value))
            rows = list(s.scalars(q))
            if tag:
                rows = [a for a in rows if tag in (a.tags or [])]
            return rows[:limit] if limit else rows

    def browse(self, filters: dict[str, list[str]], *, facets: tuple[str, ...] = (), limit: int = 50,
               offset: int = 0) -> tuple[int, list[Asset], dict[str, dict[str, int]]]:
        """A page of the active assets whose classification fields are in ``filters`` (field -> any of
        these values), their total, and per facet the count of each value over the whole selection —
        all in SQL, so a portal page costs the same over 100 or 100,000 assets. Kept under the store's
        change counter (``memo``): the assets returned are shared between callers, to be read only."""
        unknown = [f for f in (*filters, *facets) if f not in CLASSIFIABLE and f != "owner_department"]
        if unknown:
            raise ValidationFailed(f"cannot browse by {', '.join(unknown)}; use one of {', '.join(CLASSIFIABLE)}")
        key = ("browse", tuple(sorted((f, tuple(vs)) for f, vs in filters.items())), facets, limit, offset)
        total, page, counts = memo.kept(self.store, key, lambda: self._browse(filters, facets, limit, offset))
        return total, list(page), {f: dict(c) for f, c in counts.items()}  # callers may change their copy

    def _browse(self, filters: dict[str, list[str]], facets: tuple[str, ...], limit: int, offset: int
                ) -> tuple[int, list[Asset], dict[str, dict[str, int]]]:
        """What :meth:`browse` returns, read from the store (detached assets, kept between calls)."""
        where = [Asset.status == "active", *(getattr(Asset, f).in_(vs) for f, vs in filters.items())]
        with self.store.session() as s:
            total = s.scalar(select(func.count()).select_from(Asset).where(*where)) or 0
            page = list(s.scalars(select(Asset).where(*where).order_by(Asset.qualified_name)
                                  .limit(limit).offset(offset))) if limit else []
            counts = {f: {v: n for v, n in s.execute(select(getattr(Asset, f), func.count()).where(*where)
                                                     .group_by(getattr(Asset, f))) if v}
                      for f in facets}
            s.expunge_all()
        return total, page, counts

    def classify(self, ref: str, *, tags: list[str] | None = None, dimensions: list[str] | None = None,
                 **values: str | None) -> Asset:
        """Set classification facets (keys or Chinese labels) and tags of an asset."""
        actor = self.fabric.actor
        actor.require(*STEWARD, action="classify assets")
        clean = {k: taxonomy.normalise(k, v) for k, v in values.items() if v is not None and k in CLASSIFIABLE}
        unknown = [k for k in values if k not in CLASSIFIABLE]
        if unknown:
            raise ValidationFailed(f"unknown classification field(s) {', '.join(unknown)}")
        with self.store.session() as s:
            a = self.resolve(s, ref)
            before = {k: getattr(a, k) for k in clean}
            for k, v in clean.items():
                setattr(a, k, v)
            if tags is not None:
                a.tags = sorted(set(tags))
            if dimensions is not None:
                a.dimensions = list(dimensions)
            index_assets(s, [a.id])
            append(s, actor.name, "catalog.classify", f"asset:{a.qualified_name}",
                   {"from": before, "to": clean, "tags": tags, "dimensions": dimensions})
            return a

    def annotate(self, ref: str, *, cn_name: str | None = None, description: str | None = None,
                 caliber: str | None = None, owner_department: str | None = None,
                 columns: dict[str, dict[str, str]] | None = None) -> Asset:
        """Business descriptions: Chinese names, descriptions, caliber, per-column names and units."""
        actor = self.fabric.actor
        actor.require(*STEWARD, action="annotate assets")
        with self.store.session() as s:
            a = self.resolve(s, ref)
            changes: dict[str, Any] = {}
            for k, v in (("cn_name", cn_name), ("description", description), ("caliber", caliber),
                         ("owner_department", owner_department)):
                if v is not None:
                    setattr(a, k, v)
                    changes[k] = v
            by_name = {c.name: c for c in a.columns}
            a.require_columns(columns or {})
            for col, attrs in (columns or {}).items():
                c = by_name[col]
                for k, v in attrs.items():
                    if k not in ("cn_name", "description", "unit"):
                        raise ValidationFailed(f"column attribute {k!r} cannot be set; use cn_name, "
                                               "description or unit")
                    setattr(c, k, v)
            if columns:
                changes["columns"] = columns
            s.flush()
            index_assets(s, [a.id])
            append(s, actor.name, "catalog.annotate", f"asset:{a.qualified_name}", changes)
            return a

    def versions(self, ref: str) -> list[AssetVersion]:
        with self.store.session() as s:
            a = self.resolve(s, ref)
            return list(s.scalars(select(AssetVersion).where(AssetVersion.asset_id == a.id)
                                  .order_by(AssetVersion.version)))

    def dictionary(self, ref: str) -> dict[str, Any]:
        """The data dictionary view (§8.4.1.4, §8.4.4.2c) of one asset, with its usage."""
        with self.store.session() as s:
            a = self.resolve(s, ref)
            src = s.get(Source, a.source_id) if a.source_id else None
            usage = self._usage(s, a.id)
            return {
                "id": a.id, "qualified_name": a.qualified_name, "name": a.name, "cn_name": a.cn_name,
                "description": a.description, "type": a.asset_type, "status": a.status, "version": a.version,
                "source": src.name if src else None, "source_kind": src.kind if src else None,
                "location": a.location, "owner_department": a.owner_department,
                "classification": {k: getattr(a, k) for k in CLASSIFIABLE if k != "asset_type"},
                "dimensions": a.dimensions, "tags": a.tags, "caliber": a.caliber,
                "update_frequency": a.update_frequency,
                "last_updated_at": a.last_updated_at.isoformat() if a.last_updated_at else None,
                "content_signature": a.content_signature, "signature_algo": a.signature_algo,
                "row_count": a.row_count,
                "columns": [{"position": c.position, "name": c.name, "cn_name": c.cn_name, "type": c.data_type,
                             "nullable": c.nullable, "description": c.description, "unit": c.unit}
                            for c in a.columns],
                "usage": usage,
            }

    # -- usage, favourites, notifications -----------------------------------------------------

    def _usage(self, s: Session, asset_id: str) -> dict[str, Any]:
        rows = list(s.scalars(select(Usage).where(Usage.asset_id == asset_id)))
        return {
            "times_used": sum(u.count for u in rows if u.kind == "use"),
            "times_distributed": sum(u.count for u in rows if u.kind == "distribution"),
            "consumers": sorted({u.principal for u in rows}),
            "favourited_by": int(s.scalar(select(func.count()).select_from(Favourite)
                                          .where(Favourite.asset_id == asset_id)) or 0),
        }

    def usage(self, ref: str) -> dict[str, Any]:
        with self.store.session() as s:
            return self._usage(s, self.resolve(s, ref).id)

    def record_usage(self, refs: list[str], kind: str = "use", principal: str | None = None,
                     session: Session | None = None) -> None:
        """The one API later modules call when a query reads or a share distributes assets."""
        who = principal or self.fabric.actor.name

        def run(s: Session) -> None:
            ids = [self.resolve(s, r).id for r in refs]
            record_usage(s, ids, who, kind)

        if session is not None:
            run(session)
        else:
            with self.store.session() as s:
                run(s)

    def favorite_add(self, ref: str, note: str | None = None) -> Asset:
        me = self.fabric.actor.name
        with self.store.session() as s:
            a = self.resolve(s, ref)
            if s.scalar(select(Favourite).where(Favourite.principal == me, Favourite.asset_id == a.id)):
                raise AlreadyExists(f"{a.qualified_name} is already in your favourites")
            s.add(Favourite(principal=me, asset_id=a.id, note=note))
            append(s, me, "catalog.favorite.add", f"asset:{a.qualified_name}", {})
            return a

    def favorite_remove(self, ref: str) -> None:
        me = self.fabric.actor.name
        with self.store.session() as s:
            a = self.resolve(s, ref)
            fav = s.scalar(select(Favourite).where(Favourite.principal == me, Favourite.asset_id == a.id))
            if fav is None:
                raise NotFound(f"{a.qualified_name} is not in your favourites")
            s.delete(fav)
            append(s, me, "catalog.favorite.remove", f"asset:{a.qualified_name}", {})

    def favorites(self) -> list[Asset]:
        me = self.fabric.actor.name
        with self.store.session() as s:
            return list(s.scalars(select(Asset).join(Favourite, Favourite.asset_id == Asset.id)
                                  .where(Favourite.principal == me).order_by(Favourite.created_at)))

    def notifications(self, unread_only: bool = False, mark_read: bool = False) -> list[Notification]:
        me = self.fabric.actor.name
        with self.store.session() as s:
            q = select(Notification).where(Notification.recipient == me).order_by(Notification.created_at)
            if unread_only:
                q = q.where(Notification.read_at.is_(None))
            rows = list(s.scalars(q))
            if mark_read:
                now = utcnow()
                for n in rows:
                    n.read_at = n.read_at or now
            return rows

    # -- search --------------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 20, log: bool = True, **facets: str | list[str] | None
               ) -> list[search_mod.Hit]:
        """Ranked, highlighted matches; a facet is a value or a list of values (any of them)."""
        filters: dict[str, str | list[str]] = {}
        for k, v in facets.items():
            keys = [x for x in (taxonomy.normalise(k, y) for y in (v if isinstance(v, list) else [v])) if x]
            if keys:
                filters[k] = keys if isinstance(v, list) else keys[0]
        size = None
        if filters:  # how many assets the filters hold changes only with the assets: kept (``memo``)
            key = ("filter_size", tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                               for k, v in filters.items())))
            size = memo.kept(self.store, key, lambda: self._filter_size(filters))
        who = self.fabric.actor.name if log else ""  # before the transaction: kept under the change counter
        with self.store.session() as s:
            hits = search_mod.search(s, query, limit=limit, filters=filters, facet_size=size)
            if log:
                search_mod.log_search(s, who, query, len(hits))
            return hits

    def _filter_size(self, filters: dict[str, str | list[str]]) -> int:
        with self.store.session() as s:
            return search_mod.filter_size(s, filters)

    def recent_searches(self, limit: int = 10) -> list[str]:
        who = self.fabric.actor.name  # before the transaction: kept under the change counter
        with self.store.session() as s:
            return search_mod.recent_searches(s, who, limit)

    def hot_searches(self, limit: int = 10, open_class: list[str] | None = None) -> list[tuple[str, int]]:
        """The most frequent searches with results; with ``open_class``, only those that find an asset of
        these classes (anyone's search text for a closed asset is not shown to the open portal)."""
        with self.store.session() as s:
            hot = search_mod.hot_searches(s, limit if open_class is None else limit * 3)
            if open_class is not None:
                hot = [(q, n) for q, n in hot if self._finds_active(s, q, open_class)]
            return hot[:limit]

    @staticmethod
    def _finds_active(s: Session, q: str, open_class: list[str]) -> bool:
        hits = search_mod.search(s, q, limit=20, filters={"open_class": open_class})
        return bool(hits) and bool(active_ids(s, [h.asset_id for h in hits]))

    # -- signatures ----------------------------------------------------------------------------

    @reads_source_data("catalog.signature", via="steward", target=signature_reads, auditors=True)
    def content_signature(self, ref: str, algo: str | None = None, refresh: bool = False) -> str:
        """The asset's content signature (SHA-256 or SM3), computed from the data when missing."""
        from govfabric.catalog.signature import sign_asset

        with self.store.session() as s:
            a = self.resolve(s, ref)
            if a.content_signature and not refresh and (algo is None or algo == a.signature_algo):
                return a.content_signature
            # computing reads every row of the asset and rewrites the catalog: not for analysts
            self.fabric.actor.require("steward", "auditor", action="compute content signatures")
            src = s.get(Source, a.source_id) if a.source_id else None
            if src is None:
                raise ValidationFailed(f"{a.qualified_name} has no source to read; it was registered by hand")
            digest = sign_asset(self, src, a, algo or a.signature_algo or "sha256")
            a.content_signature, a.signature_algo = digest, algo or a.signature_algo or "sha256"
            append(s, self.fabric.actor.name, "catalog.sign", f"asset:{a.qualified_name}",
                   {"algo": a.signature_algo, "digest": digest})
            return digest

    def import_file(self, path: str | Path) -> list[Asset]:
        from govfabric.catalog.importer import import_assets

        self.fabric.actor.require(*STEWARD, action="import assets")
        return import_assets(self, Path(path))

    def columns_of(self, ref: str) -> list[AssetColumn]:
        return list(self.asset(ref).columns)
