"""Blockchain test fixtures live in chain_fixtures.py (importable by a unique name)."""

from chain_fixtures import chain_kind, make_service, service  # noqa: F401
