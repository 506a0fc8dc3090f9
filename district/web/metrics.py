"""/metrics in the Prometheus text format (prometheus_client), read from the store's
counters and the running collector's tallies at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from district.store.store import Store


class _Scrape:
    def __init__(self, store: Store, collector: Any) -> None:
        self.store, self.collector = store, collector

    def collect(self) -> Iterator[Metric]:
        counters = self.store.counters()
        by_kind = CounterMetricFamily("district_records", "Records by kind and outcome",
                                      labels=["kind", "outcome"])
        dead = CounterMetricFamily("district_dead_letters", "Payloads kept as dead letters",
                                   labels=["reason"])
        for name, value in counters.items():
            kind, _, outcome = name.partition(":")
            if kind == "dead_letters":
                dead.add_metric([outcome], value)
            else:
                by_kind.add_metric([kind, outcome], value)
        yield by_kind
        yield dead
        seq = self.store.seq_state()
        g = GaugeMetricFamily("district_seq_missing", "Messages missing by seq gaps",
                              labels=["topic"])
        totals: dict[str, int] = {}
        for r in seq:
            totals[r["topic"]] = totals.get(r["topic"], 0) + r["missing"]
        for topic, v in sorted(totals.items()):
            g.add_metric([topic], v)
        yield g
        rooms = self.store.rooms()
        presence = GaugeMetricFamily("district_rooms", "Rooms by presence", labels=["state"])
        states: dict[str, int] = {}
        for r in rooms:
            key = "silent" if r["first_seen"] is None else (r["state"] or "unknown")
            states[key] = states.get(key, 0) + 1
        for k, v in sorted(states.items()):
            presence.add_metric([k], v)
        yield presence
        if self.collector is not None:
            st = self.collector.stats
            for name, help_, value in (
                ("district_ingest_received", "Messages received from the broker", st.received),
                ("district_ingest_committed", "Messages committed", st.committed),
                ("district_ingest_acked", "Messages acknowledged after commit", st.acked),
                ("district_ingest_store_errors", "Batches the store refused", st.store_errors),
                ("district_mqtt_connects", "Connections to the broker", st.connects),
            ):
                c = CounterMetricFamily(name, help_)
                c.add_metric([], value)
                yield c
            up = GaugeMetricFamily("district_mqtt_connected", "1 while connected")
            up.add_metric([], 1 if st.connected else 0)
            yield up


def render(store: Store, collector: Any) -> bytes:
    reg = CollectorRegistry()
    reg.register(_Scrape(store, collector))
    return generate_latest(reg)
