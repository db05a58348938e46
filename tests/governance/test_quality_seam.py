"""Quality reaches engines only through the engine seam: public methods, the registry's names, DIALECT."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import govfabric.governance.quality as quality
from govfabric.virtualization.engines import REGISTRY, Engine, engine_class

QUALITY = Path(quality.__file__).parent


def _trees() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(encoding="utf-8"))) for p in sorted(QUALITY.glob("*.py"))]


def test_quality_calls_no_private_member_of_another_object() -> None:
    bad = [f"{p.name}:{n.lineno} .{n.attr}" for p, t in _trees() for n in ast.walk(t)
           if isinstance(n, ast.Attribute) and n.attr.startswith("_") and not n.attr.startswith("__")
           and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))]
    assert not bad, bad


def test_quality_keeps_no_list_of_engine_names() -> None:
    names = set(REGISTRY) | {e.DIALECT for e in map(engine_class, REGISTRY)} | {"postgres", "postgresql"}
    bad = [f"{p.name}:{n.lineno} {n.value!r}" for p, t in _trees() for n in ast.walk(t)
           if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.lower() in names]
    assert not bad, bad


def test_engines_get_settings_and_a_connector_not_the_fabric() -> None:
    for name in REGISTRY:
        params = list(inspect.signature(engine_class(name).__init__).parameters)
        assert params == ["self", "settings", "connector"], (name, params)
    assert "fabric" not in inspect.signature(Engine.__init__).parameters
