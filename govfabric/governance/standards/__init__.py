"""Data standards (§8.4.4.1): data elements, naming rules, column mappings, conformance checks."""
