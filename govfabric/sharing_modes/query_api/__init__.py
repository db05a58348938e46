"""Conditional query services (GB/T 40756-2021 §8.4.2.6): named, parameterised lookups over a
virtual table that business systems call over HTTP, answered through the guarded read path."""
