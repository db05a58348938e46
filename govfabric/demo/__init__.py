"""Synthetic but realistic multi-department demo data (all personal data is made up)."""
