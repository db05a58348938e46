"""Data governance (§8.4.4): standards, metadata, quality, security, lineage and provenance."""
