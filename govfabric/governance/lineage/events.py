"""OpenLineage run events for what govfabric does, stored in the metadata store.

Built with openlineage-python's ``event_v2``/``facet_v2`` classes so that they follow
the specification; every event validates against the official JSON schemas (tests).

Kinds: virtual queries (:func:`query_template`, stored per run by :func:`record_query`),
harvests (:func:`harvest_event`), virtual table and view definitions (:func:`virtual_table_event`,
:func:`view_event`), file loads and exports (:func:`file_event`). :func:`emit` stores an event, indexes its edges and —
when ``lineage_url`` is set — forwards it to an OpenLineage HTTP consumer after commit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from govfabric import __version__
from govfabric.deferred import without_init
from govfabric.governance.lineage.models import LineageEdge, LineageEvent
from govfabric.store.base import new_id, utcnow
from govfabric.store.bulk import bulk_insert, new_ids
from govfabric.store.db import on_commit
from govfabric.store.prepared import Prepared

# openlineage.client's __init__ loads its client and HTTP transports (requests, httpx: ≈ 0.27 s);
# events use only its facet_v2/event_v2/serde/uuid submodules
without_init("openlineage.client")

if TYPE_CHECKING:
    from govfabric.catalog.models import Asset, Source
    from govfabric.fabric import Fabric
    from govfabric.virtualization.models import VirtualTableRow, VirtualViewRow
    from govfabric.virtualization.pipeline import PlannedQuery

log = logging.getLogger(__name__)
PRODUCER = f"https://github.com/govfabric/govfabric/tree/v{__version__}"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
Column = tuple[str, str | None]  # (name, type)
HARVEST_PREFIX = "harvest."  # job names of :func:`harvest_event` (whose edges are not stored: :func:`store_event`)


def namespace(fabric: Fabric) -> str:
    """Virtual tables and views live here (the names users query)."""
    return f"govfabric://{fabric.settings.home.name}"


def catalog_namespace(fabric: Fabric) -> str:
    """Catalog assets (physical tables and files, as harvested) live here."""
    return f"{namespace(fabric)}/catalog"


def source_namespace(source: Source) -> str:
    """The OpenLineage namespace of a source: ``postgres://host:port``, ``sqlite:///path``, ``file:///dir``."""
    from govfabric.catalog.sources import kind_of

    return kind_of(source).lineage_namespace(source)


def source_dataset_name(source: Source, asset: Asset) -> str:
    """The name of the asset's table or file inside its source namespace."""
    from govfabric.catalog.sources import kind_of

    return kind_of(source).lineage_name(source, asset)


# -- building blocks --------------------------------------------------------------------------

def _ol() -> Any:
    from openlineage.client import facet_v2 as fv

    fv.set_producer(PRODUCER)
    return fv


def _schema(columns: Iterable[Column]) -> Any:
    from openlineage.client.facet_v2 import schema_dataset as sd

    return sd.SchemaDatasetFacet([sd.SchemaDatasetFacetFields(n, t or None) for n, t in columns])


def _input_field(f: dict[str, Any]) -> Any:
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    return cl.InputField(f["namespace"], f["name"], f["field"],
                         [cl.Transformation(**t) for t in f.get("transformations", [])])


def _column_lineage(fields: dict[str, list[dict[str, Any]]], dataset: Sequence[dict[str, Any]] = ()) -> Any:
    from openlineage.client.facet_v2 import column_lineage_dataset as cl

    return cl.ColumnLineageDatasetFacet(
        fields={k: cl.Fields([_input_field(f) for f in v]) for k, v in fields.items()},
        dataset=[_input_field(f) for f in dataset])


def _ownership(owners: Iterable[tuple[str, str]]) -> Any:
    from openlineage.client.facet_v2 import ownership_dataset as od

    return od.OwnershipDatasetFacet([od.Owner(name=n, type=t) for n, t in owners])


def identity(ns: str, name: str, field: str, subtype: str = "IDENTITY") -> dict[str, Any]:
    return {"namespace": ns, "name": name, "field": field,
            "transformations": [{"type": "DIRECT", "subtype": subtype}]}


