"""Query engines behind one seam (see ``base.Engine``). The registry maps names to classes."""

from __future__ import annotations

import importlib

from govfabric.errors import ConfigError
from govfabric.virtualization.engines.base import Binding, Engine

#: engine name -> "module:Class"; adding an engine adds one line here
REGISTRY: dict[str, str] = {
    "duckdb": "govfabric.virtualization.engines.duckdb:DuckDBEngine",
    "trino": "govfabric.virtualization.engines.trino:TrinoEngine",
    "direct": "govfabric.virtualization.engines.direct:DirectEngine",
}


def engine_class(name: str) -> type[Engine]:
    target = REGISTRY.get(name)
    if target is None:
        raise ConfigError(f"unknown engine {name!r}; use one of {', '.join(REGISTRY)}")
    module, cls = target.split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"engine {name!r} is not available in this build ({exc.name} missing)") from exc


__all__ = ["REGISTRY", "Binding", "Engine", "engine_class"]
