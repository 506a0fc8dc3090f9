"""Prometheus metrics, one registry per agent instance (tests run several agents).

Components get-or-create their metrics by name: ``metrics.counter(name, doc, labels)``.
Every "clear error and a counter" in the agent is one of these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

M = TypeVar("M", Counter, Gauge, Histogram)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._made: dict[str, Counter | Gauge | Histogram] = {}

    def _get(self, cls: type[M], name: str, doc: str, labels: Sequence[str], **kw: Any) -> M:
        m = self._made.get(name)
        if m is None:
            m = cls(name, doc, list(labels), registry=self.registry, **kw)
            self._made[name] = m
        return m  # type: ignore[return-value]  # one name, one kind: callers agree on it

    def counter(self, name: str, doc: str, labels: Sequence[str] = ()) -> Counter:
        return self._get(Counter, name, doc, labels)

    def gauge(self, name: str, doc: str, labels: Sequence[str] = ()) -> Gauge:
        return self._get(Gauge, name, doc, labels)

    def histogram(
        self, name: str, doc: str, labels: Sequence[str] = (), buckets: Sequence[float] = ()
    ) -> Histogram:
        kw = {"buckets": list(buckets)} if buckets else {}
        return self._get(Histogram, name, doc, labels, **kw)

    def render(self) -> bytes:
        return generate_latest(self.registry)