def _event(fabric: Fabric | None, job_ns: str, job_name: str, job_type: str, inputs: list[Any],
           outputs: list[Any], *, ok: bool = True, error: str | None = None, sql: str | None = None,
           dialect: str | None = None, engine: str = "govfabric") -> dict[str, Any]:
    from openlineage.client import event_v2 as ev
    from openlineage.client.facet_v2 import (
        error_message_run,
        job_type_job,
        processing_engine_run,
        sql_job,
    )
    from openlineage.client.serde import Serde
    from openlineage.client.uuid import generate_new_uuid

    _ol()
    run_facets: dict[str, Any] = {"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
        version=__version__, name=engine)}
    if error:
        run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(error[:2000], "python")
    job_facets: dict[str, Any] = {"jobType": job_type_job.JobTypeJobFacet("BATCH", "GOVFABRIC", job_type)}
    if sql:
        job_facets["sql"] = sql_job.SQLJobFacet(sql, dialect=dialect or "duckdb")
    event = ev.RunEvent(
        eventType=ev.RunState.COMPLETE if ok else ev.RunState.FAIL,
        eventTime=datetime.now(UTC).isoformat(), producer=PRODUCER,
        run=ev.Run(str(generate_new_uuid()), facets=run_facets),
        job=ev.Job(job_ns, job_name, facets=job_facets), inputs=inputs, outputs=outputs)
    payload = Serde.to_dict(event)
    payload["schemaURL"] = SCHEMA_URL
    return payload


# -- event kinds ------------------------------------------------------------------------------

class QueryTemplate(dict[str, Any]):
    """:func:`query_template`'s event (a dict), and — cut at its first run (:meth:`cut`) — its JSON
    text split where a run's own values go: a run splices its status, time, run id and result name
    into the text (:func:`record_query`) instead of copying and encoding the whole payload."""

    __slots__ = ("_cut",)

    def cut(self) -> _Cut:
        found: _Cut | None = getattr(self, "_cut", None)
        if found is None:
            found = self._cut = _Cut(self)
        return found


class _Cut:
    """A query template's encoded text around its four run values (see :class:`QueryTemplate`)."""

    __slots__ = ("inputs", "job_name", "job_namespace", "order", "output_prefix", "parts")

    def __init__(self, tpl: dict[str, Any]) -> None:
        import secrets

        from govfabric.store.db import RawJson, json_text

        mark = f"gf-splice-{secrets.token_hex(12)}-"  # unguessable: the SQL text cannot hold it
        marks = [f'"{mark}{n}"' for n in range(4)]  # as encoded: status, time, run id, result name
        probe = {**tpl, "eventType": marks[0][1:-1], "eventTime": marks[1][1:-1],
                 "run": {**tpl["run"], "runId": marks[2][1:-1]},
                 "outputs": [{**tpl["outputs"][0], "name": marks[3][1:-1]}]}
        text = json_text(probe)
        if any(text.count(m) != 1 for m in marks):
            raise RuntimeError("a query event template could not be cut")  # pragma: no cover
        at = sorted((text.index(m), n) for n, m in enumerate(marks))
        self.order = tuple(n for _, n in at)  # which value goes in each gap
        ends = [0, *(i + len(marks[n]) for i, n in at)]
        self.parts = tuple(text[ends[k]:i] for k, (i, _) in enumerate(at)) + (text[ends[-1]:],)
        self.job_namespace, self.job_name = tpl["job"]["namespace"], tpl["job"]["name"]
        self.inputs = RawJson(json_text([f"{d['namespace']}/{d['name']}" for d in tpl.get("inputs", [])]))
        self.output_prefix = f"{tpl['outputs'][0]['namespace']}/"

    def splice(self, event_type: str, event_time: str, run_id: str, output: str) -> str:
        """The event's JSON text with these values (JSON-safe ASCII: no escaping needed)."""
        values, p = (event_type, event_time, run_id, output), self.parts
        a, b, c, d = (values[n] for n in self.order)
        return f'{p[0]}"{a}"{p[1]}"{b}"{p[2]}"{c}"{p[3]}"{d}"{p[4]}'


