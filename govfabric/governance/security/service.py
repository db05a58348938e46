"""The security service: scan assets for PII, keep classifications, mask by default.

``SecurityService(fabric)`` is what the CLI, the server and Python users call (the
façade exposes it as ``fabric.security``). Every write is audited in the same
transaction as the change.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from govfabric.auth.audit import append, append_many
from govfabric.errors import AccessDenied, GovfabricError, NotFound, ValidationFailed
from govfabric.governance.security.classes import PII_CLASSES, check_level, pii_class
from govfabric.governance.security.detect import Detection, detect_column
from govfabric.governance.security.models import ColumnClassification
from govfabric.governance.security.sample import (
    DEFAULT_SAMPLE,
    asset_with_source,
    assets_with_sources,
    sample_columns,
    sample_many,
    sampling_engine,
)
from govfabric.store.base import utcnow
from govfabric.store.bulk import bulk_insert, new_ids

if TYPE_CHECKING:
    from govfabric.fabric import Fabric
    from govfabric.governance.security.consent import Consents

STEWARD = ("steward",)
ScanProgress = Callable[[str, int, int], None]
#: assets per step of :meth:`SecurityService.scan_many` (samples, one store transaction, masks)
SCAN_CHUNK = 250
#: the stored ``matches`` of a column none of whose sampled values matched, one object for all such
#: rows of a bulk insert (its JSON is then written once, not per column); never handed out or changed
NO_MATCHES: dict[str, int] = {}
_CAST_SOURCE = re.compile(r'^CAST\("((?:[^"]|"")*)" AS ', re.IGNORECASE)


@dataclass(frozen=True)
class MaskAction:
    """What :func:`apply_default_masks` did for one virtual column."""

    table: str
    column: str
    pii_class: str
    rule: str
    action: str  # set | kept | skipped
    reason: str = ""


def split_column_ref(ref: str) -> tuple[str, str]:
    """``ASSET.COLUMN`` → (asset, column); the asset name may itself contain dots."""
    asset, dot, column = ref.rpartition(".")
    if not dot or not asset or not column:
        raise ValidationFailed(f"{ref!r} is not ASSET.COLUMN (e.g. ps_db.main.t_rk_jbxx.gmsfhm)")
    return asset, column


def physical_of(vcol: dict[str, Any]) -> str | None:
    """The catalog column a virtual column reads (directly, or through a cast)."""
    if vcol.get("physical"):
        return str(vcol["physical"])
    m = _CAST_SOURCE.match(str(vcol.get("expr") or ""))
    return m.group(1).replace('""', '"') if m else None


def pii_columns(session: Any, asset_id: str) -> set[str]:
    """Physical columns of the asset classified as personal data, read in the caller's session."""
    return set(session.scalars(select(ColumnClassification.column_name).where(
        ColumnClassification.asset_id == asset_id, ColumnClassification.pii_class.is_not(None))))


