"""Prometheus metrics of one server process: calls, latency and errors per service.

Each app gets its own registry (tests build many apps in one process). With ``--workers N`` each
worker counts its own calls; scrape each, or run one worker per container."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter("govfabric_api_calls", "API calls", ("service", "method", "status"),
                             registry=self.registry)
        self.latency = Histogram("govfabric_api_latency_seconds", "API call latency", ("service",),
                                 buckets=_BUCKETS, registry=self.registry)
        self.errors = Counter("govfabric_api_errors", "API calls answered with an error", ("service", "code"),
                              registry=self.registry)
        self.audit_failures = Counter("govfabric_api_audit_failures", "api.call events that could not be written",
                                      registry=self.registry)
        #: (service, method, status) -> its call counter and latency histogram (``labels`` locks and
        #: builds a key per call); the labels are route templates, a bounded set
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, service: str, method: str, status: int, seconds: float, code: str | None) -> None:
        key = (service, method, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.calls.labels(service, method, str(status)),
                                              self.latency.labels(service))
        children[0].inc()
        children[1].observe(seconds)
        if status >= 400:
            self.errors.labels(service, code or f"http_{status}").inc()

    def audit_failed(self) -> None:
        self.audit_failures.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
