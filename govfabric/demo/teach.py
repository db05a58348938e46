"""What the demo leaves to learn from: virtual SQL, sharing decisions, quality and lineage.

Done as the people who may do it (the owner rule): market regulation's steward shares its
enterprise register — a virtual table, a view, a mask, a row filter, a grant — and runs a
quality check that opens a work order; the analyst asks for the licence table (a pending
request to decide) and keeps a private view in ``u_analyst1``. On top, the e-licence library gets the
demo's business licences and the prefill service its two "一件事" items. The virtual table and views
record lineage. Idempotent: a second ``govfabric demo`` changes nothing.
"""

from __future__ import annotations

from datetime import date

from govfabric.fabric import Fabric
from govfabric.prefill.demo import install_demo_items
from govfabric.prefill.licences.service import import_demo_licences

ENTERPRISE = "market.enterprise"
SOURCE_TABLE = "mr_db.main.t_qy_jbxx"
RENAMES = {"qymc": "enterprise_name", "qx": "district", "fddbr_sfzh": "legal_rep_id", "zczb": "capital"}
BY_DISTRICT = ("stats.enterprise_by_district",
               "SELECT district, count(*) AS n, sum(capital) AS capital FROM market.enterprise GROUP BY district")
LICENCE = "market.licence"
# phones are optional in the register: about one firm in ten has none, so this rule opens a work order
QUALITY_RULE = {"kind": "not_null", "column": "lxdh"}


def teach(admin: Fabric) -> None:
    steward, analyst = admin.as_user("steward_mr"), admin.as_user("analyst1")
    tables = {t.name for t in steward.virtual.tables()}
    if ENTERPRISE not in tables:
        steward.virtual.create_table(ENTERPRISE, SOURCE_TABLE, renames=RENAMES,
                                     description="企业基本信息 (the enterprise register), shared")
        steward.virtual.create_view(*BY_DISTRICT, description="enterprises and capital per district")
        steward.access.set_mask(ENTERPRISE, "legal_rep_id", "resident_id")
        steward.access.add_row_filter(ENTERPRISE, "role:analyst", "xzqh = principal_attr('region')")
        steward.access.grant("analyst1", ENTERPRISE, columns=["enterprise_name", "district", "capital", "xzqh"],
                             until=date(date.today().year + 2, 6, 30), purpose="区域经济分析")
        analyst.virtual.create_view("u_analyst1.capital_by_district",
                                    "SELECT district, sum(capital) AS capital FROM market.enterprise GROUP BY 1")
    if LICENCE not in tables:
        steward.virtual.create_table(LICENCE, "mr_db.main.t_yyzz", description="营业执照 (business licences)")
        analyst.access.request(LICENCE, columns=None, purpose="核验营业执照有效期", until=None)
    if not steward.quality.rules(SOURCE_TABLE):
        steward.quality.add_rule(SOURCE_TABLE, QUALITY_RULE)
        steward.quality.run(SOURCE_TABLE, docs=False)
    # the government service platform on top: business licences in the e-licence library, and the
    # two "一件事" items (开办企业, 新生儿出生) with their prefill service principal and grants
    import_demo_licences(admin)
    install_demo_items(admin)
