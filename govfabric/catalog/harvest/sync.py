"""Sync harvested structure into the catalog in one transaction.

New tables become assets (version 1). A changed structure — columns added,
removed, renamed, retyped — records a new version with its diff and notifies the
asset's consumers; a table that disappeared is marked dropped, also versioned and
notified. Steward annotations (Chinese names, classification) survive re-harvests,
and follow a renamed column.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from govfabric.catalog.harvest.meta import ColumnMeta, TableMeta, structure_hash
from govfabric.catalog.models import Asset, AssetColumn, AssetVersion, Source
from govfabric.catalog.search_index import add_entries, entry, index_assets
from govfabric.catalog.usage import notify_consumers
from govfabric.store.base import new_id, utcnow
from govfabric.store.bulk import bulk_insert, bulk_load, generation_bumped_once, new_ids

Fresh = list[tuple[str, TableMeta, list[dict[str, Any]], str]]  # qualified name, meta, structure, hash
#: a harvest adding this many tables writes in bulk mode (SQLite: a roomier page cache, the cache
#: generation moved once instead of per row)
BULK_TABLES = 1000


@dataclass(frozen=True, slots=True)
class Written:
    """An asset a harvest added or changed, as it now stands: what its lineage event names (the
    attributes :func:`govfabric.governance.lineage.events.harvest_event` reads of an ``Asset``),
    kept from the sync so that the event needs no read-back of thousands of assets."""

    qualified_name: str
    name: str
    location: dict[str, Any]
    owner_department: str | None
    columns: list[ColumnMeta]


@dataclass
class SyncReport:
    source: str
    added: list[str] = field(default_factory=list)
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    unchanged: int = 0
    notified: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)  # files not harvested: {file, reason}
    written: list[Written] = field(default_factory=list, repr=False)  # added and changed, for lineage
    #: the new assets' column rows, for :func:`write_columns`
    columns: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def written_by_name(self) -> list[Written]:
        """The added and changed assets by qualified name (the lineage event's order)."""
        return sorted(self.written, key=_qualified_name)

    def summary(self) -> dict[str, Any]:
        return {"source": self.source, "added": len(self.added), "changed": len(self.changed),
                "dropped": len(self.dropped), "unchanged": self.unchanged, "notified": self.notified,
                "skipped": len(self.skipped)}


def diff_structure(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, Any]:
    """Added, removed, renamed and retyped columns."""
    old_by = {c["name"]: (i, c) for i, c in enumerate(old)}
    new_by = {c["name"]: (i, c) for i, c in enumerate(new)}
    removed = [n for n in old_by if n not in new_by]
    added = [n for n in new_by if n not in old_by]
    renamed: list[dict[str, str]] = []
    only_change = len(removed) == 1 and len(added) == 1
    for r in list(removed):
        ri, rc = old_by[r]
        # a rename keeps the type and the position, and either keeps most of the name or is the
        # table's only change; anything less certain is reported as removed + added
        match = next((a for a in added if new_by[a][1]["type"] == rc["type"] and new_by[a][0] == ri
                      and (only_change or SequenceMatcher(None, r, a).ratio() >= 0.5)), None)
        if match is not None:
            renamed.append({"from": r, "to": match})
            removed.remove(r)
            added.remove(match)
    retyped = [{"column": n, "from": old_by[n][1]["type"], "to": new_by[n][1]["type"]}
               for n in new_by if n in old_by and old_by[n][1]["type"] != new_by[n][1]["type"]]
    out: dict[str, Any] = {}
    if added:
        out["added"] = added
    if removed:
        out["removed"] = removed
    if renamed:
        out["renamed"] = renamed
    if retyped:
        out["type_changed"] = retyped
    return out


def _qualified_name(w: Written) -> str:
    return w.qualified_name


def _cn(comment: str | None) -> str | None:
    """A comment made of Chinese text is the Chinese name; otherwise it describes."""
    if comment and _HAN.search(comment):
        return comment.strip()[:256]
    return None


_HAN = re.compile("[\u3400-\u9fff\U00020000-\U0002ffff]")  # a character of Chinese text


def sync_source(session: Session, source: Source, metas: list[TableMeta], actor: str,
                progress: Callable[[int], None] | None = None) -> SyncReport:
    report = SyncReport(source.name)
    existing = {a.qualified_name: a for a in session.scalars(
        select(Asset).where(Asset.source_id == source.id))}
    now = utcnow()
    fresh: Fresh = []
    new_versions: list[dict[str, Any]] = []
    touched: list[str] = []
    rewrites: list[tuple[Asset, TableMeta, dict[str, Any]]] = []
    seen: set[str] = set()
    for i, m in enumerate(metas):
        qn = f"{source.name}.{m.key()}"
        seen.add(qn)
        structure = m.structure()
        shash = structure_hash(structure)
        old = existing.get(qn)
        if old is None:
            fresh.append((qn, m, structure, shash))
            report.added.append(qn)
        elif old.structure_hash != shash or old.status != "active":
            old_structure = session.scalar(select(AssetVersion.structure).where(
                AssetVersion.asset_id == old.id, AssetVersion.version == old.version)) or []
            diff = diff_structure(old_structure, structure)
            if old.status != "active":
                diff["restored"] = True
            rewrites.append((old, m, diff))
            old.version += 1
            old.status, old.structure_hash, old.row_count = "active", shash, m.row_count
            old.last_updated_at = now
            if m.content_signature:
                old.content_signature, old.signature_algo = m.content_signature, m.signature_algo
            new_versions.append(dict(id=new_id(), asset_id=old.id, version=old.version, structure=structure,
                                     structure_hash=shash, diff=diff, reason="schema_changed",
                                     created_by=actor, created_at=now))
            report.changed[qn] = diff
            report.written.append(Written(qn, old.name, old.location, old.owner_department, m.columns))
            touched.append(old.id)
        else:
            report.unchanged += 1
            if m.row_count is not None and m.row_count != old.row_count:
                old.row_count = m.row_count
            if m.content_signature and m.content_signature != old.content_signature:
                old.content_signature, old.last_updated_at = m.content_signature, now
        if progress:
            progress(i + 1)
    for qn, old in existing.items():
        if qn not in seen and old.status == "active":
            old.status = "dropped"
            old.version += 1
            new_versions.append(dict(id=new_id(), asset_id=old.id, version=old.version, structure=[],
                                     structure_hash=structure_hash([]), diff={"dropped": True},
                                     reason="dropped", created_by=actor, created_at=now))
            report.dropped.append(qn)
            touched.append(old.id)
    session.flush()
    _rewrite_columns(session, rewrites)
    _insert_fresh(session, source, fresh, actor, now, report)
    _insert(session, AssetVersion, new_versions)
    index_assets(session, touched)
    changed_ids = {a.id: a for a in existing.values() if a.qualified_name in report.changed
                   or a.qualified_name in report.dropped}
    if changed_ids:
        messages = {}
        for aid, a in changed_ids.items():
            what = "was dropped at its source" if a.qualified_name in report.dropped else \
                f"changed structure: {report.changed[a.qualified_name]}"
            messages[aid] = (f"{a.qualified_name} {what} (now version {a.version})",
                             {"version": a.version, "diff": report.changed.get(a.qualified_name,
                                                                                {"dropped": True})})
        report.notified = notify_consumers(session, messages, kind="schema_change")
    session.execute(update(Source).where(Source.id == source.id).values(last_harvest_at=now))
    return report


@contextmanager
def roomy_sqlite_cache(session: Session, tables: int) -> Iterator[None]:
    """Give SQLite a page cache that holds a large harvest's pages while it writes them — its rows
    and indexes, then its lineage event and edges (the 2 MB default spills to the WAL, rewrites and
    rereads pages) —, then put the setting back."""
    if tables < BULK_TABLES or session.get_bind().dialect.name != "sqlite":
        yield
        return
    conn = session.connection()
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = {-min(256, 16 + tables // 100) * 1024}")  # KiB
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def write_columns(session: Session, report: SyncReport) -> None:
    """Insert the column rows of the assets :func:`sync_source` added: the harvest's last write before
    its commit. On PostgreSQL a first harvest's rows go in with their foreign key checked once after
    them (``bulk_load``), which locks the catalog's assets and columns until the commit."""
    with generation_bumped_once(session.connection(), ("catalog_columns",)) \
            if len(report.added) >= BULK_TABLES else nullcontext():
        bulk_load(session.connection(), AssetColumn.__table__, report.columns)
    report.columns = []


def _insert_fresh(session: Session, source: Source, fresh: Fresh, actor: str, now: datetime,
                  report: SyncReport) -> None:
    """Register new tables: assets, first versions and search entries, one executemany per table;
    each goes to ``report.written``, their columns to ``report.columns`` (:func:`write_columns`)."""
    asset_ids, version_ids = new_ids(len(fresh)), new_ids(len(fresh))
    column_ids = iter(new_ids(sum(len(m.columns) for _, m, _, _ in fresh)))
    assets, versions, entries = [], [], []
    columns, written = report.columns, report.written
    empty: list[Any] = []  # one object for every empty tag list: converted once by _insert
    no_diff: dict[str, Any] = {}
    for aid, vid, (qn, m, structure, shash) in zip(asset_ids, version_ids, fresh, strict=True):
        cn = _cn(m.comment)
        asset = dict(
            id=aid, qualified_name=qn, source_id=source.id, name=m.name, cn_name=cn,
            description=None if cn else m.comment, asset_type=m.kind,
            owner_department=source.department, location={"source": source.name, **m.location},
            row_count=m.row_count, version=1, status="active", registered_via="harvest",
            structure_hash=shash, content_signature=m.content_signature, signature_algo=m.signature_algo,
            last_updated_at=now, created_at=now, updated_at=now, dimensions=empty, tags=empty,
        )
        cols = []
        for j, c in enumerate(m.columns):
            ccn = _cn(c.comment)
            cols.append(dict(id=next(column_ids), asset_id=aid, position=c.position or j + 1, name=c.name,
                             cn_name=ccn, data_type=c.data_type, nullable=c.nullable,
                             description=None if ccn else c.comment, tags=empty))
        entries.append(entry(asset, cols))
        written.append(Written(qn, m.name, cast(dict[str, Any], asset["location"]), source.department, m.columns))
        assets.append(asset)
        columns.extend(cols)
        versions.append(dict(id=vid, asset_id=aid, version=1, structure=structure, structure_hash=shash,
                             diff=no_diff, reason="registered", created_by=actor, created_at=now))
    with generation_bumped_once(session.connection(), ("catalog_assets",)) \
            if len(assets) >= BULK_TABLES else nullcontext():
        _insert(session, Asset, assets)
    _insert(session, AssetVersion, versions)
    add_entries(session, entries)


def _rewrite_columns(session: Session, rewrites: list[tuple[Asset, TableMeta, dict[str, Any]]]) -> None:
    """Replace the column rows of changed assets, carrying steward annotations over (also across
    renames): one read, one delete and one insert for them all, in Core (an ORM delete per asset
    walked the session's thousands of loaded assets each time)."""
    if not rewrites:
        return
    conn, t = session.connection(), cast(Table, AssetColumn.__table__)
    ids = [a.id for a, _, _ in rewrites]
    prior: dict[str, dict[str, Any]] = defaultdict(dict)
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        for r in conn.execute(select(t.c.asset_id, t.c.name, t.c.cn_name, t.c.description, t.c.unit, t.c.tags)
                              .where(t.c.asset_id.in_(part))):
            prior[r.asset_id][r.name] = r
        conn.execute(delete(t).where(t.c.asset_id.in_(part)))
    rows = []
    for asset, m, diff in rewrites:
        session.expire(asset, ["columns"])
        before_by, renamed_from = prior[asset.id], {r["to"]: r["from"] for r in diff.get("renamed", [])}
        for j, c in enumerate(m.columns):
            before = before_by.get(c.name) or before_by.get(renamed_from.get(c.name, ""))
            rows.append(dict(
                id=new_id(), asset_id=asset.id, position=c.position or j + 1, name=c.name,
                cn_name=_cn(c.comment) or (before.cn_name if before else None), data_type=c.data_type,
                nullable=c.nullable, description=(None if _cn(c.comment) else c.comment) or
                (before.description if before else None), unit=before.unit if before else None,
                tags=list(before.tags) if before else [],
            ))
    bulk_insert(conn, t, rows)


def _insert(session: Session, model: type[Asset] | type[AssetVersion],
            rows: list[dict[str, Any]]) -> None:
    """One bulk insert of rows that share their keys (COPY on PostgreSQL)."""
    bulk_insert(session.connection(), model.__table__, rows)
