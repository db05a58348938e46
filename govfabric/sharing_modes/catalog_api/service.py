"""The open-data catalogue: open catalog assets as CKAN packages, departments as organisations.

Only metadata is published here, and only of assets whose ``open_class`` is ``open`` or
``conditional_open`` (active ones): every listing starts from :meth:`OpenCatalog.packages`, so no
other asset can leak through a search, a show, a tag or an organisation. Resources are the links a
harvester follows: the dataset files and the query services published over the asset's virtual
tables (reading them still needs a grant). No source data is read, so nothing here goes through the
guarded read path; catalog and virtualization rows are read through their modules' read functions.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from govfabric.catalog import taxonomy
from govfabric.errors import NotFound, ValidationFailed

if TYPE_CHECKING:
    from govfabric.catalog.models import Asset
    from govfabric.fabric import Fabric

#: ``open_class`` values published as open data
OPEN = ("open", "conditional_open")
#: filter fields ``fq`` understands (CKAN's, plus govfabric's classification)
FQ_FIELDS = ("organization", "tags", "theme", "open_class", "res_format", "name")
SORTS = ("score", "name", "title_string", "metadata_modified", "metadata_created")
MAX_ROWS = 1000
_SLUG = re.compile(r"[^a-z0-9_-]+")


def package_name(qualified_name: str, asset_id: str) -> str:
    """A CKAN name (lower-case ASCII, digits, ``-`` and ``_``, 2-100 characters): the qualified name
    slugged when it is ASCII, else one made from the asset id (names in Chinese stay the title)."""
    if qualified_name.isascii():
        slug = _SLUG.sub("-", qualified_name.lower()).strip("-")
        if 2 <= len(slug) <= 100:
            return slug
    return f"asset-{asset_id.lower()}"[:100]


def organization_name(department: str) -> str:
    """A stable CKAN name for a department (its title keeps the Chinese name)."""
    return "dept-" + hashlib.sha256(department.encode()).hexdigest()[:12]


@dataclass
class Resource:
    id: str
    name: str
    format: str
    url: str
    kind: str  # "download" | "query_service"
    description: str | None = None


@dataclass
class Package:
    """One open asset as published: what CKAN and DCAT both render."""

    id: str
    name: str
    qualified_name: str
    title: str
    notes: str | None
    department: str | None
    tags: list[str]
    theme: str | None
    open_class: str
    update_frequency: str | None
    created: datetime
    modified: datetime
    resources: list[Resource] = field(default_factory=list)

    @property
    def organization(self) -> str | None:
        return organization_name(self.department) if self.department else None


@dataclass(frozen=True)
class Query:
    """A checked ``package_search``."""

    q: str = ""
    fq: dict[str, list[str]] = field(default_factory=dict)
    rows: int = 10
    start: int = 0
    sort: list[tuple[str, bool]] = field(default_factory=lambda: [("score", True), ("metadata_modified", True)])
    facet_fields: list[str] = field(default_factory=list)


def parse_fq(fq: str) -> dict[str, list[str]]:
    """``field:value`` terms (values may be quoted; ``+`` prefixes allowed) -> field -> values, all of
    which must match. Anything else is refused rather than silently ignored."""
    out: dict[str, list[str]] = {}
    try:
        parts = shlex.split(fq)
    except ValueError as exc:
        raise ValidationFailed(f"fq {fq!r} is not well formed ({exc}); use field:value or field:\"a value\"") from None
    for part in parts:
        name, sep, value = part.lstrip("+").partition(":")
        if not sep or not value or name not in FQ_FIELDS:
            raise ValidationFailed(f"fq term {part!r} is not understood; use field:value with field one of "
                                   f"{', '.join(FQ_FIELDS)}")
        out.setdefault(name, []).append(value)
    return out


def parse_sort(sort: str) -> list[tuple[str, bool]]:
    """``"name asc, metadata_modified desc"`` -> [(field, descending)]."""
    out: list[tuple[str, bool]] = []
    for clause in sort.split(","):
        bits = clause.split()
        if not bits:
            continue
        if bits[0] not in SORTS or len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
            raise ValidationFailed(f"sort {clause.strip()!r} is not understood; use FIELD asc|desc with FIELD one of "
                                   f"{', '.join(SORTS)}")
        out.append((bits[0], len(bits) == 2 and bits[1].lower() == "desc"))
    return out or Query().sort


class OpenCatalog:
    """Open assets of the workspace of ``fabric``, read-only."""

    def __init__(self, fabric: Fabric, base_url: str = "") -> None:
        self.fabric = fabric
        self.base_url = base_url.rstrip("/")

    # -- the one source of every listing -------------------------------------------------------

    def packages(self) -> list[Package]:
        """Every open, active asset as a package, by name."""
        from govfabric.virtualization.read import table_creators

        assets = [a for cls in OPEN for a in self.fabric.catalog.assets(limit=None, open_class=cls)]
        assets = [a for a in assets if a.status == "active" and a.open_class in OPEN]
        with self.fabric.store.session() as s:
            tables_of: dict[str, list[str]] = {}
            for name, _creator, asset_id in table_creators(s):
                tables_of.setdefault(asset_id, []).append(name)
        offers = {o.name: o for o in self.fabric.datasets.offers()}
        services: dict[str, list[Any]] = {}
        for svc in self.fabric.query_api.list():
            services.setdefault(svc.table_name, []).append(svc)
        out = [self._package(a, sorted(tables_of.get(a.id, [])), offers, services) for a in assets]
        return sorted(out, key=lambda p: p.name)

    def _package(self, a: Asset, tables: list[str], offers: dict[str, Any], services: dict[str, list[Any]]) -> Package:
        resources: list[Resource] = []
        for t in tables:
            if (offer := offers.get(t)) is not None:
                resources += [Resource(
                    id=f"{offer.id}-{fmt}", name=f"{offer.title or t} ({fmt.upper()})", format=fmt.upper(),
                    url=f"{self.base_url}/api/v1/datasets/{t}/download?format={fmt}", kind="download",
                    description="download with a grant (a signed request, a token or a signed link)")
                    for fmt in offer.formats]
            for svc in services.get(t, []):
                resources.append(Resource(
                    id=svc.id, name=svc.name, format="API", url=f"{self.base_url}/api/v1/query/{svc.name}",
                    kind="query_service", description=svc.description))
        return Package(
            id=a.id, name=package_name(a.qualified_name, a.id), qualified_name=a.qualified_name,
            title=a.cn_name or a.name, notes=a.description, department=a.owner_department,
            tags=sorted(set(a.tags or [])), theme=a.theme, open_class=a.open_class or "open",
            update_frequency=a.update_frequency, created=a.created_at,
            modified=a.last_updated_at or a.updated_at, resources=resources)

    # -- CKAN actions --------------------------------------------------------------------------

    def show(self, ref: str) -> Package:
        """The open package with this id, name or qualified name."""
        for p in self.packages():
            if ref in (p.id, p.name, p.qualified_name):
                return p
        raise NotFound(f"no open dataset {ref!r}; list them with package_list")

    def search(self, query: Query) -> tuple[int, list[Package], dict[str, dict[str, int]]]:
        """(count, the page, facet counts) of the open packages matching ``query``."""
        found = self.packages()
        scores: dict[str, int] = {}
        if query.q.strip() and query.q.strip() != "*:*":
            # filtered by open class inside the search, so closed assets never take places in its limit
            scores = {h.asset_id: h.score for cls in OPEN
                      for h in self.fabric.catalog.search(query.q, limit=max(len(found), 1), log=False, open_class=cls)}
            found = [p for p in found if p.id in scores]
        found = [p for p in found if all(self._matches(p, f, v) for f, vs in query.fq.items() for v in vs)]
        for key, desc in reversed(query.sort):
            found.sort(key=lambda p: self._sort_key(p, key, scores), reverse=desc)
        facets = {f: self._facet(found, f) for f in query.facet_fields}
        return len(found), found[query.start:query.start + query.rows], facets

    @staticmethod
    def _matches(p: Package, name: str, value: str) -> bool:
        if name == "organization":
            return value in (p.organization, p.department)
        if name == "tags":
            return value in p.tags
        if name == "theme":
            try:
                return p.theme == taxonomy.normalise("theme", value)
            except ValidationFailed:
                return False
        if name == "open_class":
            return p.open_class == value
        if name == "res_format":
            return value.upper() in {r.format for r in p.resources}
        return value == p.name

    @staticmethod
    def _sort_key(p: Package, key: str, scores: dict[str, int]) -> Any:
        if key == "score":
            return scores.get(p.id, 0)
        if key == "name":
            return p.name
        if key == "title_string":
            return p.title
        return p.created if key == "metadata_created" else p.modified

    @staticmethod
    def _facet(found: list[Package], name: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in found:
            values: list[str | None] = (list(p.tags) if name == "tags" else [p.organization] if name == "organization"
                                        else [p.theme] if name == "theme" else [p.open_class] if name == "open_class"
                                        else [*sorted({r.format for r in p.resources})] if name == "res_format"
                                        else [])
            for v in values:
                if v:
                    counts[v] = counts.get(v, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def organizations(self) -> dict[str, tuple[str, int]]:
        """Organisation name -> (department, open packages), of departments owning an open asset."""
        out: dict[str, tuple[str, int]] = {}
        for p in self.packages():
            if p.department and p.organization:
                out[p.organization] = (p.department, out.get(p.organization, (p.department, 0))[1] + 1)
        return dict(sorted(out.items()))

    def tags(self, query: str | None = None) -> list[str]:
        """Tags of open packages (those containing ``query``, if given), sorted."""
        tags = {t for p in self.packages() for t in p.tags}
        return sorted(t for t in tags if not query or query.lower() in t.lower())