def query_template(fabric: Fabric, sql: str, planned: PlannedQuery, dialect: str | None) -> QueryTemplate:
    """What a virtual query's run event holds that only depends on the query, its plan and the
    principal: inputs, output schema, column-level lineage, job and facets. Built once per cached
    plan (sqlglot's lineage walk and openlineage-python's serialisation are most of an event's
    cost); :func:`record_query` adds the run."""
    from openlineage.client import event_v2 as ev

    from govfabric.governance.lineage.columns import query_lineage

    ns = namespace(fabric)
    masked = {t: set(c) for t, c in planned.masked_columns.items()}
    lineage: dict[str, Any] = {"fields": {}, "dataset": []}
    if planned.virtual_expression is not None:
        lineage = query_lineage(planned.virtual_expression, ns, masked)
    _ol()
    inputs = [ev.InputDataset(ns, t, facets={"schema": _schema((c, None) for c in planned.columns_used.get(t, ()))})
              for t in planned.tables_used]
    output = ev.OutputDataset(f"{ns}/results", "query/", facets={
        "schema": _schema((c, None) for c in planned.output_columns),
        "columnLineage": _column_lineage({k: v["inputFields"] for k, v in lineage["fields"].items()},
                                         lineage["dataset"]),
    })
    return QueryTemplate(_event(fabric, ns, f"virtual_query.{fabric.user}", "QUERY", inputs, [output],
                                sql=sql, dialect=dialect, engine=f"govfabric/{planned.engine}"))


def record_query(fabric: Fabric, session: Session, template: dict[str, Any], status: str, actor: str | None,
                 sql: str, *, forward: bool | None = None) -> str:
    """Store a COMPLETE/FAIL run event of one virtual query, with column-level lineage: ``template``
    (:func:`query_template` of the same query, plan and principal) with a new run and result, its
    text spliced (:class:`QueryTemplate`). As :func:`emit` with ``fresh_outputs`` (no edge rows: the
    graph derives them, ``graph.derived``); forwarded after commit when ``lineage_url`` is set —
    ``forward``: whether it was when the query ran (its event may be written later). Returns the event's id."""
    from govfabric.governance.lineage import graph
    from govfabric.store.db import RawJson, gather, json_text, json_value

    cut = template.cut() if isinstance(template, QueryTemplate) else _Cut(template)
    now, run_id, result = datetime.now(UTC), _run_id(), f"query/{_run_id()}"
    event_type = "COMPLETE" if status == "ok" else "FAIL"
    text = cut.splice(event_type, now.isoformat(), run_id, result)
    event_id = new_id()
    gather(session, _EVENT_INSERT, {
        "id": event_id, "run_id": run_id, "event_type": event_type, "event_time": now,
        "job_namespace": cut.job_namespace, "job_name": cut.job_name, "inputs": cut.inputs,
        "outputs": RawJson(json_text([cut.output_prefix + result])), "actor": actor, "payload": RawJson(text),
        "sql": sql, "forwarded_at": None, "forward_error": None})
    if event_type == "COMPLETE":
        graph.derived(session, event_id, lambda: json_value(text), actor)
    if fabric.settings.lineage_url if forward is None else forward:
        from govfabric.governance.lineage.transport import submit

        # queued once committed: a slow or dead consumer never holds up the caller
        on_commit(session, lambda: submit(fabric, event_id, json_value(text)))
    return event_id


def consumer_namespace(principal: str) -> str:
    """Where a consumer's received data lives: the app (or person) that called a service."""
    return f"govfabric-app://{principal}"


