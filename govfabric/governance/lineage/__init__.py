"""Lineage and provenance as OpenLineage run events (§8.4.4.2f, §8.4.4.5)."""