class SecurityService:
    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    @cached_property
    def consent(self) -> Consents:
        """Consent records: ``give``, ``withdraw``, ``check``, ``records``."""
        from govfabric.governance.security.consent import Consents

        return Consents(self.fabric)

    # -- scanning -------------------------------------------------------------------------------

    def scan(self, ref: str, *, sample: int = DEFAULT_SAMPLE, mask: bool = True) -> list[ColumnClassification]:
        """Classify every column of one asset from names and a sample; then mask its virtual tables."""
        actor = self.fabric.actor
        actor.require(*STEWARD, action="scan assets for personal data")
        asset, src = asset_with_source(self.fabric, ref)
        values = sample_columns(self.fabric, asset, src, limit=sample) if src is not None else {}
        detections = [detect_column(c.name, c.cn_name, values.get(c.name, [])) for c in asset.columns]
        rows = self._store([(asset.id, asset.qualified_name, detections)], sample, actor.name)[asset.id]
        if mask:
            apply_default_masks(self.fabric, asset=asset.id)
        return rows

    def scan_many(self, refs: list[str], *, sample: int = DEFAULT_SAMPLE, mask: bool = True,
                  progress: ScanProgress | None = None, rows: bool = True) -> dict[str, list[ColumnClassification]]:
        """:meth:`scan` of many assets with the same results, :data:`SCAN_CHUNK` at a time: their
        samples read in a few DuckDB queries, their classifications stored in one transaction, their
        virtual tables masked in one pass. A chunk whose sampling fails is scanned one by one, so the
        error names its asset and the assets before it are kept, as with :meth:`scan`. ``rows=False``:
        return nothing (the harvest's hook: thousands of new rows as ORM objects nobody reads)."""
        actor = self.fabric.actor
        actor.require(*STEWARD, action="scan assets for personal data")
        out: dict[str, list[ColumnClassification]] = {}
        refs = list(dict.fromkeys(refs))  # each asset once: its rows are written once
        # one engine of one thread for the whole scan: its hundreds of small LIMIT queries
        with sampling_engine(self.fabric) as engine:
            for start in range(0, len(refs), SCAN_CHUNK):
                part = refs[start:start + SCAN_CHUNK]
                pairs = assets_with_sources(self.fabric, part)
                for i, ref in enumerate(part):
                    if progress:
                        progress(ref, start + i, len(refs))
                sampled = [(a, src, None) for a, src in pairs if src is not None]
                try:
                    samples = iter(sample_many(self.fabric, sampled, sample, engine) if sampled else [])
                except GovfabricError:
                    for ref in part:  # again one by one: stops at the failing asset with its own message
                        out[ref] = self.scan(ref, sample=sample, mask=mask)
                    continue
                found = []
                for a, src in pairs:
                    values = next(samples) if src is not None else {}
                    found.append((a.id, a.qualified_name,
                                  [detect_column(c.name, c.cn_name, values.get(c.name, [])) for c in a.columns]))
                stored = self._store(found, sample, actor.name, rows)
                for ref, (a, _) in zip(part, pairs, strict=True):
                    if rows:
                        out[ref] = stored[a.id]
                if mask:
                    apply_default_masks(self.fabric, assets={a.id for a, _ in pairs})
        return out

    def _store(self, found: list[tuple[str, str, list[Detection]]], sample: int, actor: str,
               rows: bool = True) -> dict[str, list[ColumnClassification]]:
        """Keep the detections of assets (id, name, detections) in one transaction, one audit event each."""
        with self.store.session() as s:
            existing: dict[str, dict[str, ColumnClassification]] = defaultdict(dict)
            ids = [aid for aid, _, _ in found]
            for start in range(0, len(ids), 500):
                for r in s.scalars(select(ColumnClassification).where(
                        ColumnClassification.asset_id.in_(ids[start:start + 500]))):
                    existing[r.asset_id][r.column_name] = r
            now = utcnow()
            row_ids = iter(new_ids(sum(len(d) for _, _, d in found)))  # in one go: enough for every column
            result, events, fresh = {}, [], []
            for asset_id, qn, detections in found:
                have = existing.pop(asset_id, {})
                out: list[ColumnClassification] = []
                classified: dict[str, str] = {}
                kept: list[str] = []
                for d in detections:
                    row = have.pop(d.column, None)
                    if row is None:  # a new row: written below in one insert with the others, not by the ORM
                        fresh.append(dict(
                            id=next(row_ids), asset_id=asset_id, asset_name=qn, column_name=d.column,
                            pii_class=d.pii_class, personal_level=d.personal_level, data_level=d.data_level,
                            confidence=d.confidence,
                            evidence=d.evidence, method=d.method, sampled=d.sampled,
                            matches=d.matches or NO_MATCHES, status="detected", detected_at=now,
                            confirmed_by=None, confirmed_at=None, note=None))
                        if d.pii_class:
                            classified[d.column] = d.pii_class
                        if rows:
                            out.append(ColumnClassification(**{**fresh[-1], "matches": d.matches}))
                        continue
                    row.asset_name, row.sampled, row.matches, row.detected_at = qn, d.sampled, d.matches, now
                    if row.status != "confirmed":
                        row.pii_class, row.personal_level, row.data_level = d.pii_class, d.personal_level, d.data_level
                        row.confidence, row.evidence, row.method = d.confidence, d.evidence, d.method
                    else:
                        kept.append(row.column_name)
                    if row.pii_class:
                        classified[row.column_name] = row.pii_class
                    out.append(row)
                for gone in have.values():  # columns dropped at the source
                    s.delete(gone)
                result[asset_id] = out
                events.append((actor, "security.scan", f"asset:{qn}", {
                    "sample": sample, "classified": classified, "confirmed_kept": kept,
                    "removed": sorted(have)}))
            s.flush()
            bulk_insert(s.connection(), ColumnClassification.__table__, fresh)
            append_many(s, events)
            return result

    def scan_source(self, source: str, *, sample: int = DEFAULT_SAMPLE, mask: bool = True,
                    progress: ScanProgress | None = None) -> dict[str, list[ColumnClassification]]:
        assets = self.fabric.catalog.assets(source=source, limit=None)
        return self.scan_many([a.qualified_name for a in assets], sample=sample, mask=mask, progress=progress)

    def scan_all(self, *, sample: int = DEFAULT_SAMPLE, mask: bool = True,
                 progress: ScanProgress | None = None) -> dict[str, list[ColumnClassification]]:
        assets = self.fabric.catalog.assets(limit=None)
        return self.scan_many([a.qualified_name for a in assets if a.source_id], sample=sample, mask=mask,
                              progress=progress)

    # -- reading and confirming -----------------------------------------------------------------

    def classifications(self, asset: str | None = None, *, pii_only: bool = False,
                        pii_class: str | None = None) -> list[ColumnClassification]:
        with self.store.session() as s:
            q = select(ColumnClassification).order_by(ColumnClassification.asset_name,
                                                      ColumnClassification.column_name)
            if asset:
                q = q.where(ColumnClassification.asset_id == self.fabric.catalog.resolve(s, asset).id)
            if pii_only:
                q = q.where(ColumnClassification.pii_class.is_not(None))
            if pii_class:
                q = q.where(ColumnClassification.pii_class == pii_class)
            return list(s.scalars(q))

    def classification(self, ref: str) -> ColumnClassification:
        """The classification of ``ASSET.COLUMN``."""
        asset_ref, column = split_column_ref(ref)
        with self.store.session() as s:
            a = self.fabric.catalog.resolve(s, asset_ref)
            row = s.scalar(select(ColumnClassification).where(ColumnClassification.asset_id == a.id,
                                                              ColumnClassification.column_name == column))
            if row is None:
                a.require_columns([column], NotFound)
                raise NotFound(f"{a.qualified_name}.{column} is not classified yet; run "
                               f"`govfabric security scan {a.qualified_name}`")
            return row

    def confirm(self, ref: str, pii_class_name: str, *, data_level: str | None = None,
                personal_level: str | None = None, note: str | None = None,
                mask: bool = True) -> ColumnClassification:
        """A steward confirms or overrides one column's class (``none``: not personal data)."""
        actor = self.fabric.actor
        actor.require(*STEWARD, action="confirm PII classifications")
        cls = pii_class(pii_class_name)
        if data_level is not None:
            check_level("data", data_level)
        if personal_level is not None:
            check_level("personal", personal_level)
        asset_ref, column = split_column_ref(ref)
        with self.store.session() as s:
            a = self.fabric.catalog.resolve(s, asset_ref)
            a.require_columns([column], NotFound)
            row = s.scalar(select(ColumnClassification).where(ColumnClassification.asset_id == a.id,
                                                              ColumnClassification.column_name == column))
            before = None
            if row is None:
                row = ColumnClassification(asset_id=a.id, asset_name=a.qualified_name, column_name=column,
                                           evidence="set by a steward without a scan", method="steward")
                s.add(row)
            else:
                before = {"pii_class": row.pii_class, "status": row.status}
            row.pii_class = cls.name if cls else None
            row.personal_level = personal_level or (cls.personal_level if cls else "none")
            row.data_level = data_level or (cls.data_level if cls else "general")
            row.status, row.confirmed_by, row.confirmed_at, row.confidence = "confirmed", actor.name, utcnow(), 1.0
            row.note = note
            s.flush()
            append(s, actor.name, "security.confirm", f"column:{a.qualified_name}.{column}", {
                "from": before, "pii_class": row.pii_class, "personal_level": row.personal_level,
                "data_level": row.data_level, "note": note})
            asset_id = a.id
        if mask:
            apply_default_masks(self.fabric, asset=asset_id)
        return row

    def mask_defaults(self, vt_name: str | None = None) -> list[MaskAction]:
        return apply_default_masks(self.fabric, vt_name)


