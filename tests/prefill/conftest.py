"""Fixtures of the prefill tests (see prefill_world.py)."""

from prefill_world import world  # noqa: F401
