"""The open-data portal (server-rendered pages under /portal)."""
