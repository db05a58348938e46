"""OpenLineage run events for what govfabric does, stored in the metadata store.

Built with openlineage-python's ``event_v2``/``facet_v2`` classes so that they follow
the specification; every event validates against the official JSON schemas (tests).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from govfabric import __version__
from govfabric.governance.lineage.models import LineageEvent

if TYPE_CHECKING:
    from govfabric.fabric import Fabric
    from govfabric.virtualization.pipeline import PlannedQuery

PRODUCER = f"https://github.com/govfabric/govfabric/tree/v{__version__}"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def namespace(fabric: Fabric) -> str:
    return f"govfabric://{fabric.settings.home.name}"


def query_event(fabric: Fabric, sql: str, planned: PlannedQuery, status: str, dialect: str | None) -> dict[str, Any]:
    """A COMPLETE/FAIL run event of one virtual query, with column-level lineage."""
    from openlineage.client import event_v2 as ev
    from openlineage.client import facet_v2 as fv
    from openlineage.client.facet_v2 import column_lineage_dataset as cl
    from openlineage.client.facet_v2 import job_type_job, processing_engine_run, schema_dataset, sql_job
    from openlineage.client.serde import Serde
    from openlineage.client.uuid import generate_new_uuid

    from govfabric.governance.lineage.columns import column_lineage

    fv.set_producer(PRODUCER)
    ns = namespace(fabric)
    run_id = str(generate_new_uuid())
    masked = {t: set(c) for t, c in planned.masked_columns.items()}
    lineage: dict[str, Any] = {"fields": {}, "dataset": []}
    if planned.virtual_expression is not None:
        lineage = column_lineage(planned.virtual_expression, lambda t: (ns, t), masked)

    def field(f: dict[str, Any]) -> Any:
        return cl.InputField(f["namespace"], f["name"], f["field"],
                             [cl.Transformation(**t) for t in f.get("transformations", [])])

    inputs = [ev.InputDataset(ns, t, facets={"schema": schema_dataset.SchemaDatasetFacet(
        [schema_dataset.SchemaDatasetFacetFields(c) for c in planned.columns_used.get(t, ())])})
              for t in planned.tables_used]
    output = ev.OutputDataset(f"{ns}/results", f"query/{run_id}", facets={
        "schema": schema_dataset.SchemaDatasetFacet(
            [schema_dataset.SchemaDatasetFacetFields(c) for c in planned.output_columns]),
        "columnLineage": cl.ColumnLineageDatasetFacet(
            fields={k: cl.Fields([field(f) for f in v["inputFields"]]) for k, v in lineage["fields"].items()},
            dataset=[field(f) for f in lineage["dataset"]]),
    })
    event = ev.RunEvent(
        eventType=ev.RunState.COMPLETE if status == "ok" else ev.RunState.FAIL,
        eventTime=datetime.now(UTC).isoformat(),
        producer=PRODUCER,
        run=ev.Run(run_id, facets={"processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=__version__, name=f"govfabric/{planned.engine}")}),
        job=ev.Job(ns, f"virtual_query.{fabric.actor.name}", facets={
            "jobType": job_type_job.JobTypeJobFacet("BATCH", "GOVFABRIC", "QUERY"),
            "sql": sql_job.SQLJobFacet(sql, dialect=dialect or "duckdb"),
        }),
        inputs=inputs,
        outputs=[output],
    )
    payload = Serde.to_dict(event)
    payload["schemaURL"] = SCHEMA_URL
    return payload


def store_event(session: Session, payload: dict[str, Any], actor: str | None = None,
                sql: str | None = None) -> LineageEvent:
    row = LineageEvent(
        run_id=payload["run"]["runId"], event_type=payload.get("eventType", "OTHER"),
        event_time=datetime.fromisoformat(payload["eventTime"]), job_namespace=payload["job"]["namespace"],
        job_name=payload["job"]["name"],
        inputs=[f"{d['namespace']}/{d['name']}" for d in payload.get("inputs", [])],
        outputs=[f"{d['namespace']}/{d['name']}" for d in payload.get("outputs", [])],
        actor=actor, payload=payload, sql=sql,
    )
    session.add(row)
    return row