def consumer_event(fabric: Fabric, job_name: str, job_type: str, source: str, columns: Sequence[str],
                   consumer: str, output: str, *, masked: Iterable[str] = ()) -> dict[str, Any]:
    """A service handing ``columns`` of virtual table or view ``source`` to ``consumer``: the output
    dataset ``govfabric-app://<consumer>`` / ``output`` (owned by the consumer), each column derived
    from the source's (IDENTITY, or MASKING where a mask applies), so lineage names the consumer."""
    from openlineage.client import event_v2 as ev

    ns, hidden = namespace(fabric), set(masked)
    facets: dict[str, Any] = {
        "schema": _schema((c, None) for c in columns),
        "columnLineage": _column_lineage({c: [identity(ns, source, c, "MASKING" if c in hidden else "IDENTITY")]
                                          for c in columns}),
        "ownership": _ownership([(consumer, "CONSUMER")]),
    }
    return _event(fabric, ns, job_name, job_type,
                  [ev.InputDataset(ns, source, facets={"schema": _schema((c, None) for c in columns)})],
                  [ev.OutputDataset(consumer_namespace(consumer), output, facets=facets)])


#: the ``_schemaURL`` openlineage-python writes for the facets of a harvest event, which is written without
#: the library (importing it was ~0.4 s of CPU of a process's first harvest); a test checks these against
#: the library's own facet classes
_FACET_SCHEMAS = {
    "schema": "1-2-0/SchemaDatasetFacet", "datasource": "1-0-1/DatasourceDatasetFacet",
    "columnLineage": "1-2-0/ColumnLineageDatasetFacet", "ownership": "1-0-1/OwnershipDatasetFacet",
    "processing_engine": "1-1-1/ProcessingEngineRunFacet", "jobType": "2-0-4/JobTypeJobFacet",
}


def _facet_head(name: str) -> dict[str, str]:
    """``_producer``/``_schemaURL`` of a facet kind, as openlineage-python writes them."""
    version, kind = _FACET_SCHEMAS[name].split("/")
    return {"_producer": PRODUCER, "_schemaURL": f"https://openlineage.io/spec/facets/{version}/{kind}.json#/$defs/{kind}"}


