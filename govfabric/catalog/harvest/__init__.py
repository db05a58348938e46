"""Automatic registration: read a source's structure, then sync it into the catalog."""
