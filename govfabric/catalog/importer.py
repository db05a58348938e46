"""Manual registration (§8.4.1.3b): import asset descriptions from CSV, XLSX or JSON.

Headers may be English field names or their Chinese labels. Every row is
validated; all problems are reported with row numbers, and nothing is imported
unless every row is valid (one transaction).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

from govfabric.auth.audit import append
from govfabric.catalog import taxonomy
from govfabric.catalog.harvest.files import detect_encoding
from govfabric.catalog.harvest.meta import structure_hash
from govfabric.catalog.models import Asset, AssetColumn, AssetVersion
from govfabric.catalog.search_index import index_assets
from govfabric.errors import SourceError, ValidationFailed
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from govfabric.catalog.service import Catalog

MAX_ROWS = 100_000
ALIASES = {
    "名称": "name", "资源名称": "name", "表名": "name", "英文名称": "name",
    "中文名称": "cn_name", "中文名": "cn_name", "资源中文名称": "cn_name",
    "描述": "description", "资源摘要": "description", "说明": "description",
    "类型": "asset_type", "资源类型": "asset_type",
    "所属部门": "owner_department", "归属部门": "owner_department", "提供部门": "owner_department",
    "层级": "level", "主题": "theme", "数据领域": "data_domain", "领域": "data_domain",
    "主题库": "thematic_library", "维度": "dimensions", "业务价值": "business_value",
    "共享属性": "sharing_class", "共享类型": "sharing_class", "开放属性": "open_class", "开放类型": "open_class",
    "更新频率": "update_frequency", "更新周期": "update_frequency", "存储位置": "location",
    "口径": "caliber", "分析口径": "caliber", "统计口径": "caliber", "标签": "tags", "字段": "columns",
    "数据项": "columns", "唯一标识": "identifier", "标识": "identifier",
}


class ColumnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=256)
    type: str = Field(default="VARCHAR", min_length=1, max_length=128)
    cn_name: str | None = None
    description: str | None = None


class AssetSpec(BaseModel):
    """One row of an import file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    identifier: str | None = Field(default=None, max_length=256, description="qualified name; default manual.NAME")
    name: str = Field(min_length=1, max_length=256)
    cn_name: str | None = Field(default=None, max_length=256)
    description: str | None = None
    asset_type: str = "table"
    owner_department: str = Field(min_length=1, max_length=256)
    level: str | None = None
    theme: str | None = None
    data_domain: str | None = None
    thematic_library: str | None = None
    dimensions: list[str] = []
    business_value: str | None = None
    sharing_class: str | None = None
    open_class: str | None = None
    update_frequency: str | None = None
    location: str | None = None
    caliber: str | None = None
    tags: list[str] = []
    columns: list[ColumnSpec] = []

    @field_validator("dimensions", "tags", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            return [p.strip() for p in v.replace("，", ",").replace("；", ",").replace(";", ",").split(",")
                    if p.strip()]
        return v

    @field_validator("columns", mode="before")
    @classmethod
    def _columns(cls, v: Any) -> Any:
        """``name:type:中文名; …`` in a spreadsheet cell, or a list of objects in JSON."""
        if v is None or v == "":
            return []
        if isinstance(v, str):
            out = []
            for part in v.replace("；", ";").split(";"):
                if not part.strip():
                    continue
                bits = [b.strip() for b in part.replace("：", ":").split(":")]
                spec: dict[str, Any] = {"name": bits[0]}
                if len(bits) > 1 and bits[1]:
                    spec["type"] = bits[1]
                if len(bits) > 2 and bits[2]:
                    spec["cn_name"] = bits[2]
                out.append(spec)
            return out
        return v

    @field_validator("asset_type", "level", "theme", "data_domain", "thematic_library", "business_value",
                     "sharing_class", "open_class", "update_frequency")
    @classmethod
    def _facet(cls, v: str | None, info: Any) -> str | None:
        try:
            return taxonomy.normalise(info.field_name, v)
        except ValidationFailed as exc:  # pydantic reports ValueError with the row and field
            raise ValueError(str(exc)) from None


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV, XLSX or JSON file as dicts, keys mapped from Chinese labels."""
    if not path.exists():
        raise ValidationFailed(f"{path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            import polars as pl

            enc = detect_encoding(path)
            df = pl.read_csv(path, encoding="utf8" if enc.startswith("utf-8") else enc,
                             separator="\t" if suffix == ".tsv" else ",", infer_schema=False)
            rows = df.to_dicts()
        elif suffix == ".xlsx":
            import polars as pl

            rows = pl.read_excel(path, engine="calamine", infer_schema_length=0).to_dicts()
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            rows = data.get("assets", data) if isinstance(data, dict) else data
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise ValidationFailed(f"{path.name}: expected a JSON list of objects (or {{\"assets\": [...]}})")
        else:
            raise ValidationFailed(f"{path.name}: import files must be .csv, .tsv, .xlsx or .json")
    except (ValidationFailed, SourceError):
        raise
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"{path.name} is not valid JSON/UTF-8: {exc}") from exc
    except Exception as exc:
        raise ValidationFailed(f"{path.name} cannot be read: {str(exc).splitlines()[0]}") from exc
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(f"{path.name} has {len(rows)} rows; import at most {MAX_ROWS} at a time")
    out = []
    for r in rows:
        mapped: dict[str, Any] = {}
        for k, v in r.items():
            key = ALIASES.get(str(k).strip(), str(k).strip())
            if isinstance(v, str) and not v.strip():
                v = None
            if v is not None:
                mapped[key] = v
        out.append(mapped)
    return out


def import_assets(catalog: Catalog, path: Path) -> list[Asset]:
    rows = read_rows(path)
    if not rows:
        raise ValidationFailed(f"{path.name} has no rows to import")
    specs: list[AssetSpec] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    first_data_row = 1 if path.suffix.lower() == ".json" else 2  # spreadsheet rows count the header
    for i, row in enumerate(rows):
        line = i + first_data_row
        try:
            spec = AssetSpec.model_validate(row)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "row"
                problems.append(f"row {line}: {where}: {err['msg']}")
            continue
        qn = spec.identifier or f"manual.{spec.name}"
        if qn in seen:
            problems.append(f"row {line}: {qn} duplicates row {seen[qn]}")
        seen[qn] = line
        names = [c.name for c in spec.columns]
        if len(set(names)) != len(names):
            problems.append(f"row {line}: duplicate column names")
        specs.append(spec)
    actor = catalog.fabric.actor
    with catalog.store.session() as s:
        existing = set(s.scalars(select(Asset.qualified_name).where(Asset.qualified_name.in_(list(seen)))))
        problems.extend(f"row {seen[q]}: {q} is already registered" for q in sorted(existing, key=seen.get))
        if problems:
            raise ValidationFailed(f"{path.name}: nothing imported; {len(problems)} problem(s)", problems)
        now = utcnow()
        created = []
        for spec in specs:
            qn = spec.identifier or f"manual.{spec.name}"
            structure = [{"name": c.name, "type": c.type, "nullable": True} for c in spec.columns]
            a = Asset(qualified_name=qn, name=spec.name, cn_name=spec.cn_name, description=spec.description,
                      asset_type=spec.asset_type, owner_department=spec.owner_department, level=spec.level,
                      theme=spec.theme, data_domain=spec.data_domain, thematic_library=spec.thematic_library,
                      dimensions=spec.dimensions, business_value=spec.business_value,
                      sharing_class=spec.sharing_class, open_class=spec.open_class,
                      update_frequency=spec.update_frequency,
                      location={"description": spec.location} if spec.location else {},
                      caliber=spec.caliber, tags=spec.tags, registered_via="import",
                      structure_hash=structure_hash(structure), last_updated_at=now)
            a.columns = [AssetColumn(position=j + 1, name=c.name, cn_name=c.cn_name, data_type=c.type,
                                     description=c.description) for j, c in enumerate(spec.columns)]
            s.add(a)
            s.flush()
            s.add(AssetVersion(asset_id=a.id, version=1, structure=structure,
                               structure_hash=a.structure_hash, reason="imported", created_by=actor.name))
            created.append(a)
        index_assets(s, [a.id for a in created])
        append(s, actor.name, "catalog.import", f"file:{path.name}",
               {"assets": len(created), "names": [a.qualified_name for a in created[:50]]})
        return created
