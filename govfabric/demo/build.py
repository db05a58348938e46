"""``govfabric demo``: a realistic multi-department workspace from synthetic data.

Generates five departments' systems (two SQLite databases, GB18030 CSV files, an
XLSX workbook, an XML file), then does what a data steward would: registers them
as sources, harvests, names and classifies every asset, signs its content — each
step audited — so that every later feature has something real to work on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rich.markup import escape

from govfabric.catalog.sources import KINDS, parse_uri
from govfabric.demo.generate import COLUMN_LABELS, TABLE_LABELS, XML_FIELD_LABELS, DemoFiles, generate_demo
from govfabric.fabric import Fabric, connect, init_workspace, workspace_exists

# source name -> (demo system key, how the source URI is made)
SOURCES = {
    "mr_db": "market_regulation",
    "ps_db": "public_security",
    "social_files": "social_security",
    "tax_files": "tax",
    "licence_files": "licences",
}
PRINCIPALS = [
    # name, roles, department, attributes
    ("steward_mr", ["steward"], "北京市市场监督管理局", {}),
    ("steward_ps", ["steward"], "北京市公安局", {}),
    ("analyst1", ["analyst"], "北京市发展和改革委员会", {"region": "110105"}),
    ("auditor1", ["auditor"], "北京市审计局", {}),
    ("bizsys_approval", ["business_system"], "北京市政务服务管理局", {}),
]
# asset (qualified-name suffix) -> classification: domain, thematic library, theme, sharing, open, frequency
CLASSES: dict[str, tuple[str, str | None, str, str, str, str]] = {
    "mr_db.main.t_qy_jbxx": ("legal_entity", "credit_library", "market_regulation", "unconditional",
                             "conditional_open", "daily"),
    "mr_db.main.t_yyzz": ("e_licences", "e_licence_library", "market_regulation", "unconditional", "open", "daily"),
    "mr_db.main.t_jcaj": ("events", "case_archive", "market_regulation", "conditional", "not_open", "daily"),
    "ps_db.main.t_rk_jbxx": ("natural_person", "user_archive", "public_security", "conditional", "not_open",
                             "daily"),
    "ps_db.main.t_dm_xzqh": ("geospatial", None, "public_security", "unconditional", "open", "yearly"),
    "social_files.": ("natural_person", "user_archive", "social_security", "conditional", "not_open", "monthly"),
    "tax_files.纳税信息.纳税明细": ("legal_entity", "credit_library", "taxation", "conditional", "not_open",
                             "monthly"),
    "tax_files.纳税信息.纳税信用评价": ("social_credit", "credit_library", "taxation", "unconditional", "open",
                                "yearly"),
    "licence_files.电子证照": ("e_licences", "e_licence_library", "government_services", "conditional",
                           "not_open", "realtime"),
}


def _uri(demo: DemoFiles, key: str) -> str:
    """A database file is its own source; a department's files are registered by their folder."""
    first = demo.system(key).paths[0]
    parsed = parse_uri(str(first))
    return parsed.uri if KINDS[parsed.kind].IS_DATABASE else str(first.parent)


