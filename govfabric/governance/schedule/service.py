"""Scheduled jobs: harvest, quality, export — a registry of job kinds, each a callable.

``Scheduler(fabric).run_due()`` runs every job whose time has come, as the principal who
scheduled it, and records each run (status, duration, error). ``serve()`` is the
long-lived loop behind ``govfabric scheduler``: one process per workspace at a time
(an exclusive lock file), stopped cleanly by SIGTERM or SIGINT between jobs.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from govfabric.auth.audit import append
from govfabric.auth.readpath import reads_source_data
from govfabric.errors import AlreadyExists, Conflict, GovfabricError, NotFound, ValidationFailed
from govfabric.governance.schedule.models import Job, Run
from govfabric.governance.schedule.timing import next_run, parse_cron, parse_every
from govfabric.outputs import atomic_open, export_path, export_root
from govfabric.store.base import utcnow

if TYPE_CHECKING:
    from govfabric.fabric import Fabric

JobFn = Callable[["Fabric", str, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class JobKind:
    run: JobFn
    validate: Callable[[Fabric, str, dict[str, Any]], None] | None = None
    role: tuple[str, ...] = ("steward",)


JOB_KINDS: dict[str, JobKind] = {}


def register_kind(name: str, run: JobFn, *, validate: Callable[[Fabric, str, dict[str, Any]], None] | None = None,
                  role: tuple[str, ...] = ("steward",)) -> None:
    """Add a job kind (e.g. the quality module registers ``quality``)."""
    JOB_KINDS[name] = JobKind(run, validate, role)


#: modules declaring more job kinds (``SCHEDULE_KINDS: dict[str, JobKind]``), merged on first use
KIND_MODULES: tuple[str, ...] = ("govfabric.governance.quality.hooks", "govfabric.prefill.reminders",
                                 "govfabric.sharing_modes.data_service.schedule",
                                 "govfabric.sharing_modes.process.schedule")


def job_kinds() -> dict[str, JobKind]:
    """Every job kind: the built-in ones and those of :data:`KIND_MODULES` (imported once, when needed)."""
    import importlib

    for module in KIND_MODULES:
        for name, kind in importlib.import_module(module).SCHEDULE_KINDS.items():
            JOB_KINDS.setdefault(name, kind)
    return JOB_KINDS


# -- built-in kinds -----------------------------------------------------------------------------

def _harvest(fabric: Fabric, target: str, options: dict[str, Any]) -> dict[str, Any]:
    return fabric.catalog.harvest(target).summary()


def _validate_harvest(fabric: Fabric, target: str, options: dict[str, Any]) -> None:
    fabric.catalog.source(target)


EXPORT_FORMATS = ("parquet", "csv")


def _validate_export(fabric: Fabric, target: str, options: dict[str, Any]) -> None:
    if options.get("format") not in EXPORT_FORMATS:
        raise ValidationFailed(f"export format must be one of {', '.join(EXPORT_FORMATS)}")
    if not options.get("output"):
        raise ValidationFailed("an export needs an output file (-o FILE)")
    export_path(fabric.settings, options["output"])  # under the export root, never a workspace file
    fabric.queries.plan(target)  # the query must plan for its owner now (names, grants)


@reads_source_data("schedule.export", via="pipeline")
def export_query(fabric: Fabric, sql: str, fmt: str, output: str | Path) -> dict[str, Any]:
    """Stream a virtual query's answer (policies applied) into a Parquet or CSV file under the export
    root (:func:`govfabric.outputs.export_path`: checked again at every run, the folders may have
    changed), atomically with mode 0640, and record the export as a lineage event (virtual tables → file)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from govfabric.governance.lineage.events import emit, file_event, file_namespace, namespace

    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed(f"export format must be one of {', '.join(EXPORT_FORMATS)}")
    out = export_path(fabric.settings, output)
    planned, _ = fabric.queries.plan(sql)
    rows = 0
    writer: Any = None
    with atomic_open(out, export_root(fabric.settings)) as sink:
        for batch in fabric.sql_stream(sql):
            if writer is None:
                writer = (pq.ParquetWriter(sink, batch.schema) if fmt == "parquet"
                          else pacsv.CSVWriter(sink, batch.schema))
            writer.write_batch(batch)
            rows += batch.num_rows
        if writer is None:
            table = fabric.sql(sql)
            (pq.write_table if fmt == "parquet" else pacsv.write_csv)(table, sink)
        else:
            writer.close()
    ns = namespace(fabric)
    with fabric.store.session() as s:
        emit(fabric, s, file_event(fabric, f"export.{out.name}", "EXPORT",
                                   inputs=[(ns, t) for t in planned.tables_used],
                                   output=file_namespace(out), columns=[(c, None) for c in planned.output_columns],
                                   identity_columns=False, sql=sql))
    return {"rows": rows, "file": str(out), "format": fmt, "bytes": out.stat().st_size}


