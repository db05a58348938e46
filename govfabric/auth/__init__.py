"""Principals, roles, secrets and the hash-chained audit log."""