def build_demo(home: str | os.PathLike[str] | None = None, *, scale: int = 1, seed: int = 20211001,
               progress: bool = True) -> dict[str, Any]:
    """Create or refresh the demo workspace; idempotent (a second run re-harvests, changes nothing)."""
    from govfabric.cli.common import progress_bar

    admin = init_workspace(home) if not workspace_exists(home) else connect(home)
    demo = generate_demo(Path(admin.settings.home) / "demo_data", scale=scale, seed=seed)
    existing = {p.name for p in admin.principals()}
    for name, roles, dept, attrs in PRINCIPALS:
        if name not in existing:
            admin.add_principal(name, roles, department=dept, attributes=attrs)
    summary: dict[str, Any] = {"home": str(admin.settings.home), "steward": "steward_mr", "sources": {},
                               "samples": demo.samples, "counts": demo.counts}
    registered = {s.name for s in admin.catalog.sources()}
    for source, key in SOURCES.items():
        sys_ = demo.system(key)
        steward = admin.as_user("steward_ps" if key == "public_security" else "steward_mr")
        if source not in registered:
            steward.catalog.add_source(source, _uri(demo, key), department=sys_.department_zh,
                                       description=f"{sys_.title_zh} ({sys_.title_en})")
        with progress_bar(f"harvesting {source}", enabled=progress) as update:
            report = steward.catalog.harvest(source, progress=update)
        summary["sources"][source] = report.summary()
        for asset in steward.catalog.assets(source=source, limit=None):
            _describe(steward, asset.qualified_name, asset.name, sys_.level)
    analyst = admin.as_user("analyst1")
    if not analyst.catalog.favorites():
        analyst.catalog.favorite_add("mr_db.main.t_yyzz")
    summary["assets"] = len(admin.catalog.assets(limit=None))
    summary["audit"] = admin.audit.verify().ok
    admin.close()
    return summary


def _describe(steward: Fabric, qn: str, name: str, level: str) -> None:
    """Chinese names, classification and a content signature, as a steward would record them."""
    asset = steward.catalog.asset(qn)
    cols = COLUMN_LABELS.get(name) or {c.name: XML_FIELD_LABELS[c.name] for c in asset.columns
                                       if c.name in XML_FIELD_LABELS}
    wanted_cols = {c: {"cn_name": label} for c, label in cols.items()
                   if any(x.name == c and x.cn_name != label for x in asset.columns)}
    cn_name = TABLE_LABELS.get(name) or (None if asset.cn_name else name.split(".")[-1])
    if wanted_cols or (cn_name and cn_name != asset.cn_name):
        steward.catalog.annotate(qn, cn_name=cn_name, columns=wanted_cols or None)
    cls = next((v for k, v in CLASSES.items() if qn == k or (k.endswith(".") and qn.startswith(k))), None)
    if cls and asset.data_domain != cls[0]:
        domain, library, theme, sharing, open_, freq = cls
        steward.catalog.classify(qn, level=level, data_domain=domain, thematic_library=library, theme=theme,
                                 sharing_class=sharing, open_class=open_, update_frequency=freq,
                                 business_value="high", tags=["demo"])
    if not asset.content_signature:
        steward.catalog.content_signature(qn)


def tour(fabric: Fabric, summary: dict[str, Any]) -> None:
    """A short printed tour of what was built."""
    from govfabric.cli.common import console, highlight, print_table

    console.print(f"\n[bold green]demo workspace ready[/bold green] at {escape(summary['home'])} "
                  f"in {summary.get('seconds', '?')} s: {summary['assets']} assets from "
                  f"{len(summary['sources'])} departments' systems\n")
    rows = [{"asset": a.qualified_name, "中文名": a.cn_name, "department": a.owner_department,
             "domain": a.data_domain, "sharing": a.sharing_class, "rows": a.row_count}
            for a in fabric.catalog.assets(limit=None)]
    print_table(rows, ["asset", "中文名", "department", "domain", "sharing", "rows"], "Catalog")
    console.print("\n[bold]govfabric catalog search 营业执照[/bold]")
    for h in fabric.catalog.search("营业执照", limit=3):
        where = "; ".join(f"{f}: {highlight(t)}" for f, t in h.matches[:2])
        console.print(f"  {h.score:>4}  {escape(h.qualified_name)}  {where}")
    seq, _ = fabric.audit.head()
    console.print(f"\naudit log: {seq} events, chain {'intact' if summary['audit'] else 'BROKEN'}")
    home = escape(summary["home"])
    console.print("\nnext:\n"
                  f"  govfabric --home {home} catalog show mr_db.main.t_yyzz\n"
                  f"  govfabric --home {home} catalog list --domain natural_person\n"
                  f"  govfabric --home {home} --as analyst1 catalog favorite list\n"
                  f"  govfabric --home {home} audit verify")
