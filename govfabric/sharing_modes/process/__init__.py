"""Sharing process management (§8.4.2.10): offers, their lifecycle, requests, time limits, statistics."""
