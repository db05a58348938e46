"""The open catalogue as DCAT-AP 3 (rdflib): a ``dcat:Catalog`` with a ``dcat:Dataset`` per open
asset, a ``dcat:Distribution`` per download format and a ``dcat:DataService`` per query service.

Texts carry ``@zh`` language tags; themes and frequencies are the EU authority tables' IRIs (what
DCAT-AP validators and European portals expect), with govfabric's Chinese theme as a keyword. The
JSON-LD context is INLINE (no remote ``@context`` to fetch: harvesters and tests work offline)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

from govfabric.catalog import taxonomy
from govfabric.sharing_modes.catalog_api.service import OpenCatalog, Package

if TYPE_CHECKING:
    from govfabric.sharing_modes.catalog_api.service import Resource

EU = "http://publications.europa.eu/resource/authority/"
FREQUENCY = Namespace(EU + "frequency/")
THEME = Namespace(EU + "data-theme/")
FILE_TYPE = Namespace(EU + "file-type/")
IANA = "https://www.iana.org/assignments/media-types/"
#: update frequency key -> EU frequency authority code
FREQUENCIES = {"realtime": "UPDATE_CONT", "daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY",
               "quarterly": "QUARTERLY", "yearly": "ANNUAL", "irregular": "IRREG"}
#: theme key -> EU data theme
THEMES = {"market_regulation": "ECON", "public_security": "JUST", "social_security": "SOCI", "taxation": "ECON",
          "health": "HEAL", "education": "EDUC", "transport": "TRAN", "civil_affairs": "SOCI", "housing": "REGI",
          "environment": "ENVI", "government_services": "GOVE", "finance": "ECON"}
#: download format -> (EU file type, IANA media type)
FORMATS = {"csv": ("CSV", "text/csv"), "xlsx": ("XLSX", "application/vnd.openxmlformats-officedocument."
                                                "spreadsheetml.sheet"),
           "parquet": ("PARQUET", "application/vnd.apache.parquet"), "json": ("JSON", "application/json"),
           "ndjson": ("JSON", "application/x-ndjson")}
#: the inline JSON-LD context: prefixes only, so every IRI stays exact
CONTEXT = {"dcat": str(DCAT), "dct": str(DCTERMS), "foaf": str(FOAF), "xsd": str(XSD),
           "rdf": str(RDF), "rdfs": "http://www.w3.org/2000/01/rdf-schema#"}


def _zh(text: str) -> Literal:
    return Literal(text, lang="zh")


def _when(t: datetime) -> Literal:
    return Literal(t.replace(tzinfo=UTC).isoformat(timespec="seconds") if t.tzinfo is None else t.isoformat(),
                   datatype=XSD.dateTime)


def graph(cat: OpenCatalog, base_url: str | None = None) -> Graph:
    """The DCAT-AP 3 graph of the open catalogue; IRIs under ``base_url`` (default: the catalogue's)."""
    base = (base_url or cat.base_url or "http://localhost").rstrip("/")
    g = Graph()
    for prefix, ns in CONTEXT.items():
        g.bind(prefix, ns)
    catalog = URIRef(f"{base}/catalog")
    g.add((catalog, RDF.type, DCAT.Catalog))
    g.add((catalog, DCTERMS.title, _zh("政务开放数据目录")))
    g.add((catalog, DCTERMS.description, _zh("由 govfabric 发布的无条件开放与有条件开放数据资源")))
    g.add((catalog, FOAF.homepage, URIRef(f"{base}/api/3/action/package_list")))
    publishers: dict[str, URIRef] = {}
    packages = cat.packages()
    for p in packages:
        if p.department and p.department not in publishers:
            publishers[p.department] = _agent(g, base, p)
    g.add((catalog, DCTERMS.publisher, _catalog_publisher(g, base, publishers)))
    g.add((catalog, DCTERMS.modified, _when(max((p.modified for p in packages), default=datetime.now(UTC)))))
    for p in packages:
        ds = _dataset(g, base, p, publishers)
        g.add((catalog, DCAT.dataset, ds))
        for r in p.resources:
            if r.kind == "query_service":
                svc = _service(g, base, p, r, publishers)
                g.add((catalog, DCAT.service, svc))
                g.add((svc, DCAT.servesDataset, ds))
            else:
                g.add((ds, DCAT.distribution, _distribution(g, base, r)))
    return g


def _agent(g: Graph, base: str, p: Package) -> URIRef:
    agent = URIRef(f"{base}/organization/{p.organization}")
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, _zh(p.department or "")))
    return agent


def _catalog_publisher(g: Graph, base: str, publishers: dict[str, URIRef]) -> URIRef:
    if len(publishers) == 1:
        return next(iter(publishers.values()))
    agent = URIRef(f"{base}/organization/publisher")
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, _zh("政务数据共享开放平台")))
    return agent


def _dataset(g: Graph, base: str, p: Package, publishers: dict[str, URIRef]) -> URIRef:
    ds = URIRef(f"{base}/dataset/{p.name}")
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.identifier, Literal(p.id)))
    g.add((ds, DCTERMS.title, _zh(p.title)))
    g.add((ds, DCTERMS.description, _zh(p.notes or p.title)))
    g.add((ds, DCTERMS.modified, _when(p.modified)))
    g.add((ds, DCTERMS.issued, _when(p.created)))
    g.add((ds, DCAT.landingPage, URIRef(f"{base}/api/3/action/package_show?id={p.name}")))
    if p.department:
        g.add((ds, DCTERMS.publisher, publishers[p.department]))
    if p.update_frequency in FREQUENCIES:
        g.add((ds, DCTERMS.accrualPeriodicity, FREQUENCY[FREQUENCIES[p.update_frequency]]))
    if p.theme in THEMES:
        g.add((ds, DCAT.theme, THEME[THEMES[p.theme]]))
    label = next((t.zh for t in taxonomy.THEMES if t.key == p.theme), None)
    for kw in [*p.tags, *([label] if label else [])]:  # Chinese keywords tagged @zh
        g.add((ds, DCAT.keyword, Literal(kw) if kw.isascii() else _zh(kw)))
    return ds


def _distribution(g: Graph, base: str, r: Resource) -> URIRef:
    dist = URIRef(f"{base}/distribution/{r.id}")
    g.add((dist, RDF.type, DCAT.Distribution))
    g.add((dist, DCTERMS.title, _zh(r.name)))
    g.add((dist, DCAT.accessURL, URIRef(r.url)))
    file_type, media = FORMATS.get(r.format.lower(), (r.format.upper(), None))
    g.add((dist, DCTERMS.format, FILE_TYPE[file_type]))
    if media:
        g.add((dist, DCAT.mediaType, URIRef(IANA + media)))
    return dist


def _service(g: Graph, base: str, p: Package, r: Resource, publishers: dict[str, URIRef]) -> URIRef:
    svc = URIRef(f"{base}/service/{r.name}")
    g.add((svc, RDF.type, DCAT.DataService))
    g.add((svc, DCTERMS.title, _zh(r.description or r.name)))
    g.add((svc, DCAT.endpointURL, URIRef(r.url)))
    g.add((svc, DCAT.endpointDescription, URIRef(f"{r.url}/schema")))
    if p.department:
        g.add((svc, DCTERMS.publisher, publishers[p.department]))
    return svc


def serialize(cat: OpenCatalog, fmt: str, base_url: str | None = None) -> str:
    """The catalogue as ``turtle`` or ``json-ld`` (with the inline context)."""
    g = graph(cat, base_url)
    if fmt == "json-ld":
        return g.serialize(format="json-ld", context=CONTEXT, indent=2)
    return g.serialize(format="turtle")
