"""Modules reach other modules' data through their services, never through their tables.

An AST scan of ``govfabric/``: a module (the package holding a ``models.py``) may import only its
own ORM models at run time, and no module imports another module's private (``_x``) functions.
Imports under ``if TYPE_CHECKING:`` are annotations of rows that services return, so they pass.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "govfabric"
#: packages owning tables, longest first (``govfabric.governance.quality`` before ``govfabric``)
OWNERS = sorted((p.parent.relative_to(ROOT.parent).as_posix().replace("/", ".")
                 for p in ROOT.rglob("models.py") if "/migrations/" not in p.as_posix()), key=len, reverse=True)

#: (importing file, imported name) crossings not moved yet, each with why. Only shrinks: empty.
ALLOWED: dict[tuple[str, str], str] = {}


def owner(dotted: str) -> str:
    """The module a dotted name belongs to: the longest table-owning package, else its top package."""
    for pkg in OWNERS:
        if dotted == pkg or dotted.startswith(pkg + "."):
            return pkg
    return ".".join(dotted.split(".")[:2])


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Ids of import nodes inside ``if TYPE_CHECKING:`` blocks."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            ids |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return ids


def crossings_in(rel: str, text: str) -> set[tuple[str, str]]:
    """Run-time imports of another module's models, and imports of another module's ``_x``, in one file."""
    found: set[tuple[str, str]] = set()
    me = owner(rel.removesuffix(".py").removesuffix("/__init__").replace("/", "."))
    tree = ast.parse(text)
    skip = _type_checking_only(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("govfabric"):
            continue
        mod = node.module or ""
        if owner(mod) == me:
            continue
        for alias in node.names:
            private = alias.name.startswith("_") and not alias.name.startswith("__")
            tables = (mod.endswith(".models") or alias.name == "models") and id(node) not in skip
            if private or tables:
                found.add((rel, f"{mod}.{alias.name}"))
    return found


def crossings() -> set[tuple[str, str]]:
    """:func:`crossings_in` over every file of ``govfabric/`` (migrations aside)."""
    found: set[tuple[str, str]] = set()
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).as_posix()
        if "/migrations/" not in rel:
            found |= crossings_in(rel, path.read_text(encoding="utf-8"))
    return found


def test_modules_do_not_reach_into_each_others_tables_or_privates() -> None:
    found = crossings()
    assert found <= set(ALLOWED), (
        "imports of another module's models or private functions (add a read/write function to the owning "
        f"module's service instead): {sorted(found - set(ALLOWED))}")
    assert set(ALLOWED) <= found, f"allow-list entries that are gone (remove them): {sorted(set(ALLOWED) - found)}"


def test_the_scan_sees_a_crossing() -> None:
    """The scan itself works: ownership by longest package, type-only imports pass, own models pass."""
    assert owner("govfabric.governance.quality.service") == "govfabric.governance.quality"
    assert owner("govfabric.cli.audit") == "govfabric.cli"
    text = ("from typing import TYPE_CHECKING\n"
            "from govfabric.governance.quality.models import QualityRun\n"
            "from govfabric.catalog.models import Source\n"
            "from govfabric.catalog.service import _lock_token\n"
            "if TYPE_CHECKING:\n    from govfabric.catalog.models import Asset\n"
            "def f():\n    from govfabric.virtualization import models\n")
    rel = "govfabric/governance/quality/x.py"
    assert crossings_in(rel, text) == {(rel, "govfabric.catalog.models.Source"),
                                       (rel, "govfabric.catalog.service._lock_token"),
                                       (rel, "govfabric.virtualization.models")}