def _export(fabric: Fabric, target: str, options: dict[str, Any]) -> dict[str, Any]:
    return export_query(fabric, target, options["format"], options["output"])


register_kind("harvest", _harvest, validate=_validate_harvest)
register_kind("export", _export, validate=_validate_export, role=("steward", "analyst"))


# -- the service ----------------------------------------------------------------------------------

def _job_dict(j: Job) -> dict[str, Any]:
    return {"name": j.name, "kind": j.kind, "target": j.target, "every_s": j.every_s, "cron": j.cron,
            "options": j.options, "enabled": j.enabled, "next_run_at": j.next_run_at, "last_run_at": j.last_run_at,
            "last_status": j.last_status, "created_by": j.created_by}


def _run_dict(r: Run) -> dict[str, Any]:
    return {"job": r.job_name, "started_at": r.started_at, "status": r.status, "duration_ms": r.duration_ms,
            "error": r.error, "result": r.result, "runner": r.runner}


class Scheduler:
    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    def add(self, kind: str, target: str, *, every: str | None = None, cron: str | None = None,
            name: str | None = None, options: dict[str, Any] | None = None) -> dict[str, Any]:
        if kind not in job_kinds():
            raise ValidationFailed(f"unknown job kind {kind!r}; available: {', '.join(sorted(JOB_KINDS))}")
        if (every is None) == (cron is None):
            raise ValidationFailed("give exactly one of --every (e.g. 1h) or --cron (e.g. '0 2 * * *')")
        every_s = parse_every(every) if every else None
        if cron:
            parse_cron(cron)
        spec = JOB_KINDS[kind]
        actor = self.fabric.actor
        actor.require(*spec.role, action=f"schedule {kind} jobs")
        options = dict(options or {})
        if spec.validate:
            spec.validate(self.fabric, target, options)
        name = name or f"{kind}:{target}"[:128]
        now = utcnow()
        with self.store.session() as s:
            if s.scalar(select(Job.id).where(Job.name == name)):
                raise AlreadyExists(f"a job named {name!r} exists; remove it or pass --name")
            job = Job(name=name, kind=kind, target=target, every_s=every_s, cron=cron, options=options,
                      next_run_at=now if every_s else next_run(None, cron, now), created_by=actor.name)
            s.add(job)
            s.flush()
            append(s, actor.name, "schedule.add", f"job:{name}", {"kind": kind, "target": target,
                                                                  "every_s": every_s, "cron": cron})
            return _job_dict(job)

    def jobs(self) -> list[dict[str, Any]]:
        with self.store.session() as s:
            return [_job_dict(j) for j in s.scalars(select(Job).order_by(Job.name))]

    def remove(self, name: str) -> None:
        actor = self.fabric.actor
        with self.store.session() as s:
            job = self._job(s, name)
            if job.created_by != actor.name:
                actor.require("admin", "steward", action="remove others' jobs")
            s.delete(job)
            append(s, actor.name, "schedule.remove", f"job:{name}", {})

    def _job(self, s: Any, name: str) -> Job:
        job = s.scalar(select(Job).where(Job.name == name))
        if job is None:
            known = ", ".join(s.scalars(select(Job.name).order_by(Job.name))) or "none"
            raise NotFound(f"no scheduled job {name!r} (jobs: {known})")
        return job

    def runs(self, name: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        with self.store.session() as s:
            q = select(Run).order_by(Run.started_at.desc()).limit(limit)
            if name:
                q = q.where(Run.job_name == name)
            return [_run_dict(r) for r in s.scalars(q)]

    def run_due(self, now: datetime | None = None, stop: threading.Event | None = None) -> list[dict[str, Any]]:
        """Run every enabled job whose time has come (one pass); returns the runs."""
        now = now or utcnow()
        with self.store.session() as s:
            due = list(s.scalars(select(Job.name).where(Job.enabled.is_(True), Job.next_run_at <= now)
                                 .order_by(Job.next_run_at)))
        out = []
        for name in due:
            if stop is not None and stop.is_set():
                break
            out.append(self.run_job(name))
        return out

    def run_job(self, name: str) -> dict[str, Any]:
        """Run one job now as its creator, record the run and schedule the next."""
        with self.store.session() as s:
            job = self._job(s, name)
            job_id, kind, target, options, owner = job.id, job.kind, job.target, dict(job.options), job.created_by
            run = Run(job_id=job_id, job_name=name, runner=f"{socket.gethostname()}:{os.getpid()}")
            s.add(run)
            s.flush()
            run_id = run.id
        t0 = time.perf_counter()
        status, error, result = "ok", None, {}
        try:
            spec = job_kinds().get(kind)
            if spec is None:
                raise ValidationFailed(f"job kind {kind!r} is not available in this build")
            result = spec.run(self.fabric.as_user(owner), target, options) or {}
        except GovfabricError as exc:
            status, error = "error", str(exc)
        except Exception as exc:  # a job must not stop the scheduler; the run records what happened
            status, error = "error", f"{type(exc).__name__}: {exc}"
        ms = (time.perf_counter() - t0) * 1000
        finished = utcnow()
        with self.store.session() as s:
            run = s.get(Run, run_id)
            assert run is not None
            run.status, run.error, run.result, run.duration_ms, run.finished_at = status, error, result, ms, finished
            job = s.get(Job, job_id)
            if job is not None:
                job.last_run_at, job.last_status = finished, status
                job.next_run_at = next_run(job.every_s, job.cron, finished)
            append(s, owner, "schedule.run", f"job:{name}", {"status": status, "ms": round(ms, 1),
                                                             "error": (error or "")[:300] or None})
            return _run_dict(run)


# -- the long-lived runner --------------------------------------------------------------------------

@contextmanager
def runner_lock(home: Path) -> Iterator[Path]:
    """One scheduler per workspace: an exclusive, non-blocking lock on ``home/scheduler.lock``."""
    path = home / "scheduler.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise Conflict(f"a scheduler is already running for this workspace ({holder}); "
                           "stop it first, or let it run the jobs") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)


def serve(fabric: Fabric, tick_s: float = 5.0, max_runtime_s: float | None = None,
          on_run: Callable[[dict[str, Any]], None] | None = None) -> int:
    """Run due jobs until SIGTERM/SIGINT (or ``max_runtime_s``); returns how many runs were made."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    n = 0
    deadline = time.monotonic() + max_runtime_s if max_runtime_s else None
    try:
        with runner_lock(fabric.settings.home):
            sched = fabric.schedule
            while not stop.is_set():
                for run in sched.run_due(stop=stop):
                    n += 1
                    if on_run:
                        on_run(run)
                if deadline is not None and time.monotonic() >= deadline:
                    break
                stop.wait(tick_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return n
