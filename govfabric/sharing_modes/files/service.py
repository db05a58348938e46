"""Dataset files (§8.4.2.5): offers, per-consumer files, previews and signed expiring links.

A steward of the owning department offers a virtual table or view. What a consumer downloads is
what THEIR grant shows: the file is written from ``fabric.sql_stream`` acting as the consumer
(masks, row filters, audit of the pipeline), one Arrow batch at a time. A link names the dataset,
format, consumer and expiry and is signed with a workspace-derived key; at download the consumer is
re-checked (active, still granted) before a byte is served."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import pyarrow as pa
from sqlalchemy import select
from sqlglot import exp

from govfabric.auth.audit import append
from govfabric.auth.readpath import require_steward
from govfabric.errors import NotFound, SignatureInvalid, ValidationFailed
from govfabric.outputs import atomic_open, export_path, export_root
from govfabric.sharing_modes.files import writers
from govfabric.sharing_modes.files.models import DatasetFile, DatasetOffer
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from govfabric.fabric import Fabric

LINK_PURPOSE = "dataset-link"
#: a link lives at most this long
MAX_LINK_S = 7 * 24 * 3600
#: a cached copy is re-written after this long even if nothing the store knows of changed (the
#: source itself may have changed since the last harvest)
CACHE_TTL_S = 3600
#: the cache folder inside the export root
CACHE_DIR = ".datasets"
PREVIEW_MAX = 1000
_DURATION = re.compile(r"^\s*(\d{1,7})\s*([smhd])\s*$")


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``1h``, ``7d`` → a timedelta (1 s … 7 d)."""
    m = _DURATION.match(text or "")
    if not m:
        raise ValidationFailed(f"expiry {text!r} is not a duration; write e.g. 15m, 1h or 7d")
    seconds = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    if not 0 < seconds <= MAX_LINK_S:
        raise ValidationFailed(f"expiry {text!r} is out of range; links live from 1s to 7d")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Link:
    url: str
    expires_at: datetime


def select_all(name: str, limit: int | None = None) -> str:
    """``SELECT * FROM "schema"."name"`` built as a tree (the name is a checked virtual name)."""
    schema, _, table = name.partition(".")
    query = exp.select(exp.Star()).from_(exp.table_(table, db=schema, quoted=True))
    if limit is not None:
        query = query.limit(exp.Literal.number(limit))
    return query.sql(dialect="duckdb")


def _sign(key: bytes, dataset: str, fmt: str, consumer: str, expires: int) -> str:
    message = "\n".join((dataset, fmt, consumer, str(expires))).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


