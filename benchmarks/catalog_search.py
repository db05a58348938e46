"""Catalog search over 100,000 assets on SQLite and on PostgreSQL (issue 2: p95 ≤ 50 ms).

Setup (not timed): a fresh workspace per store backend, filled with N assets with
realistic Chinese names (region + department + subject + object + suffix, e.g.
北京市市场监管局企业营业执照信息), pinyin table names, Chinese descriptions, 5–20 columns
with Chinese names, and tags. Rows go in the way a harvest writes them: one executemany per
catalog table (``harvest.sync._insert``) and the search entries from
``search_index.add_entries`` (100k assets: about 3 min on SQLite, 5 on PostgreSQL here).

Measured: a fixed mix of queries — Chinese substrings of 2–6 characters, English names,
column names, several terms, rare and common terms, terms that match nothing — through
``fabric.catalog.search(text)`` (ranked, highlighted, logged as a user's search is),
after one warm-up pass. Reported per backend: p50 / p95 / max latency, overall and per
kind of query, and the load average. The anchor, measured in the same run, is the bare
lookup through the same index: the first 20 entries holding every term's tokens (no check
of the text, no ranking, no highlights, nothing logged).

    python benchmarks/catalog_search.py [--assets 100000] [--backends sqlite,pg] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Timer,
    add_pg_url_argument,
    latency_summary,
    pg_database,
    print_table,
    ratio,
    write_results,
)

GOAL_P95_MS = 50.0
BATCH = 5000
REGIONS = [("北京市", "bj"), ("上海市", "sh"), ("广东省", "gd"), ("浙江省", "zj"), ("江苏省", "js"),
           ("四川省", "sc"), ("湖北省", "hb"), ("深圳市", "sz"), ("杭州市", "hz"), ("成都市", "cd"),
           ("海淀区", "hd"), ("朝阳区", "cy"), ("天河区", "th"), ("西湖区", "xh"), ("武侯区", "wh")]
DEPARTMENTS = [("市场监管局", "scjg"), ("公安局", "gaj"), ("人社局", "rsj"), ("税务局", "swj"),
               ("住建局", "zjj"), ("民政局", "mzj"), ("卫健委", "wjw"), ("教育局", "jyj"),
               ("自然资源局", "zrzy"), ("生态环境局", "sthj"), ("交通运输局", "jtys"), ("医保局", "ybj")]
SUBJECTS = [("企业", "qy"), ("个体工商户", "gtgsh"), ("自然人", "zrr"), ("社会组织", "shzz"),
            ("事业单位", "sydw"), ("法人", "fr"), ("户籍人口", "hjrk"), ("流动人口", "ldrk"),
            ("从业人员", "cyry"), ("纳税人", "nsr")]
OBJECTS = [("营业执照", "yyzz"), ("登记", "dj"), ("纳税申报", "nssb"), ("社保缴费", "sbjf"),
           ("不动产登记", "bdcdj"), ("行政处罚", "xzcf"), ("行政许可", "xzxk"), ("信用评价", "xypj"),
           ("年度报告", "ndbg"), ("股东出资", "gdcz"), ("婚姻登记", "hydj"), ("医保结算", "ybjs"),
           ("学籍", "xj"), ("车辆登记", "cldj"), ("排污许可", "pwxk"), ("公积金缴存", "gjjjc"),
           ("出生医学证明", "csyxzm"), ("抵押", "dy"), ("经营异常", "jyyc"), ("食品经营许可", "spjyxk")]
SUFFIXES = [("信息", "xx"), ("记录", "jl"), ("明细", "mx"), ("台账", "tz"), ("清单", "qd"), ("统计", "tj")]
COLUMNS = [("tyshxydm", "统一社会信用代码"), ("qymc", "企业名称"), ("fddbr", "法定代表人"), ("zczb", "注册资本"),
           ("clrq", "成立日期"), ("djjg", "登记机关"), ("jyfw", "经营范围"), ("sfzh", "身份证号"),
           ("xm", "姓名"), ("xb", "性别"), ("csrq", "出生日期"), ("zz", "住址"), ("lxdh", "联系电话"),
           ("jfje", "缴费金额"), ("jfyf", "缴费月份"), ("nsrsbh", "纳税人识别号"), ("sbrq", "申报日期"),
           ("ynse", "应纳税额"), ("bdcqzh", "不动产权证号"), ("fwzl", "房屋坐落"), ("jzmj", "建筑面积"),
           ("cfjg", "处罚结果"), ("cfyj", "处罚依据"), ("ajbh", "案件编号"), ("xkzh", "许可证号"),
           ("yxq", "有效期"), ("hphm", "号牌号码"), ("clsbdm", "车辆识别代号"), ("gxsj", "更新时间"),
           ("sjly", "数据来源"), ("xzqh", "行政区划"), ("jgdm", "机构代码"), ("zt", "状态"), ("bz", "备注")]
DESC = ["汇集{r}{d}的{s}{o}数据，按日更新，供跨部门共享使用。", "{s}{o}{x}，来源于{r}{d}业务系统。",
        "记录{r}范围内{s}的{o}情况，含历史变更。", "{d}提供的{o}{x}，用于{s}画像与监管分析。"]
TAGS = ["证照", "电子证照", "基础库", "主题库", "高频", "共享", "开放", "敏感", "人口", "法人", "信用", "空间"]
RARE = ["䶮龑", "饕餮纹", "zzqx_rare", "蚵仔煎", "鲥鱼"]  # each planted into a handful of assets


def generate(n: int, seed: int = 7) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """N (asset, columns) value sets; deterministic for a seed."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        (r, rp), (d, dp), (s, sp), (o, op), (x, xp) = (rng.choice(REGIONS), rng.choice(DEPARTMENTS),
                                                     rng.choice(SUBJECTS), rng.choice(OBJECTS),
                                                     rng.choice(SUFFIXES))
        name = f"{rp}_{sp}_{op}_{xp}_{i:06d}"
        desc = rng.choice(DESC).format(r=r, d=d, s=s, o=o, x=x)
        if i % (n // 25 or 1) == 3:  # rare terms in ~5 assets each
            desc += f"（{RARE[i // (n // 25 or 1) % len(RARE)]}）"
        cols = rng.sample(COLUMNS, rng.randint(5, 20))
        asset = {"name": name, "cn_name": f"{r}{d}{s}{o}{x}", "description": desc,
                 "qualified_name": f"{dp}_db.{sp}.{name}", "owner_department": f"{r}{d}",
                 "tags": rng.sample(TAGS, rng.randint(0, 3)), "schema": sp, "source": f"{dp}_db"}
        out.append((asset, [{"name": c, "cn_name": cn, "type": rng.choice(["varchar(64)", "bigint", "date",
                                                                           "numeric(18,2)", "text"])}
                            for c, cn in cols]))
    return out


def populate(fabric: Any, n: int) -> float:
    """Insert n assets as a harvest registers them: assets, columns, first versions, search entries."""
    from sqlalchemy import text

    from govfabric.catalog.harvest.meta import structure_hash
    from govfabric.catalog.harvest.sync import _insert
    from govfabric.catalog.models import Asset, AssetColumn, AssetVersion
    from govfabric.catalog.search_index import add_entries, entry
    from govfabric.store.base import utcnow
    from govfabric.store.bulk import new_ids as _new_ids

    data = generate(n)
    with Timer() as t:
        for start in range(0, n, BATCH):
            chunk = data[start:start + BATCH]
            asset_ids, version_ids = _new_ids(len(chunk)), _new_ids(len(chunk))
            column_ids = iter(_new_ids(sum(len(cols) for _, cols in chunk)))
            assets, columns, versions, entries = [], [], [], []
            now = utcnow()
            for aid, vid, (a, cols) in zip(asset_ids, version_ids, chunk, strict=True):
                structure = [{"name": c["name"], "type": c["type"], "nullable": True} for c in cols]
                shash = structure_hash(structure)
                asset = dict(
                    id=aid, qualified_name=a["qualified_name"], source_id=None, name=a["name"],
                    cn_name=a["cn_name"], description=a["description"], asset_type="table",
                    owner_department=a["owner_department"],
                    location={"source": a["source"], "schema": a["schema"], "table": a["name"]},
                    row_count=1000, version=1, status="active", registered_via="harvest", structure_hash=shash,
                    content_signature=None, signature_algo=None, last_updated_at=now, created_at=now,
                    updated_at=now, dimensions=[], tags=a["tags"])
                rows = [dict(id=next(column_ids), asset_id=aid, position=j + 1, name=c["name"], cn_name=c["cn_name"],
                             data_type=c["type"], nullable=True, description=None, tags=[])
                        for j, c in enumerate(cols)]
                assets.append(asset)
                columns.extend(rows)
                entries.append(entry(asset, rows))
                versions.append(dict(id=vid, asset_id=aid, version=1, structure=structure, structure_hash=shash,
                                     diff={}, reason="registered", created_by="bench", created_at=now))
            with fabric.store.session() as s:
                _insert(s, Asset, assets)
                _insert(s, AssetColumn, columns)
                _insert(s, AssetVersion, versions)
                add_entries(s, entries)
            print(f"\r  populated {start + len(chunk):,}/{n:,}", end="", flush=True)
        with fabric.store.session() as s:
            if s.get_bind().dialect.name == "postgresql":
                s.execute(text("ANALYZE"))
    print()
    return t.s


def query_mix(n: int) -> list[tuple[str, str]]:
    """(kind, query) pairs: a fixed, deterministic mix of at least 200 queries."""
    rng = random.Random(11)
    q: list[tuple[str, str]] = []
    q += [("zh-2", w) for w in ["企业", "信息", "执照", "纳税", "社保", "处罚", "许可", "登记", "人口", "信用",
                                "抵押", "学籍", "医保", "车辆", "股东", "婚姻", "排污", "异常", "北京", "海淀",
                                "代码", "姓名", "住址", "金额", "日期", "证号", "面积", "备注", "税务", "公安"]]
    q += [("zh-3..4", w) for w in ["营业执照", "不动产", "社保缴费", "纳税申报", "行政处罚", "行政许可", "个体工商",
                                   "法定代表", "身份证号", "出生日期", "上海市", "市场监管", "公积金", "经营范围",
                                   "注册资本", "年度报告", "信用评价", "流动人口", "建筑面积", "案件编号"]]
    q += [("zh-5..6", w) for w in ["统一社会信用", "不动产登记", "个体工商户", "食品经营许可", "出生医学证明",
                                   "纳税人识别号", "车辆识别代号", "北京市市场", "企业营业执照", "社会组织登记",
                                   "户籍人口信息", "行政处罚记录", "公积金缴存", "婚姻登记信息", "医保结算明细"]]
    names = [f"{r}_{s}_{o}_{x}" for (_, r), (_, s), (_, o), (_, x) in
             [(rng.choice(REGIONS), rng.choice(SUBJECTS), rng.choice(OBJECTS), rng.choice(SUFFIXES))
              for _ in range(15)]]
    q += [("en-name", w) for w in ["yyzz", "nssb", "sbjf", "bdcdj", "xzcf", "gtgsh", "qy_yyzz", "zrr_hydj",
                                   "bj_qy", "sh_fr"] + names]
    q += [("en-exact", f"{rng.choice(names)}_{rng.randrange(n):06d}") for _ in range(15)]
    q += [("column", w) for w in ["tyshxydm", "qymc", "fddbr", "sfzh", "nsrsbh", "bdcqzh", "clsbdm", "gxsj",
                                  "统一社会信用代码", "法定代表人", "纳税人识别号", "不动产权证号", "车辆识别代号",
                                  "号牌号码", "处罚依据", "经营范围", "许可证号", "缴费月份", "应纳税额", "行政区划"]]
    q += [("multi", w) for w in ["北京 营业执照", "企业 纳税 明细", "上海市 社保", "海淀区 不动产 台账",
                                 "公安局 人口", "税务局 纳税人识别号", "yyzz 企业", "sfzh 户籍", "信用 评价 清单",
                                 "市场监管 行政处罚 记录", "深圳 个体工商户 营业执照", "医保 结算 统计",
                                 "电子证照 企业", "高频 共享", "杭州市 排污许可", "成都市 学籍 信息",
                                 "自然人 婚姻登记", "法人 股东出资 明细", "车辆登记 号牌号码", "住址 联系电话"]]
    q += [("rare", w) for w in RARE + ["䶮", "饕餮", "蚵仔", "rare"]]
    q += [("no-hit", w) for w in ["无此资产", "量子纠缠", "zzzzqqqq", "火星移民", "区块链钱包", "xyzzy",
                                  "光刻机", "hello world", "营业执照 火星", "不存在的表"]]
    q += [("common", w) for w in ["信息", "数据", "局", "市", "xx", "qy", "_", "e"]]
    # a second round of Chinese substrings cut from real names, so that every length 2–6 is common
    for _ in range(50):
        r, d, s, o, x = (rng.choice(REGIONS)[0], rng.choice(DEPARTMENTS)[0], rng.choice(SUBJECTS)[0],
                         rng.choice(OBJECTS)[0], rng.choice(SUFFIXES)[0])
        full = f"{r}{d}{s}{o}{x}"
        k = rng.randint(2, 6)
        at = rng.randrange(len(full) - k + 1)
        q.append((f"zh-cut-{k}", full[at:at + k]))
    return q


def anchor_lookup(fabric: Any, query: str) -> None:
    """The bare lookup through the index: the first 20 entries holding every term's tokens."""
    from sqlalchemy import Text, column, literal_column, select, table, type_coerce
    from sqlalchemy.dialects.postgresql import ARRAY

    from govfabric.catalog.search_index import ENTRIES, GRAMS_FTS, term_tokens

    tokens = [tok for t in dict.fromkeys(query.lower().split()) for tok in term_tokens("d", t)]
    if not tokens:
        return
    with fabric.store.session() as s:
        if s.get_bind().dialect.name == "sqlite":
            fts = table(GRAMS_FTS, column("rowid"))
            q = select(fts.c.rowid).where(literal_column(GRAMS_FTS).op("MATCH")(" AND ".join(f'"{t}"' for t in tokens)))
        else:
            q = select(ENTRIES.c.id).where(type_coerce(ENTRIES.c.tokens, ARRAY(Text)).contains(tokens))
        s.execute(q.limit(20)).all()


def measure(fabric: Any, queries: list[tuple[str, str]], repeat: int) -> dict[str, Any]:
    user = fabric.as_user("analyst1")
    for _, q in queries:  # warm-up: caches, statement cache, pg plan cache
        user.catalog.search(q, log=False)
    by_kind: dict[str, list[float]] = {}
    all_ms: list[float] = []
    anchor_ms: list[float] = []
    hits: dict[str, int] = {}
    slow: list[tuple[float, str]] = []
    load_before = [round(x, 2) for x in os.getloadavg()]
    for _ in range(repeat):
        for kind, q in queries:
            t0 = time.perf_counter()
            found = user.catalog.search(q)
            ms = (time.perf_counter() - t0) * 1000
            t0 = time.perf_counter()
            anchor_lookup(fabric, q)
            anchor_ms.append((time.perf_counter() - t0) * 1000)
            all_ms.append(ms)
            by_kind.setdefault(kind.split("-")[0] if kind.startswith("zh-cut") else kind, []).append(ms)
            hits[q] = len(found)
            slow.append((ms, q))
    slow.sort(reverse=True)
    return {"overall": latency_summary(all_ms), "anchor": latency_summary(anchor_ms),
            "load_average": {"before": load_before, "after": [round(x, 2) for x in os.getloadavg()]},
            "by_kind": {k: latency_summary(v) for k, v in by_kind.items()},
            "slowest": [{"query": q, "ms": round(ms, 1), "hits": hits[q]} for ms, q in slow[:10]],
            "queries_with_hits": sum(1 for v in hits.values() if v), "queries": len(hits)}


def run_backend(label: str, store_url: str | None, home: Path, n: int, queries: list[tuple[str, str]],
                repeat: int) -> dict[str, Any]:
    from govfabric.fabric import init_workspace

    fabric = init_workspace(home, store_url=store_url)
    try:
        fabric.add_principal("analyst1", ["analyst"], department="发展改革委")
        print(f"{label}: populating {n:,} assets …", flush=True)
        pop_s = populate(fabric, n)
        print(f"{label}: populated in {pop_s:.1f} s (not timed); running {len(queries)} queries × {repeat} …",
              flush=True)
        sample = fabric.as_user("analyst1").catalog.search("营业执照", log=False)
        assert sample and any(m for h in sample for m in h.matches), "search found nothing for 营业执照"
        assert fabric.as_user("analyst1").catalog.search("企业", log=False), "2-character query found nothing"
        out = measure(fabric, queries, repeat)
        out["populate_s"] = round(pop_s, 1)
        return out
    finally:
        fabric.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assets", type=int, default=100_000)
    ap.add_argument("--backends", default="sqlite,pg", help="comma-separated: sqlite, pg")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes over the query mix")
    add_pg_url_argument(ap)
    args = ap.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if "pg" in backends and not args.pg_url:
        print("catalog_search: no PostgreSQL server (--pg-url or $GOVFABRIC_BENCH_PG_URL): "
              "skipping the PostgreSQL store")
        backends.remove("pg")
    queries = query_mix(args.assets)
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        for label in backends:
            home = Path(tempfile.mkdtemp(prefix=f"gf-search-{label}-"))
            stack.callback(shutil.rmtree, home, True)
            url = None if label == "sqlite" else stack.enter_context(pg_database(args.pg_url, "gfbench_search"))
            results[label] = run_backend(label, url, home / "ws", args.assets, queries, args.repeat)

    rows = []
    for label, r in results.items():
        o, a = r["overall"], r["anchor"]
        rows.append([label, "all", o["n"], o["p50_ms"], o["p95_ms"], o["max_ms"], a["p50_ms"], a["p95_ms"],
                     ratio(o["p95_ms"], a["p95_ms"]), o["p95_ms"] <= GOAL_P95_MS])
        for kind, k in r["by_kind"].items():
            rows.append([label, kind, k["n"], k["p50_ms"], k["p95_ms"], k["max_ms"], None, None, None, None])
    print_table(["store", "queries", "n", "p50 ms", "p95 ms", "max ms", "anchor p50", "anchor p95",
                 "p95 × anchor", f"p95 ≤ {GOAL_P95_MS:.0f} ms"], rows,
                title=f"catalog search over {args.assets:,} assets (anchor: bare index lookup, first 20 ids)")
    for label, r in results.items():
        print(f"{label}: load average (1, 5, 15 min) before {r['load_average']['before']}, "
              f"after {r['load_average']['after']}")
        print(f"{label}: slowest: " + ", ".join(f"{s['query']} {s['ms']} ms ({s['hits']} hits)"
                                              for s in r["slowest"][:5]))
    write_results("catalog_search", {
        "assets": args.assets, "queries": len(queries), "repeat": args.repeat, "goal_p95_ms": GOAL_P95_MS,
        "backends": results,
        "goal_met": {label: r["overall"]["p95_ms"] <= GOAL_P95_MS for label, r in results.items()},
        "p95_overall_ms": {label: r["overall"]["p95_ms"] for label, r in results.items()},
        "p50_overall_ms": {label: r["overall"]["p50_ms"] for label, r in results.items()},
        "percentiles": "linear interpolation between closest ranks",
    })


if __name__ == "__main__":
    main()
