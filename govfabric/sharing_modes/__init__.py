"""Sharing modes (GB/T 40756-2021 §8.4.2): one package per mode, each with its service, router and CLI."""
