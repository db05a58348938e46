"""Undo a source: `source remove` refuses while in use unless cascading; `--replace` keeps what is unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from govfabric.auth.audit import AuditEvent
from govfabric.errors import AccessDenied, Conflict


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "people.csv").write_text("id,n\n1,2\n", encoding="utf-8")
    return folder


def test_remove_refuses_while_in_use_then_cascades(steward, tmp_path: Path) -> None:
    steward.catalog.add_source("d", str(_folder(tmp_path)))
    steward.catalog.harvest("d")
    steward.virtual.create_table("x.people", "d.people")
    with pytest.raises(Conflict, match=r"assets: d\.people; virtual tables: x\.people.*--cascade"):
        steward.catalog.remove_source("d")
    assert steward.sql("SELECT n FROM x.people").num_rows == 1  # nothing went
    gone = steward.catalog.remove_source("d", cascade=True)
    assert gone == {"assets": ["d.people"], "virtual_tables": ["x.people"]}
    assert [s.name for s in steward.catalog.sources()] == []
    assert steward.virtual.tables() == []
    with steward.store.session() as s:
        actions = list(s.scalars(select(AuditEvent.action).where(AuditEvent.action.in_(["source.remove", "vt.drop"]))))
    assert sorted(actions) == ["source.remove", "vt.drop"]
    steward.catalog.add_source("d", str(tmp_path / "d"))  # the name and the folder are free again
    assert steward.catalog.harvest("d").added == ["d.people"]


def test_an_unused_source_is_removed_without_cascade(steward, tmp_path: Path) -> None:
    steward.catalog.add_source("d", str(_folder(tmp_path)))
    assert steward.catalog.remove_source("d") == {"assets": [], "virtual_tables": []}


def test_only_the_owning_department_removes(steward, workspace, tmp_path: Path) -> None:
    steward.catalog.add_source("d", str(_folder(tmp_path)), department="人社局")
    with pytest.raises(AccessDenied, match="人社局"):
        steward.catalog.remove_source("d")


def test_replace_with_the_same_uri_keeps_the_password(steward) -> None:
    steward.catalog.add_source("pg", "postgresql://alice:pw-1@127.0.0.1:1/db")
    steward.catalog.add_source("pg", "postgresql://alice@127.0.0.1:1/db", replace=True, description="new")
    src = steward.catalog.source("pg")
    assert src.description == "new" and steward.catalog.connection_uri(src)[1] == "pw-1"
    steward.catalog.add_source("pg", "postgresql://alice:pw-2@127.0.0.1:1/db", replace=True)
    assert steward.catalog.connection_uri(steward.catalog.source("pg"))[1] == "pw-2"


def test_cli_source_remove_lists_what_goes(workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from govfabric.cli.main import run

    def gf(*args: str) -> tuple[int, str]:
        code = run(["--home", str(tmp_path / "ws"), *args])
        out = capsys.readouterr()
        return code, out.out + out.err

    folder = tmp_path / "社保 数据"
    folder.mkdir()
    (folder / "名单.csv").write_text("id\n1\n", encoding="utf-8")
    assert gf("source", "add", "social", f"{folder}/")[0] == 0
    assert gf("source", "add", "social", f"{folder}/", "--replace")[0] == 0
    code, out = gf("source", "test", "social")
    assert code == 0 and "1 tables/files" in out
    assert gf("catalog", "harvest", "social")[0] == 0
    code, out = gf("source", "remove", "social")
    assert code != 0 and "social.名单" in out and "--cascade" in out and "Traceback" not in out
    code, out = gf("source", "remove", "social", "--cascade")
    assert code == 0 and "social.名单" in out
    assert "social" not in gf("source", "list")[1]


@pytest.mark.parametrize("fail_at", ["second table", "assets"])
def test_cascade_is_one_transaction(steward, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_at: str) -> None:
    """A failure half-way through `remove --cascade` leaves tables, grants, masks, assets and the source."""
    import govfabric.catalog.service as catalog_service

    steward.catalog.add_source("d", str(_folder(tmp_path)))
    steward.catalog.harvest("d")
    for t in ("x.a", "x.b"):
        steward.virtual.create_table(t, "d.people")
    steward.access.set_mask("x.a", "n", "full")
    steward.access.grant("analyst1", "x.a")
    before = (steward.access.grants(), steward.access.masks())

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("forced failure")

    if fail_at == "assets":
        monkeypatch.setattr(catalog_service, "search_index_remove", boom)
    else:
        real = type(steward.virtual).drop_table
        calls: list[str] = []

        def second_fails(self: object, name: str, **kw: object) -> list[str]:
            calls.append(name)
            if len(calls) == 2:
                boom()
            return real(self, name, **kw)  # type: ignore[arg-type]

        monkeypatch.setattr(type(steward.virtual), "drop_table", second_fails)
    with pytest.raises(RuntimeError, match="forced failure"):
        steward.catalog.remove_source("d", cascade=True)
    monkeypatch.undo()
    assert [s.name for s in steward.catalog.sources()] == ["d"]
    assert sorted(t.name for t in steward.virtual.tables()) == ["x.a", "x.b"]
    assert steward.catalog.source_dependants("d")["assets"] == ["d.people"]
    after = (steward.access.grants(), steward.access.masks())
    assert [[(g.id, g.revoked_at) for g in before[0]], [m.id for m in before[1]]] == \
        [[(g.id, g.revoked_at) for g in after[0]], [m.id for m in after[1]]]
    assert steward.sql("SELECT id FROM x.a").num_rows == 1