class DatasetFiles:
    """The dataset-files sharing mode, acting as ``fabric``'s principal."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    # -- offers ----------------------------------------------------------------------------------

    def publish(self, name: str, formats: list[str], *, encoding: str = "utf-8", bom: bool = False,
                title: str | None = None) -> DatasetOffer:
        """Offer a virtual table or view as files; only a steward of its owning department (or an
        admin). Publishing again updates the offer."""
        from govfabric.virtualization.tables import check_name

        actor = self.fabric.actor
        name = check_name(name)
        fmts = sorted({writers.check_format(f) for f in formats}, key=writers.FORMATS.index)
        if not fmts:
            raise ValidationFailed("give at least one format (--formats csv,xlsx,parquet,json)")
        encoding = writers.check_encoding(encoding)
        with self.store.session() as s:
            kind, department = self._owner(s, name)
            require_steward(actor, department, f"publish {name} as a dataset")
            row = s.scalar(select(DatasetOffer).where(DatasetOffer.name == name))
            if row is None:
                row = DatasetOffer(name=name, kind=kind, published_by=actor.name)
                s.add(row)
            row.formats, row.encoding, row.bom, row.title = fmts, encoding, bom, title
            row.owner_department, row.active, row.unpublished_at = department, True, None
            row.published_by, row.published_at = actor.name, utcnow()
            s.flush()
            append(s, actor.name, "dataset.publish", f"dataset:{name}",
                   {"formats": fmts, "encoding": encoding, "bom": bom, "kind": kind})
            s.expunge(row)
            return row

    def unpublish(self, name: str) -> DatasetOffer:
        actor = self.fabric.actor
        with self.store.session() as s:
            row = self._offer(s, name)
            require_steward(actor, row.owner_department, f"unpublish dataset {row.name}")
            row.active, row.unpublished_at = False, utcnow()
            append(s, actor.name, "dataset.unpublish", f"dataset:{row.name}", {})
            s.flush()
            s.expunge(row)
            return row

    def offers(self) -> list[DatasetOffer]:
        """Active offers (the catalogue of datasets; reading one still needs a grant)."""
        with self.store.session() as s:
            rows = list(s.scalars(select(DatasetOffer).where(DatasetOffer.active.is_(True))
                                  .order_by(DatasetOffer.name)))
            s.expunge_all()
            return rows

    def offer(self, name: str) -> DatasetOffer:
        with self.store.session() as s:
            row = self._offer(s, name)
            s.expunge(row)
            return row

    def describe(self, name: str) -> dict[str, Any]:
        """The offer and the columns the caller would get (refused without a grant)."""
        offer = self.offer(name)
        planned, _ = self.fabric.queries.plan(select_all(offer.name))
        types: dict[str, Any] = {}
        if offer.kind == "table":
            types = {c["name"]: c.get("type") for c in self.fabric.virtual.describe(offer.name)["columns"]}
        return {**offer_dict(offer),
                "columns": [{"name": c, "type": types.get(c)} for c in planned.output_columns]}

    def preview(self, name: str, rows: int = 20) -> dict[str, Any]:
        """The first ``rows`` rows as the caller sees them: ``{columns, rows}`` (a 2-D table)."""
        if not 0 < rows <= PREVIEW_MAX:
            raise ValidationFailed(f"preview rows must be 1–{PREVIEW_MAX}")
        offer = self.offer(name)
        table = self.fabric.sql(select_all(offer.name, limit=rows))
        values = [[_plain(v) for v in r.values()] for r in table.to_pylist()]
        return {"dataset": offer.name, "columns": table.column_names, "rows": values}

    # -- files -----------------------------------------------------------------------------------

    def export(self, name: str, fmt: str, output: str | Path, *, encoding: str | None = None,
               bom: bool | None = None) -> DatasetFile:
        """Write the caller's file of ``name`` to ``output`` (inside the export root), streamed."""
        offer = self._readable_offer(name, fmt)
        target = export_path(self.fabric.settings, output)
        return self._write(offer, fmt, target, encoding=encoding, bom=bom, cached=False)

    def materialise(self, name: str, fmt: str) -> DatasetFile:
        """The caller's file of ``name`` in ``fmt``: reused when one was written for the same data
        version within :data:`CACHE_TTL_S` and is intact, else written afresh (atomically)."""
        offer = self._readable_offer(name, fmt)
        version = self._data_version(offer)
        consumer = self.fabric.actor.name
        since = utcnow() - timedelta(seconds=CACHE_TTL_S)
        with self.store.session() as s:
            found = s.scalars(select(DatasetFile).where(
                DatasetFile.dataset == offer.name, DatasetFile.consumer == consumer, DatasetFile.format == fmt,
                DatasetFile.data_version == version, DatasetFile.path.is_not(None),
                DatasetFile.created_at >= since).order_by(DatasetFile.created_at.desc())).first()
            if found is not None:
                s.expunge(found)
        if found is not None and found.path and _intact(Path(found.path), found.size):
            return found
        target = export_path(self.fabric.settings, f"{CACHE_DIR}/{_safe(consumer)}/{offer.name}/"
                                                   f"{version[:24]}.{writers.EXTENSIONS[fmt]}")
        return self._write(offer, fmt, target, version=version, cached=True)

    def files(self, name: str | None = None) -> list[DatasetFile]:
        """Files written: a consumer sees their own, stewards and auditors all."""
        actor = self.fabric.actor
        with self.store.session() as s:
            q = select(DatasetFile).order_by(DatasetFile.created_at)
            if name:
                q = q.where(DatasetFile.dataset == name.lower())
            if not actor.has("steward", "auditor"):
                q = q.where(DatasetFile.consumer == actor.name)
            rows = list(s.scalars(q))
            s.expunge_all()
            return rows

    def file(self, file_id: str) -> DatasetFile:
        actor = self.fabric.actor
        with self.store.session() as s:
            row = s.get(DatasetFile, file_id)
            if row is None or (row.consumer != actor.name and not actor.has("steward", "auditor")):
                raise NotFound(f"no dataset file {file_id}; list them with `govfabric dataset files`")
            s.expunge(row)
            return row

    def anchor(self, file_id: str) -> dict[str, Any]:
        """Anchor a file's SHA-256 on the chain (``fabric.chain.anchor``, kind ``dataset_file``):
        the consumer or a steward; verify later with ``govfabric chain verify``."""
        row = self.file(file_id)
        if row.anchor_id:
            raise ValidationFailed(f"file {file_id} is already anchored (anchor {row.anchor_id})")
        receipt = self.fabric.chain.anchor("dataset_file", [(row.id, row.sha256)],
                                           {"dataset": row.dataset, "format": row.format, "sm3": row.sm3})
        with self.store.session() as s:
            stored = s.get(DatasetFile, file_id)
            assert stored is not None
            stored.anchor_id = receipt.anchor_id
            append(s, self.fabric.actor.name, "dataset.anchor", f"dataset:{row.dataset}",
                   {"file": row.id, "sha256": row.sha256, "anchor": receipt.anchor_id, "tx": receipt.tx_hash})
        return {"file": row.id, "anchor": receipt.anchor_id, "tx_hash": receipt.tx_hash,
                "block_number": receipt.block_number, "root": receipt.root}

    # -- links -----------------------------------------------------------------------------------

    def link(self, name: str, fmt: str, expires: str | timedelta = "1h") -> Link:
        """A signed URL path for the caller to download their file until it expires."""
        offer = self._readable_offer(name, fmt)
        ttl = expires if isinstance(expires, timedelta) else parse_duration(expires)
        if not timedelta(0) < ttl <= timedelta(seconds=MAX_LINK_S):
            raise ValidationFailed("links live from 1s to 7d")
        consumer = self.fabric.actor.name
        until = int(time.time() + ttl.total_seconds())
        sig = _sign(self.fabric.secrets.derive(LINK_PURPOSE), offer.name, fmt, consumer, until)
        query = urlencode({"format": fmt, "consumer": consumer, "expires": until, "sig": sig})
        with self.store.session() as s:
            append(s, consumer, "dataset.link", f"dataset:{offer.name}", {"format": fmt, "expires": until})
        return Link(f"/api/v1/datasets/{quote(offer.name)}/download?{query}", datetime.fromtimestamp(until, UTC))

    def check_link(self, name: str, fmt: str, consumer: str, expires: int, sig: str) -> None:
        """Raise unless the link is genuine and unexpired (the consumer's grant is checked after)."""
        want = _sign(self.fabric.secrets.derive(LINK_PURPOSE), name.lower(), fmt, consumer, expires)
        if not hmac.compare_digest(want, sig.lower()):
            raise SignatureInvalid("the download link's signature does not match; ask for a new link")
        if expires < time.time():
            raise SignatureInvalid("the download link has expired; ask for a new link")

    # -- internals -------------------------------------------------------------------------------

    def _owner(self, s: Session, name: str) -> tuple[str, str | None]:
        """(kind, owning department) of a virtual table (its asset's) or view (its creator's)."""
        from govfabric.auth import principals
        from govfabric.catalog.read import asset_by_id
        from govfabric.virtualization.read import definition

        found = definition(s, name)
        if found is None:
            raise NotFound(f"no virtual table or view {name}; list them with `govfabric vt list`")
        if found.kind == "table":
            asset = asset_by_id(s, found.asset_id)
            return "table", asset.owner_department if asset else None
        try:
            return "view", principals.get(s, found.created_by or "").department
        except NotFound:
            return "view", None

    @staticmethod
    def _offer(s: Session, name: str) -> DatasetOffer:
        row = s.scalar(select(DatasetOffer).where(DatasetOffer.name == name.strip().lower(),
                                                  DatasetOffer.active.is_(True)))
        if row is None:
            raise NotFound(f"no dataset {name}; list them with `govfabric dataset list`")
        return row

    def _readable_offer(self, name: str, fmt: str) -> DatasetOffer:
        """The offer, if it offers ``fmt`` and the caller may read it now (planning as the caller
        refuses a missing or revoked grant and a disabled principal)."""
        offer = self.offer(name)
        if fmt not in offer.formats:
            raise ValidationFailed(f"dataset {offer.name} is offered as {', '.join(offer.formats)}, not {fmt!r}")
        self.fabric.queries.plan(select_all(offer.name))
        return offer

    def _data_version(self, offer: DatasetOffer) -> str:
        """What the file's bytes depend on as far as the store knows: the object's definition, the
        asset's harvest and signature, the caller's policy (grants, masks, row filters)."""
        from govfabric.catalog.read import asset_by_id
        from govfabric.virtualization.read import definition

        with self.store.session() as s:
            parts: list[Any] = [offer.id, offer.published_at.isoformat(), offer.encoding, offer.bom]
            found = definition(s, offer.name)
            if found is not None and found.kind == "table":
                asset = asset_by_id(s, found.asset_id)
                parts += [found.version, found.definition, getattr(asset, "content_signature", None),
                          str(getattr(asset, "updated_at", None))]
            elif found is not None:
                parts += [found.version, found.definition]
            parts.append(repr(self.fabric.access.policy_for(self.fabric.actor, s)))
        return hashlib.sha256(json.dumps(parts, default=str, ensure_ascii=False).encode()).hexdigest()

    def _write(self, offer: DatasetOffer, fmt: str, target: Path, *, version: str | None = None,
               encoding: str | None = None, bom: bool | None = None, cached: bool) -> DatasetFile:
        consumer = self.fabric.actor.name
        version = version or self._data_version(offer)
        root = export_root(self.fabric.settings)
        # a file is an export: its own row limit (export_row_limit), not the interactive query_row_limit
        batches = self.fabric.queries.stream(select_all(offer.name), row_limit=self.fabric.settings.export_row_limit)
        with atomic_open(target, inside=root) as fh:
            written = writers.write(fmt, batches, fh, empty=_empty_schema(self.fabric, offer.name),
                                    encoding=encoding or offer.encoding,
                                    bom=offer.bom if bom is None else bom, tmpdir=str(target.parent))
        row = DatasetFile(dataset=offer.name, consumer=consumer, format=fmt, data_version=version,
                          path=str(target), rows=written.rows, size=written.size, sha256=written.sha256,
                          sm3=written.sm3)
        with self.store.session() as s:
            s.add(row)
            s.flush()
            append(s, consumer, "dataset.file", f"dataset:{offer.name}",
                   {"file": row.id, "format": fmt, "rows": written.rows, "size": written.size,
                    "sha256": written.sha256, "sm3": written.sm3, "cached": cached})
            s.expunge(row)
        return row


