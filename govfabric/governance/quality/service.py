"""The quality service: rules on catalog assets, runs pushed down through great-expectations,
result history, Data Docs per run, and rectification work orders (§8.4.4.3)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from govfabric.auth.audit import append
from govfabric.auth.readpath import may_steward, reads_source_data, require_steward
from govfabric.catalog.read import asset_by_id, owner_department_of, source_of
from govfabric.catalog.usage import notify_consumers
from govfabric.errors import AccessDenied, AlreadyExists, Conflict, NotFound, QualityFailed, ValidationFailed
from govfabric.governance.quality import expectations, gx, masking
from govfabric.governance.quality.models import QualityResult, QualityRule, QualityRun, WorkOrder
from govfabric.governance.quality.rules import FluctuationRule, ReferenceRule, dump_rule, parse_rule
from govfabric.governance.quality.targets import open_target
from govfabric.store.base import new_id, utcnow

if TYPE_CHECKING:
    from govfabric.catalog.models import Asset, Source
    from govfabric.fabric import Fabric

STEWARD = ("steward",)
STATUSES = ("open", "in_progress", "fixed", "verified")


class QualityService:
    """``QualityService(fabric)``; the façade exposes it as ``fabric.quality``."""

    def __init__(self, fabric: Fabric) -> None:
        self.fabric = fabric
        self.store = fabric.store

    # -- rules -------------------------------------------------------------------------------

    def add_rule(self, asset: str, definition: dict[str, Any]) -> QualityRule:
        """Validate ``definition`` against the rule schema and the asset's columns, then store it."""
        actor = self.fabric.actor
        actor.require(*STEWARD, action="write quality rules")
        rule = parse_rule(definition)
        a = self.fabric.catalog.asset(asset)
        require_steward(actor, a.owner_department, f"write quality rules on {a.qualified_name}")
        a.require_columns(rule.columns())
        if isinstance(rule, ReferenceRule):
            ref = self.fabric.catalog.asset(rule.ref_asset)
            _may_reference(actor, ref)
            ref.require_columns([rule.ref_column])
            rule = rule.model_copy(update={"ref_asset": ref.qualified_name})
        name = rule.name or rule.default_name()
        with self.store.session() as s:
            if s.scalar(select(QualityRule).where(QualityRule.asset_id == a.id, QualityRule.name == name)):
                raise AlreadyExists(f"{a.qualified_name} already has a rule named {name!r}; "
                                    "give another name or remove it first")
            row = QualityRule(name=name, asset_id=a.id, asset_name=a.qualified_name, kind=rule.kind,
                              spec=dump_rule(rule), severity=rule.severity, created_by=actor.name)
            s.add(row)
            s.flush()
            append(s, actor.name, "quality.rule.add", f"asset:{a.qualified_name}",
                   {"rule": name, "spec": row.spec})
            return row

    def rules(self, asset: str | None = None) -> list[QualityRule]:
        q = select(QualityRule).order_by(QualityRule.asset_name, QualityRule.name)
        if asset:
            q = q.where(QualityRule.asset_id == self.fabric.catalog.asset(asset).id)
        with self.store.session() as s:
            return list(s.scalars(q))

    def rule(self, ref: str, session: Any = None) -> QualityRule:
        def get(s: Any) -> QualityRule:
            r = s.get(QualityRule, ref) or s.scalar(select(QualityRule).where(QualityRule.name == ref).limit(2))
            if r is None:
                raise NotFound(f"no quality rule {ref!r}; list them with `govfabric quality rule list`")
            return r
        if session is not None:
            return get(session)
        with self.store.session() as s:
            return get(s)

    def remove_rule(self, ref: str) -> None:
        actor = self.fabric.actor
        actor.require(*STEWARD, action="remove quality rules")
        with self.store.session() as s:
            r = self.rule(ref, s)
            owned = asset_by_id(s, r.asset_id)
            owner = owned.owner_department if owned is not None else None
            require_steward(actor, owner, f"remove quality rules of {r.asset_name}")
            s.delete(r)
            append(s, actor.name, "quality.rule.remove", f"asset:{r.asset_name}", {"rule": r.name})

    # -- runs --------------------------------------------------------------------------------

    @reads_source_data("quality.run", via="steward", target=lambda self, asset, **_: (self.fabric, asset))
    def run(self, asset: str, *, rules: list[str] | None = None, docs: bool = True,
            work_orders: bool = True, engine: str = "auto") -> QualityRun:
        """Validate the asset's rules as one GX suite pushed down to ``engine`` (``auto``: Trino when it
        is the default engine, else the asset's own PostgreSQL, else DuckDB); record and act on the results.
        A steward action of the owning department: the rules read the source itself."""
        with self.store.session() as s:
            a = self.fabric.catalog.resolve(s, asset)
            src = source_of(s, a)
            if src is None:
                raise ValidationFailed(f"{a.qualified_name} has no source to check")
            rows = list(s.scalars(select(QualityRule).where(QualityRule.asset_id == a.id,
                                                            QualityRule.enabled.is_(True))
                                  .order_by(QualityRule.name)))
            if rules:
                rows = [r for r in rows if r.id in rules or r.name in rules]
            if not rows:
                raise NotFound(f"{a.qualified_name} has no quality rules; add one with `govfabric quality rule add`")
            parsed = {r.id: parse_rule(r.spec) for r in rows}
            refs: dict[str, tuple[Source, Asset]] = {}
            for p in parsed.values():
                if isinstance(p, ReferenceRule):
                    ra = self.fabric.catalog.resolve(s, p.ref_asset)
                    rs = source_of(s, ra)
                    if rs is None:
                        raise ValidationFailed(f"reference asset {ra.qualified_name} has no source")
                    _may_reference(self.fabric.actor, ra)
                    refs[ra.qualified_name] = (rs, ra)
            history = {rid: self._history(s, rid) for rid, p in parsed.items() if isinstance(p, FluctuationRule)}
            tags = {c.name: list(c.tags or []) for c in a.columns}
            for col in masking.masked_columns(s, a.id):  # a masked or classified column's samples are masked
                tags.setdefault(col, []).append("personal")
            s.expunge_all()
        run_id = new_id()
        t0 = time.perf_counter()
        target = open_target(self.fabric, (src, a), list(refs.values()), engine)
        try:
            outcome = self._validate(run_id, a, target, rows, parsed, refs, history, docs)
        finally:
            gx.forget_engine(f"gf_{run_id}")
            target.close()
        ms = (time.perf_counter() - t0) * 1000
        return self._record(run_id, a, target.kind, rows, parsed, tags, outcome, ms, work_orders)

    def _history(self, s: Any, rule_id: str) -> list[float]:
        """The rule's accepted values: a breach stays out of the baseline, so it cannot make itself normal."""
        vals = s.scalars(select(QualityResult.metric).where(QualityResult.rule_id == rule_id,
                                                           QualityResult.success.is_(True),
                                                           QualityResult.metric.is_not(None))
                         .order_by(QualityResult.at.desc()).limit(100))
        return list(reversed([float(v) for v in vals]))

    def _validate(self, run_id: str, a: Asset, target: Any, rows: list[QualityRule], parsed: dict[str, Any],
                  refs: dict[str, tuple[Source, Asset]], history: dict[str, list[float]], docs: bool
                  ) -> dict[str, Any]:
        g = gx.gx()
        name = f"gf_{run_id}"
        ctx, ds = gx.register_engine(name, target.engine)
        ref = target.table(a.id)
        asset = ds.add_table_asset(_safe(a.qualified_name), table_name=ref.name, schema_name=ref.db or None)
        batch = asset.add_batch_definition_whole_table("all")
        exps = []
        for r in rows:
            p = parsed[r.id]
            ref_id = refs[p.ref_asset][1].id if isinstance(p, ReferenceRule) else None
            exps.append(expectations.build(p, target, ref_id, history.get(r.id, []), r.id))
        suite = ctx.suites.add(g.ExpectationSuite(name=_safe(a.qualified_name), expectations=exps))
        vd = ctx.validation_definitions.add(g.ValidationDefinition(name=f"vd_{run_id}", data=batch,
                                                                   suite=suite))
        cp = ctx.checkpoints.add(g.Checkpoint(
            name=f"cp_{run_id}", validation_definitions=[vd],
            result_format={"result_format": "BASIC", "partial_unexpected_count": gx.SAMPLE}))
        result = cp.run()
        key, suite_result = next(iter(result.run_results.items()))
        by_rule = {}
        for res in suite_result.results:
            rid = (res.expectation_config.meta or {}).get("govfabric_rule")
            by_rule[rid] = res
        return {"ctx": ctx, "key": key, "suite_result": suite_result, "by_rule": by_rule, "docs": docs}

    def _record(self, run_id: str, a: Asset, engine: str, rows: list[QualityRule], parsed: dict[str, Any],
                tags: dict[str, list[str]], outcome: dict[str, Any], ms: float, work_orders: bool) -> QualityRun:
        actor = self.fabric.actor
        results: list[QualityResult] = []
        for r in rows:
            p = parsed[r.id]
            res = outcome["by_rule"].get(r.id)
            info = dict(res.result or {}) if res is not None else {}
            exc = (res.exception_info or {}) if res is not None else {}
            message = None
            if exc.get("raised_exception"):
                message = str(exc.get("exception_message"))[:500]
            elif any(isinstance(v, dict) and v.get("raised_exception") for v in exc.values()):
                first = next(v for v in exc.values() if isinstance(v, dict) and v.get("raised_exception"))
                message = str(first.get("exception_message"))[:500]
            col = getattr(p, "column", None)
            personal = bool(col) and masking.column_is_personal(col, tags.get(col), getattr(p, "standard", None))
            sample, masked = masking.mask_sample(list(info.get("partial_unexpected_list") or []), personal)
            if res is not None:  # the docs are rendered from the masked result too
                info["partial_unexpected_list"] = sample
                for k in ("partial_unexpected_counts", "partial_unexpected_index_list", "unexpected_list",
                          "details"):
                    info.pop(k, None)
                res.result = info
            observed = info.get("observed_value")
            results.append(QualityResult(
                run_id=run_id, rule_id=r.id, rule_name=r.name, success=bool(res is not None and res.success),
                observed={"value": observed if isinstance(observed, int | float | str | None) else str(observed)},
                metric=expectations.metric_of(p, observed) if message is None else None,
                element_count=info.get("element_count"), unexpected_count=info.get("unexpected_count"),
                sample=sample, masked=masked, message=message))
        docs_path = self._docs(run_id, outcome) if outcome["docs"] else None
        failed = [x for x in results if not x.success]
        with self.store.session() as s:
            run = QualityRun(id=run_id, asset_id=a.id, asset_name=a.qualified_name, engine=engine,
                             success=not failed, rules=len(results), failed=len(failed), duration_ms=ms,
                             docs_path=docs_path, started_by=actor.name)
            s.add(run)
            s.add_all(results)
            s.flush()
            append(s, actor.name, "quality.run", f"asset:{a.qualified_name}",
                   {"run": run_id, "engine": engine, "rules": len(results), "failed": [x.rule_name for x in failed]})
            from govfabric.governance.lineage.events import record_quality

            record_quality(self.fabric, s, a.qualified_name, [
                {"assertion": by_kind(parsed[r.id]), "success": x.success, "name": r.name,
                 "column": getattr(parsed[r.id], "column", None)} for r, x in zip(rows, results, strict=True)],
                suite=a.qualified_name)
            if failed and work_orders:
                by_id = {r.id: r for r in rows}
                for res in failed:
                    self._open_order(s, by_id[res.rule_id], a, run_id, res, engine)
            s.expunge(run)
        return run

    def _docs(self, run_id: str, outcome: dict[str, Any]) -> str:
        """GX Data Docs for this run, under ``<home>/quality/docs/<run id>/``."""
        ctx = outcome["ctx"]
        base = Path(self.fabric.settings.home) / "quality" / "docs" / run_id
        base.mkdir(parents=True, exist_ok=True)
        ctx.add_data_docs_site(site_name="govfabric", site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(base)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}})
        ctx.validation_results_store.set(outcome["key"], outcome["suite_result"])
        ctx.build_data_docs(site_names=["govfabric"])
        return str(base / "index.html")

    def runs(self, asset: str | None = None, limit: int = 50) -> list[QualityRun]:
        q = select(QualityRun).order_by(QualityRun.started_at.desc()).limit(limit)
        if asset:
            q = q.where(QualityRun.asset_id == self.fabric.catalog.asset(asset).id)
        with self.store.session() as s:
            return list(s.scalars(q))

    def results(self, run: str | None = None, *, rule: str | None = None, limit: int = 200
                ) -> list[QualityResult]:
        """Per-rule results of one run (default: the latest), or the history of one rule. Failing
        samples are source values: only the owning department's stewards and admins see them."""
        with self.store.session() as s:
            q = select(QualityResult).order_by(QualityResult.at.desc(), QualityResult.rule_name).limit(limit)
            if rule:
                q = q.where(QualityResult.rule_id == self.rule(rule, s).id)
            else:
                run_id = run or s.scalar(select(QualityRun.id).order_by(QualityRun.started_at.desc()).limit(1))
                if run_id is None:
                    raise NotFound("no quality runs yet; run `govfabric quality run ASSET`")
                if s.get(QualityRun, run_id) is None:
                    raise NotFound(f"no quality run {run_id!r}")
                q = q.where(QualityResult.run_id == run_id)
            out = list(s.scalars(q))
            hidden = self._unowned_runs(s, {r.run_id for r in out})
            for r in out:
                s.expunge(r)
        for r in out:
            if r.run_id in hidden:  # detached: the stored sample stays for its stewards
                r.sample = []
        return out

    def _unowned_runs(self, s: Any, run_ids: set[str]) -> set[str]:
        """Runs whose asset the acting principal may not steward (their samples are withheld)."""
        actor = self.fabric.actor
        rows = s.execute(select(QualityRun.id, owner_department_of(QualityRun.asset_id))
                         .where(QualityRun.id.in_(run_ids))).all() if run_ids else []
        owners = {rid: owner for rid, owner in rows}
        return {rid for rid in run_ids if not may_steward(actor, owners.get(rid))}

    def docs(self, run: str) -> Path:
        with self.store.session() as s:
            r = s.get(QualityRun, run)
            if r is None:
                raise NotFound(f"no quality run {run!r}; list runs with `govfabric quality results`")
            if self._unowned_runs(s, {r.id}):  # the Data Docs show failing samples
                raise AccessDenied(f"{self.fabric.actor.name} may not open the Data Docs of run {run}: they "
                                   f"show samples of {r.asset_name}; ask a steward of its department")
            if not r.docs_path or not Path(r.docs_path).exists():
                raise NotFound(f"run {run} has no Data Docs (run with docs enabled)")
            return Path(r.docs_path)

    # -- work orders -------------------------------------------------------------------------

    def _open_order(self, s: Any, rule: QualityRule, a: Asset, run_id: str, res: QualityResult,
                    engine: str) -> WorkOrder:
        existing = s.scalar(select(WorkOrder).where(WorkOrder.rule_id == rule.id,
                                                    WorkOrder.status.in_(("open", "in_progress", "fixed"))))
        if existing is not None:  # one live order per rule; a new failure is added to it
            existing.history = [*existing.history, _step("failed again", "system", run=run_id)]
            existing.details = {**existing.details, "last_run": run_id, "unexpected_count": res.unexpected_count}
            return existing
        number = int(s.scalar(select(func.max(WorkOrder.number))) or 0) + 1
        wo = WorkOrder(number=number, rule_id=rule.id, run_id=run_id, asset_id=a.id, asset_name=a.qualified_name,
                       department=a.owner_department, status="open",
                       title=f"{a.qualified_name}: rule {rule.name} failed",
                       details={"rule": rule.name, "kind": rule.kind, "observed": res.observed, "engine": engine,
                                "unexpected_count": res.unexpected_count, "sample": res.sample,
                                "last_run": run_id},
                       history=[_step("open", self.fabric.actor.name, run=run_id)],
                       created_by=self.fabric.actor.name)
        s.add(wo)
        s.flush()
        append(s, self.fabric.actor.name, "quality.order.open", f"work_order:{number}",
               {"asset": a.qualified_name, "rule": rule.name, "department": a.owner_department})
        notify_consumers(s, {a.id: (f"quality rule {rule.name} failed on {a.qualified_name}; "
                                    f"work order #{number} opened for {a.owner_department or 'the owner'}",
                                    {"work_order": number, "rule": rule.name, "run": run_id})}, "quality")
        return wo

    def orders(self, *, status: str | None = None, department: str | None = None,
               asset: str | None = None) -> list[WorkOrder]:
        q = select(WorkOrder).order_by(WorkOrder.number)
        if status:
            if status not in STATUSES:
                raise ValidationFailed(f"status must be one of {', '.join(STATUSES)}")
            q = q.where(WorkOrder.status == status)
        if department:
            q = q.where(WorkOrder.department == department)
        if asset:
            q = q.where(WorkOrder.asset_id == self.fabric.catalog.asset(asset).id)
        with self.store.session() as s:
            return self._withhold(s, list(s.scalars(q)))

    def order(self, number: int) -> WorkOrder:
        with self.store.session() as s:
            return self._withhold(s, [self._order(s, number)])[0]

    def _withhold(self, s: Any, orders: list[WorkOrder]) -> list[WorkOrder]:
        """Detached orders; the failing sample only for the owning department's stewards and admins."""
        actor = self.fabric.actor
        for wo in orders:
            s.expunge(wo)
            if not may_steward(actor, wo.department) and "sample" in (wo.details or {}):
                wo.details = {k: v for k, v in wo.details.items() if k != "sample"}
        return orders

    def _order(self, s: Any, number: int) -> WorkOrder:
        wo = s.scalar(select(WorkOrder).where(WorkOrder.number == int(number)))
        if wo is None:
            raise NotFound(f"no work order #{number}; list them with `govfabric quality orders list`")
        return wo

    def _may_work_on(self, wo: WorkOrder) -> None:
        """The owning department's stewards and admins, and members of the owning department."""
        actor = self.fabric.actor
        if may_steward(actor, wo.department) or (wo.department and actor.department == wo.department):
            return
        raise AccessDenied(f"{actor.name} may not work on order #{wo.number}: it belongs to "
                           f"{wo.department or 'the asset owner'}; ask its steward")

    def _move(self, number: int, want: str, to: str, note: str | None) -> WorkOrder:
        actor = self.fabric.actor
        with self.store.session() as s:
            wo = self._order(s, number)
            self._may_work_on(wo)
            if wo.status != want:
                raise Conflict(f"work order #{number} is {wo.status}; it must be {want} to become {to}")
            wo.status = to
            wo.history = [*wo.history, _step(to, actor.name, note=note)]
            append(s, actor.name, f"quality.order.{to}", f"work_order:{number}", {"note": note})
            s.flush()
            s.expunge(wo)
            return wo

    def start(self, number: int, note: str | None = None) -> WorkOrder:
        return self._move(number, "open", "in_progress", note)

    def fix(self, number: int, note: str | None = None) -> WorkOrder:
        return self._move(number, "in_progress", "fixed", note)

    @reads_source_data("quality.order.verify", via="steward",
                       target=lambda self, number, *a, **k: (self.fabric, self.order(number).asset_id))
    def verify(self, number: int, note: str | None = None) -> WorkOrder:
        """Re-run the rule; the order is verified only if it passes now, else it goes back to in_progress."""
        actor = self.fabric.actor
        actor.require(*STEWARD, action="verify work orders")
        wo = self.order(number)
        if wo.status != "fixed":
            raise Conflict(f"work order #{number} is {wo.status}; mark it fixed before verifying")
        run = self.run(wo.asset_id, rules=[wo.rule_id], docs=False, work_orders=False,
                       engine=(wo.details or {}).get("engine", "auto"))
        passed = run.success
        with self.store.session() as s:
            wo = self._order(s, number)
            wo.status = "verified" if passed else "in_progress"
            wo.history = [*wo.history, _step(wo.status, actor.name, run=run.id, note=note,
                                             recheck="passed" if passed else "failed")]
            append(s, actor.name, "quality.order.verify", f"work_order:{number}",
                   {"run": run.id, "passed": passed})
            notify_consumers(s, {wo.asset_id: (
                f"work order #{number} on {wo.asset_name}: re-check {'passed, verified' if passed else 'failed'}",
                {"work_order": number, "run": run.id})}, "quality")
            s.flush()
            s.expunge(wo)
        if not passed:
            raise QualityFailed(f"work order #{number}: rule still fails on re-check (run {run.id}); "
                                "it is back in progress — fix the data and mark it fixed again")
        return wo