def _run_id() -> str:
    """A UUIDv7, as ``openlineage.client.uuid.generate_new_uuid`` makes run ids."""
    import secrets
    import time
    import uuid

    v = (time.time_ns() // 10**6 & 0xFFFFFFFFFFFF) << 80 | secrets.randbits(76)
    v = (v & ~(0xF000 << 64)) | 7 << 76
    v = (v & ~(0xC000 << 48)) | 0x8000 << 48
    return str(uuid.UUID(int=v))


def _plain_event(job_ns: str, job_name: str, job_type: str, engine: str) -> dict[str, Any]:
    """What :func:`_event` makes of a complete run without SQL, inputs or outputs, as plain dicts."""
    return {"eventTime": datetime.now(UTC).isoformat(), "producer": PRODUCER, "schemaURL": SCHEMA_URL,
            "run": {"runId": _run_id(), "facets": {"processing_engine": {
                **_facet_head("processing_engine"), "version": __version__, "name": engine}}},
            "job": {"namespace": job_ns, "name": job_name, "facets": {"jobType": {
                **_facet_head("jobType"), "processingType": "BATCH", "integration": "GOVFABRIC",
                "jobType": job_type}}},
            "eventType": "COMPLETE", "inputs": [], "outputs": []}


def harvest_event(fabric: Fabric, source: Source, assets: Sequence[Asset]) -> dict[str, Any]:
    """A harvest: the source's tables/files (its namespace) → catalog assets, with schema,
    datasource and ownership facets and IDENTITY column lineage. The inputs carry their datasource
    only: their schema is the outputs' (each column an IDENTITY copy named by the column lineage),
    and repeating it was a sixth of a 10,000-table harvest's 70 MB document.

    Written as plain dicts in the shape openlineage-python serialises (a harvest of 10,000 tables
    would spend half a minute in its attrs/serde round trip, and importing it is ~0.4 s); the tests
    validate the result against the official schemas like every other event."""
    from govfabric.catalog.sources import kind_of

    sns, cns = source_namespace(source), catalog_namespace(fabric)
    schema_h, ds_h, cl_h, own_h = (_facet_head(k) for k in ("schema", "datasource", "columnLineage", "ownership"))
    default_owner = f"department:{source.department}" if source.department else None
    # built once per harvest, not per table: the same datasource, and one IDENTITY transformation
    # list that every column's input field names (the payload is serialised, never edited)
    datasource = {**ds_h, "name": source.name, "uri": sns}
    same = [{"type": "DIRECT", "subtype": "IDENTITY"}]
    lineage_name = kind_of(source).lineage_name
    owners: dict[str, dict[str, Any]] = {}
    inputs, outputs = [], []
    for a in assets:
        name = lineage_name(source, a)
        fields = [{"name": c.name, "type": c.data_type, "fields": []} if c.data_type else
                  {"name": c.name, "fields": []} for c in a.columns]
        inputs.append({"namespace": sns, "name": name, "facets": {"datasource": datasource}, "inputFacets": {}})
        facets: dict[str, Any] = {
            "schema": {**schema_h, "fields": fields}, "datasource": datasource,
            "columnLineage": {**cl_h, "fields": {c.name: {"inputFields": [
                {"namespace": sns, "name": name, "field": c.name, "transformations": same}]} for c in a.columns},
                "dataset": []},
        }
        owner = f"department:{a.owner_department}" if a.owner_department else default_owner
        if owner:
            if owner not in owners:
                owners[owner] = {**own_h, "owners": [{"name": owner, "type": "DEPARTMENT"}]}
            facets["ownership"] = owners[owner]
        outputs.append({"namespace": cns, "name": a.qualified_name, "facets": facets, "outputFacets": {}})
    payload = _plain_event(namespace(fabric), f"{HARVEST_PREFIX}{source.name}", "HARVEST",
                           f"govfabric/harvest-{source.kind}")
    payload["inputs"], payload["outputs"] = inputs, outputs
    return payload


_CAST_COL = re.compile(r'CAST\("((?:[^"]|"")*)" AS', re.IGNORECASE)


def virtual_table_event(fabric: Fabric, row: VirtualTableRow, asset: Asset) -> dict[str, Any]:
    """A virtual table definition: catalog asset → virtual table, one edge per mapped column
    (IDENTITY for a mapped column, TRANSFORMATION for a cast)."""
    from openlineage.client import event_v2 as ev

    _ol()
    ns, cns = namespace(fabric), catalog_namespace(fabric)
    fields: dict[str, list[dict[str, Any]]] = {}
    for c in row.columns:
        if c.get("physical"):
            fields[c["name"]] = [identity(cns, asset.qualified_name, c["physical"])]
        elif c.get("expr"):
            m = _CAST_COL.search(c["expr"])
            if m:
                fields[c["name"]] = [identity(cns, asset.qualified_name, m.group(1).replace('""', '"'),
                                              "TRANSFORMATION")]
    inputs = [ev.InputDataset(cns, asset.qualified_name,
                              facets={"schema": _schema((c.name, c.data_type) for c in asset.columns)})]
    facets: dict[str, Any] = {"schema": _schema((c["name"], c.get("type")) for c in row.columns),
                              "columnLineage": _column_lineage(fields),
                              "ownership": _ownership([(f"user:{row.created_by}", "MAINTAINER")])}
    return _event(fabric, ns, f"virtual_table.{row.name}", "VIRTUAL_TABLE", inputs,
                  [ev.OutputDataset(ns, row.name, facets=facets)])


def view_event(fabric: Fabric, row: VirtualViewRow) -> dict[str, Any]:
    """A view definition: the virtual tables it reads → the view, column lineage through sqlglot
    (the view's SQL planned with full access, views it reads expanded)."""
    from openlineage.client import event_v2 as ev

    from govfabric.governance.lineage.columns import column_lineage
    from govfabric.virtualization.pipeline import plan
    from govfabric.virtualization.policy import Policy, TableGrant
    from govfabric.virtualization.read import table_names
    from govfabric.virtualization.tables import CatalogResolver

    ns = namespace(fabric)
    with fabric.store.session() as s:
        resolver = CatalogResolver(s, ["duckdb"])
        grants = {n: TableGrant() for n in table_names(s)}
        planned = plan(row.sql, dialect=row.dialect, engine="duckdb", resolver=resolver,
                       policy=Policy("system", grants), keep_virtual=True)
    lineage: dict[str, Any] = {"fields": {}, "dataset": []}
    if planned.virtual_expression is not None:
        lineage = column_lineage(planned.virtual_expression, lambda t: (ns, t))
    _ol()
    inputs = [ev.InputDataset(ns, t, facets={"schema": _schema((c, None) for c in planned.columns_used.get(t, ()))})
              for t in planned.tables_used]
    facets = {"schema": _schema((c, None) for c in planned.output_columns),
              "columnLineage": _column_lineage({k: v["inputFields"] for k, v in lineage["fields"].items()},
                                               lineage["dataset"]),
              "ownership": _ownership([(f"user:{row.created_by}", "MAINTAINER")])}
    return _event(fabric, ns, f"view.{row.name}", "VIEW", inputs, [ev.OutputDataset(ns, row.name, facets=facets)],
                  sql=row.sql, dialect=row.dialect)


def file_event(fabric: Fabric, job_name: str, job_type: str, *, inputs: Sequence[tuple[str, str]],
               output: tuple[str, str], columns: Sequence[Column], identity_columns: bool = True,
               ok: bool = True, error: str | None = None, sql: str | None = None) -> dict[str, Any]:
    """A file load (file → dataset) or export (datasets → file). ``inputs``/``output`` are
    (namespace, name) pairs; with ``identity_columns`` each output column comes from the
    same-named column of the single input."""
    from openlineage.client import event_v2 as ev

    _ol()
    facets: dict[str, Any] = {"schema": _schema(columns)}
    if identity_columns and len(inputs) == 1:
        ins, iname = inputs[0]
        facets["columnLineage"] = _column_lineage({c: [identity(ins, iname, c)] for c, _ in columns})
    return _event(fabric, namespace(fabric), job_name, job_type, [ev.InputDataset(n, d) for n, d in inputs],
                  [ev.OutputDataset(output[0], output[1], facets=facets)], ok=ok, error=error, sql=sql)


def quality_event(fabric: Fabric, asset: str, assertions: Sequence[dict[str, Any]], *,
                  row_count: int | None = None, column_metrics: dict[str, dict[str, Any]] | None = None,
                  suite: str | None = None, ok: bool = True, error: str | None = None) -> dict[str, Any]:
    """A quality run over a catalog asset: its input carries the dataQualityAssertions facet
    (``assertions``: dicts with assertion, success, and optionally column, severity, name,
    description, expected, actual) and the dataQualityMetrics facet (row count, per-column
    nullCount/distinctCount/min/max…)."""
    from openlineage.client import event_v2 as ev
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dqa
    from openlineage.client.facet_v2 import data_quality_metrics_input_dataset as dqm

    _ol()
    allowed = {"assertion", "success", "column", "severity", "name", "description", "expected", "actual"}
    facet = dqa.DataQualityAssertionsDatasetFacet([
        dqa.Assertion(**{k: (str(v) if k in ("expected", "actual") and v is not None else v)
                         for k, v in a.items() if k in allowed}) for a in assertions])
    input_facets: dict[str, Any] = {"dataQualityMetrics": dqm.DataQualityMetricsInputDatasetFacet(
        columnMetrics={c: dqm.ColumnMetrics(**m) for c, m in (column_metrics or {}).items()}, rowCount=row_count)}
    inp = ev.InputDataset(catalog_namespace(fabric), asset, facets={"dataQualityAssertions": facet},
                          inputFacets=input_facets)
    return _event(fabric, namespace(fabric), f"quality.{suite or asset}", "QUALITY", [inp], [], ok=ok, error=error,
                  engine="govfabric/quality")


def record_quality(fabric: Fabric, session: Session, asset: str, assertions: Sequence[dict[str, Any]],
                   **kw: Any) -> str:
    """After a quality run (see :func:`quality_event`)."""
    return emit(fabric, session, quality_event(fabric, asset, assertions, **kw))


def file_namespace(path: str | Path) -> tuple[str, str]:
    """(``file:///dir``, file name) of a local file."""
    p = Path(path).resolve()
    return p.parent.as_uri(), p.name


# -- storing ----------------------------------------------------------------------------------

def edges_of(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The graph links one event asserts: dataset→dataset, column→column, column→dataset."""
    job = payload["job"]["name"]
    out: list[dict[str, Any]] = []
    ins = [f"{d['namespace']}/{d['name']}" for d in payload.get("inputs", [])]
    for o in payload.get("outputs", []):
        dst = f"{o['namespace']}/{o['name']}"
        lineage = (o.get("facets") or {}).get("columnLineage") or {}
        # an output comes from the inputs its column lineage names (a harvest's N tables are N
        # separate links, not N×N); without column lineage, from every input of the run
        named = [f"{f['namespace']}/{f['name']}" for body in (lineage.get("fields") or {}).values()
                 for f in body.get("inputFields", [])] + [f"{f['namespace']}/{f['name']}"
                                                          for f in lineage.get("dataset") or []]
        for src in dict.fromkeys(named or ins):
            out.append({"src": src, "src_field": "", "dst": dst, "dst_field": "", "kind": "DATASET",
                        "subtype": None, "job_name": job})
        for field, body in (lineage.get("fields") or {}).items():
            for f in body.get("inputFields", []):
                t = (f.get("transformations") or [{}])[0]
                out.append({"src": f"{f['namespace']}/{f['name']}", "src_field": f["field"], "dst": dst,
                            "dst_field": field, "kind": t.get("type", "DIRECT"), "subtype": t.get("subtype"),
                            "job_name": job})
        for f in lineage.get("dataset") or []:
            t = (f.get("transformations") or [{}])[0]
            out.append({"src": f"{f['namespace']}/{f['name']}", "src_field": f["field"], "dst": dst,
                        "dst_field": "", "kind": "INDIRECT", "subtype": t.get("subtype"), "job_name": job})
    return out


def derives_edges(payload: dict[str, Any]) -> bool:
    """Whether the graph derives this event's edges from its payload instead of edge rows: a
    harvest's (one per column of every table harvested: most of a first harvest's rows)."""
    return payload["job"]["name"].startswith(HARVEST_PREFIX)


def store_event(session: Session, payload: dict[str, Any], actor: str | None = None,
                sql: str | None = None, *, fresh_outputs: bool = False) -> str:
    """Store the event and its graph edges; a definition's earlier edges (same job, same output) go.
    With ``fresh_outputs`` (outputs named for this run only, as a query's result: nothing to replace)
    no edge row is written: the graph derives the event's edges from its payload when it is built
    and adds them to a built graph once the transaction commits (``graph.derived``), no rebuild.
    A harvest (:func:`derives_edges`) writes no edge rows either: the graph derives them from the
    payload of the job's latest event naming each output (``graph.LineageGraph.add_harvest_events``),
    so a re-harvest's event replaces its outputs' earlier edges there; edge rows of the job stored by
    earlier versions for these outputs are deleted here as before.

    Core statements on the session's connection: the caller's session may hold thousands of
    objects (a harvest's assets), which ORM autoflush would walk before every statement, and a
    query stores one event per run, where the unit of work cost more than the inserts. Returns the
    event's id."""
    values = {
        "id": new_id(), "run_id": payload["run"]["runId"], "event_type": payload.get("eventType", "OTHER"),
        "event_time": datetime.fromisoformat(payload["eventTime"]), "job_namespace": payload["job"]["namespace"],
        "job_name": payload["job"]["name"],
        "inputs": [f"{d['namespace']}/{d['name']}" for d in payload.get("inputs", [])],
        "outputs": [f"{d['namespace']}/{d['name']}" for d in payload.get("outputs", [])],
        "actor": actor, "payload": payload, "sql": sql, "forwarded_at": None, "forward_error": None,
    }
    event_id, job_name, outputs = values["id"], values["job_name"], values["outputs"]
    conn, t = session.connection(), LineageEdge.__table__
    # edge rows are written here only, named for their event's job: a job never stored before (a
    # source's first harvest) has none to replace, and its thousands of outputs need no delete
    earlier = not fresh_outputs and payload.get("eventType") == "COMPLETE" and \
        conn.execute(_SAME_JOB, {"job": job_name}).first() is not None
    _EVENT_INSERT.run(session, values)
    from govfabric.governance.lineage import graph

    if fresh_outputs:
        if payload.get("eventType") == "COMPLETE":
            graph.derived(session, event_id, lambda: payload, actor)
        return event_id
    if payload.get("eventType") == "COMPLETE":
        if earlier:
            for start in range(0, len(outputs), 500):
                conn.execute(delete(t).where(t.c.job_name == job_name, t.c.dst.in_(outputs[start:start + 500])))
        edges = [] if derives_edges(payload) else edges_of(payload)
        if edges:
            # edges_of made these dicts for this call: completed in place, with ids made in one go
            # (sorted: appended to the id index) and one timestamp, converted once, for them all
            now = utcnow()
            for e, edge_id in zip(edges, new_ids(len(edges)), strict=True):
                e["id"], e["actor"], e["event_id"], e["created_at"] = edge_id, actor, event_id, now
            bulk_insert(conn, t, edges)
    graph.invalidate()
    return event_id


_EVENT_INSERT = Prepared(LineageEvent.__table__.insert())
_SAME_JOB = select(LineageEvent.id).where(LineageEvent.job_name == bindparam("job")).limit(1)


def emit(fabric: Fabric, session: Session, payload: dict[str, Any], actor: str | None = None,
         sql: str | None = None, *, fresh_outputs: bool = False) -> str:
    """Store the event (see :func:`store_event`); with ``lineage_url`` set, forward it once the
    transaction commits."""
    event_id = store_event(session, payload, actor or _actor_name(fabric), sql, fresh_outputs=fresh_outputs)
    url = fabric.settings.lineage_url
    if url:
        from govfabric.governance.lineage.transport import submit

        # queued once committed: a slow or dead consumer never holds up the caller
        on_commit(session, lambda: submit(fabric, event_id, payload))
    return event_id


def _actor_name(fabric: Fabric) -> str | None:
    try:
        return fabric.actor.name
    except Exception:  # the acting principal may not exist (system jobs)
        return fabric.user


# -- what the catalog and virtualization services call ---------------------------------------

def record_harvest(fabric: Fabric, session: Session, source: Source,
                   only: Sequence[str] | None = None, *, assets: Sequence[Any] | None = None) -> str | None:
    """After a harvest's sync: one event for the source's active assets (``only`` these, if given:
    a re-harvest reports what it added or changed). ``assets``: those assets as the sync wrote them
    (anything with an ``Asset``'s qualified_name, name, location, owner_department and columns'
    name and data_type), so a large harvest is not read back."""
    from govfabric.catalog.read import active_assets_of_source

    if assets is None:
        assets = active_assets_of_source(session, source.id, only)
    if not assets:
        return None
    return emit(fabric, session, harvest_event(fabric, source, assets))


def record_virtual_table(fabric: Fabric, session: Session, row: VirtualTableRow) -> str:
    """After a virtual table is created or remapped (its row flushed)."""
    from govfabric.catalog.read import asset_with_columns

    asset = asset_with_columns(session, row.asset_id)
    assert asset is not None
    return emit(fabric, session, virtual_table_event(fabric, row, asset))


def record_view(fabric: Fabric, session: Session, row: VirtualViewRow) -> str:
    """After a view is defined or redefined (its row flushed)."""
    return emit(fabric, session, view_event(fabric, row))


def record_file_load(fabric: Fabric, session: Session, path: str | Path, target: tuple[str, str],
                     columns: Sequence[Column]) -> str:
    """A file loaded into a dataset (``target`` = (namespace, name))."""
    return emit(fabric, session, file_event(fabric, f"file_load.{Path(path).name}", "FILE_LOAD",
                                            inputs=[file_namespace(path)], output=target, columns=columns))