def _empty_schema(fabric: Fabric, name: str) -> pa.Schema:
    planned, _ = fabric.queries.plan(select_all(name))
    return pa.schema([(c, pa.string()) for c in planned.output_columns])


def _intact(path: Path, size: int) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and path.stat().st_size == size
    except OSError:
        return False


def _safe(name: str) -> str:
    """A principal's name as one path segment."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip(".") or "_"
    return cleaned if cleaned == name else f"{cleaned}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _plain(value: Any) -> Any:
    """A preview cell as JSON: dates ISO, decimals exact strings, bytes base64."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        return writers._json_value(value)
    except TypeError:
        return str(value)


def offer_dict(o: DatasetOffer) -> dict[str, Any]:
    return {"name": o.name, "kind": o.kind, "title": o.title, "formats": list(o.formats), "encoding": o.encoding,
            "bom": o.bom, "owner_department": o.owner_department, "published_by": o.published_by,
            "published_at": o.published_at.isoformat()}


def file_dict(f: DatasetFile) -> dict[str, Any]:
    return {"id": f.id, "dataset": f.dataset, "consumer": f.consumer, "format": f.format, "rows": f.rows,
            "size": f.size, "sha256": f.sha256, "sm3": f.sm3, "created_at": f.created_at.isoformat(),
            "anchor_id": f.anchor_id}