def apply_default_masks(fabric: Fabric, vt_name: str | None = None, *, asset: str | None = None,
                        assets: Collection[str] | None = None) -> list[MaskAction]:
    """Mask every classified personal column of virtual tables (one, those over ``asset`` or any of
    ``assets``, or all).

    Idempotent: a column already masked with the class's rule is ``kept``; a column a steward
    masked with another rule keeps that rule; tables the acting principal may not govern are
    ``skipped``. A grant's ``unmasked`` list is how a principal sees raw values.
    """
    tables = [fabric.virtual.table(vt_name)] if vt_name else fabric.virtual.tables()
    if asset is not None:
        tables = [t for t in tables if t.asset_id == asset]
    if assets is not None:
        tables = [t for t in tables if t.asset_id in assets]
    actions: list[MaskAction] = []
    with fabric.store.session() as s:
        for t in tables:
            classes = {r.column_name: r for r in s.scalars(
                select(ColumnClassification).where(ColumnClassification.asset_id == t.asset_id))}
            existing = {m.column_name: m for m in fabric.access.masks(t.name)}
            for vcol in t.columns:
                if vcol.get("hidden"):
                    continue  # never visible, so nothing to mask
                phys = physical_of(vcol)
                c = classes.get(phys) if phys else None
                if c is None or c.pii_class is None or c.pii_class not in PII_CLASSES:
                    continue
                pc = PII_CLASSES[c.pii_class]
                if pc.mask is None:
                    continue
                name, params = vcol["name"], dict(pc.mask_params)
                have = existing.get(name)
                if have is not None:
                    same = have.rule == pc.mask and (have.params or {}) == params
                    actions.append(MaskAction(t.name, name, pc.name, have.rule, "kept",
                                              "" if same else f"a steward chose rule {have.rule}"))
                    continue
                try:
                    fabric.access.set_mask(t.name, name, pc.mask, params)
                except AccessDenied as exc:
                    actions.append(MaskAction(t.name, name, pc.name, pc.mask, "skipped", str(exc)))
                    continue
                except GovfabricError:
                    raise
                actions.append(MaskAction(t.name, name, pc.name, pc.mask, "set"))
    return actions
