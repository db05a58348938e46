"""Metadata management: business and technical metadata linked to catalog assets (§8.4.4.2)."""
