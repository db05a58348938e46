"""The DCAT-AP 3 export: Turtle and JSON-LD (inline context) re-parse to the same graph, conform to
the committed minimal DCAT-AP shapes (pyshacl), and hold only the open assets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS, RDF
from typer.testing import CliRunner

from govfabric.sharing_modes.catalog_api.dcat import FREQUENCY, graph, serialize
from govfabric.sharing_modes.catalog_api.service import OPEN, OpenCatalog
from tests.sharing_modes.catalog_api.conftest import CLOSED_ASSET, OPEN_ASSET

SHAPES = Path(__file__).with_name("dcat-ap-shapes.ttl")
BASE = "https://data.example.gov.cn"


def test_turtle_and_jsonld_reparse_to_the_same_open_catalogue(published: Any) -> None:
    cat = OpenCatalog(published, BASE)
    ttl = Graph().parse(data=serialize(cat, "turtle"), format="turtle")
    raw = serialize(cat, "json-ld")
    doc = json.loads(raw)
    # inline: one context, a dict of prefixes (no remote context document to fetch)
    assert isinstance(doc["@context"], dict) and raw.count('"@context"') == 1
    assert all(isinstance(v, str) and v.endswith(("#", "/")) for v in doc["@context"].values())
    jsonld = Graph().parse(data=raw, format="json-ld")
    assert isomorphic(ttl, jsonld) and isomorphic(ttl, graph(cat))

    opened = [a for a in published.catalog.assets(limit=None) if a.open_class in OPEN]
    datasets = set(ttl.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == len(opened)
    ids = {str(o) for o in ttl.objects(None, DCTERMS.identifier)}
    assert ids == {a.id for a in opened}
    closed = published.catalog.asset(CLOSED_ASSET)
    assert closed.id not in raw and closed.qualified_name not in raw and "market.cases" not in raw

    asset = published.catalog.asset(OPEN_ASSET)
    ds = next(d for d in datasets if (d, DCTERMS.identifier, Literal(asset.id)) in ttl)
    assert (ds, DCTERMS.title, Literal(asset.cn_name, lang="zh")) in ttl
    assert (ds, DCTERMS.accrualPeriodicity, FREQUENCY.DAILY) in ttl
    assert (ds, DCAT.keyword, Literal("市场监管", lang="zh")) in ttl
    assert any(str(t).endswith("/data-theme/ECON") for t in ttl.objects(ds, DCAT.theme))
    assert len(list(ttl.objects(ds, DCAT.distribution))) == 2  # csv and parquet
    services = list(ttl.subjects(RDF.type, DCAT.DataService))
    assert [str(ttl.value(s, DCAT.endpointURL)) for s in services] == [f"{BASE}/api/v1/query/ent_lookup"]
    assert (services[0], DCAT.servesDataset, ds) in ttl
    publisher = ttl.value(ds, DCTERMS.publisher)
    assert isinstance(publisher, URIRef) and str(ttl.value(publisher, URIRef("http://xmlns.com/foaf/0.1/name"))) \
        == asset.owner_department


def test_export_conforms_to_the_dcat_ap_shapes(published: Any) -> None:
    pyshacl = pytest.importorskip("pyshacl")
    data = Graph().parse(data=serialize(OpenCatalog(published, BASE), "turtle"), format="turtle")
    conforms, _, report = pyshacl.validate(data, shacl_graph=Graph().parse(SHAPES, format="turtle"))
    assert conforms, report
    # the shapes bite: a dataset without a description is refused
    ds = next(iter(data.subjects(RDF.type, DCAT.Dataset)))
    data.remove((ds, DCTERMS.description, None))
    conforms, _, report = pyshacl.validate(data, shacl_graph=Graph().parse(SHAPES, format="turtle"))
    assert not conforms and "description" in report


def test_the_route_and_the_cli_serve_the_same_catalogue(open_client: Any, published: Any, tmp_path: Path,
                                                        capsys: Any) -> None:
    from govfabric.cli.main import app, run

    r = open_client.get("/catalog.jsonld")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    served = Graph().parse(data=r.text, format="json-ld")
    assert open_client.get("/catalog.xml").status_code == 404
    out = tmp_path / "catalog.ttl"
    res = CliRunner().invoke(app, ["--home", str(published.settings.home), "dcat", "export", "--format", "turtle",
                                   "-o", str(out), "--base-url", "http://testserver"])
    assert res.exit_code == 0, res.output
    assert isomorphic(Graph().parse(out, format="turtle"), served)
    code = run(["--home", str(published.settings.home), "dcat", "export", "--format", "rdfxml", "-o", str(out)])
    assert code != 0 and "turtle or jsonld" in capsys.readouterr().err
