"""Offline validation against the official OpenLineage JSON schemas in ../shared/specs/openlineage."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

SPEC_DIR = Path(os.environ.get("GOVFABRIC_OPENLINEAGE_SPECS",
                               Path(__file__).resolve().parents[3] / "shared" / "specs" / "openlineage"))


@cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    if not (SPEC_DIR / "OpenLineage.json").exists():
        if os.environ.get("CI"):
            pytest.fail(f"OpenLineage schemas not found at {SPEC_DIR}")
        pytest.skip(f"OpenLineage schemas not found at {SPEC_DIR} (set GOVFABRIC_OPENLINEAGE_SPECS)")
    resources = []
    for path in [SPEC_DIR / "OpenLineage.json", *sorted((SPEC_DIR / "facets").glob("*.json"))]:
        doc = json.loads(path.read_text(encoding="utf-8"))
        resources.append((doc["$id"], Resource.from_contents(doc)))
    registry = Registry().with_resources(resources)
    core = json.loads((SPEC_DIR / "OpenLineage.json").read_text(encoding="utf-8"))
    return Draft202012Validator({"$ref": core["$id"] + "#/$defs/RunEvent"}, registry=registry), registry


def validate_event(event: dict[str, Any]) -> None:
    """Validate the event and each facet against the schema its ``_schemaURL`` names."""
    from jsonschema import Draft202012Validator

    validator, registry = _validator()
    errors = sorted(validator.iter_errors(event), key=str)
    assert not errors, "; ".join(e.message for e in errors[:5])
    for facet in _facets(event):
        url = facet.get("_schemaURL")
        assert url, f"facet without _schemaURL: {facet}"
        sub = Draft202012Validator({"$ref": url}, registry=registry)
        errs = list(sub.iter_errors(facet))
        assert not errs, f"{url}: {errs[0].message}"


def _facets(event: dict[str, Any]) -> list[dict[str, Any]]:
    out = list(event["run"].get("facets", {}).values()) + list(event["job"].get("facets", {}).values())
    for d in event.get("inputs", []) + event.get("outputs", []):
        for key in ("facets", "inputFacets", "outputFacets"):
            out.extend(d.get(key, {}).values())
    return out