def _step(status: str, who: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, "by": who, "at": utcnow().isoformat(), **{k: v for k, v in extra.items() if v}}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in name)[:120] or "asset"




def _may_reference(actor: Any, ref: Asset) -> None:
    """A reference rule reads the reference asset too: its steward, or a code table every
    department may use without conditions (sharing class ``unconditional``)."""
    if ref.sharing_class != "unconditional":
        require_steward(actor, ref.owner_department, f"check against {ref.qualified_name} (it is not shared "
                                                     "unconditionally)")


def _remedy(name: str) -> Any:
    from govfabric.governance.quality import remedies

    return getattr(remedies, name)


def _bind(name: str, doc: str) -> Any:
    def method(self: QualityService, *args: Any, **kw: Any) -> Any:
        self.fabric.actor.require("steward", "analyst", action="ask for quality suggestions")
        return _remedy(name)(self.fabric, *args, **kw)

    method.__name__, method.__doc__ = name, doc
    return method


QualityService.completion = _bind("completion", "Completion suggestions (remedies.completion).")  # type: ignore[attr-defined]
QualityService.corrections = _bind("corrections", "Correction candidates (remedies.corrections).")  # type: ignore[attr-defined]
QualityService.duplicates = _bind("duplicates", "Likely duplicates of a record (remedies.duplicates).")  # type: ignore[attr-defined]
QualityService.merge_suggestions = _bind("merge_suggestions", "Redundancy merge suggestions.")  # type: ignore[attr-defined]


def by_kind(rule: Any) -> str:
    return str(getattr(rule, "kind", type(rule).__name__))

