"""The HTTP service plane: one FastAPI app assembling each sharing mode's router (DESIGN.md)."""
