"""Scheduled runs (harvest, quality, export) and the long-lived scheduler (§8.4.5)."""
