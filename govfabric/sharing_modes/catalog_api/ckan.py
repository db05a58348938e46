"""Packages, organisations and tags as CKAN 2.x action API dictionaries (what harvesters parse)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from govfabric.catalog import taxonomy
from govfabric.sharing_modes.catalog_api.service import Package, organization_name


def _iso(t: datetime) -> str:
    return t.replace(tzinfo=None).isoformat(timespec="microseconds")


def _label(facet: str, key: str | None) -> str | None:
    return next((t.zh for t in taxonomy.FACETS[facet] if t.key == key), key)


def organization_dict(department: str, count: int | None = None) -> dict[str, Any]:
    name = organization_name(department)
    out: dict[str, Any] = {"id": name, "name": name, "title": department, "display_name": department,
                           "type": "organization", "is_organization": True, "state": "active",
                           "approval_status": "approved", "description": "", "image_url": ""}
    if count is not None:
        out["package_count"] = count
    return out


def package_dict(p: Package) -> dict[str, Any]:
    """CKAN's package schema (core fields, ``extras`` for govfabric's classification)."""
    extras = {"qualified_name": p.qualified_name, "theme": p.theme, "theme_label": _label("theme", p.theme),
              "open_class": p.open_class, "frequency": p.update_frequency,
              "frequency_label": _label("update_frequency", p.update_frequency)}
    resources = [{"id": r.id, "package_id": p.id, "name": r.name, "format": r.format, "url": r.url,
                  "description": r.description or "", "resource_type": r.kind, "position": i, "state": "active",
                  "created": _iso(p.created), "last_modified": _iso(p.modified)}
                 for i, r in enumerate(p.resources)]
    return {
        "id": p.id, "name": p.name, "title": p.title, "notes": p.notes or "", "type": "dataset", "state": "active",
        "private": False, "license_id": "", "author": p.department or "", "maintainer": p.department or "",
        "metadata_created": _iso(p.created), "metadata_modified": _iso(p.modified),
        "owner_org": p.organization, "organization": organization_dict(p.department) if p.department else None,
        "tags": [{"name": t, "display_name": t, "state": "active", "vocabulary_id": None} for t in p.tags],
        "num_tags": len(p.tags), "groups": [], "resources": resources, "num_resources": len(resources),
        "extras": [{"key": k, "value": v} for k, v in extras.items() if v is not None],
    }


def search_facets(facets: dict[str, dict[str, int]], titles: dict[str, str]) -> dict[str, Any]:
    """CKAN's ``search_facets``: per field its items with counts (display names for organisations)."""
    return {f: {"title": f, "items": [{"name": v, "display_name": titles.get(v, v) if f == "organization" else v,
                                       "count": n} for v, n in counts.items()]}
            for f, counts in facets.items()}
