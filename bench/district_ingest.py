"""District ingest: one school day of N rooms through mosquitto into the collector on
SQLite and on PostgreSQL, side by side with a bare subscriber (parse + batched insert of
the same lesson rows, no dedupe, no aggregates, auto-ack): the ceiling.

Two measurements:
- live: each consumer alone, connected while the day is published as fast as the publisher
  goes; the time from the first publish until the consumer has committed everything.
- backlog: the day is published once into three persistent sessions (one per consumer,
  each its own share group) while the consumers are away; each consumer is then started
  alone and timed until it has committed everything (a collector catching up).

    .venv/bin/python bench/district_ingest.py [--rooms 10000] [--no-pg] [--skip-backlog]
"""

from __future__ import annotations

import argparse
import queue
import sqlite3
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from district.config import from_dict
from district.ingest.collector import Collector
from district.ingest.parse import Record, parse
from district.simulate.fleet import build
from district.simulate.publish import publish
from district.store.store import Store
from tests.conftest import Mosquitto


def collector_cfg(broker: Mosquitto, url: str, name: str):
    return from_dict({"mqtt": {"url": broker.url, "client_id": name, "share_group": name,
                               "subscribe_health": False},
                      "storage": {"url": url}, "web": {"listen": ""},
                      "terms": [{"name": "t", "start": "2026-09-01", "end": "2027-01-22"}]})


def _props() -> Properties:
    p = Properties(PacketTypes.CONNECT)
    p.SessionExpiryInterval = 3600
    p.ReceiveMaximum = 1000
    return p


class Bare:
    """The ceiling: receive, parse with the same code, insert lesson rows in batches."""

    def __init__(self, broker: Mosquitto, path: str, name: str) -> None:
        self.broker, self.q, self.done = broker, queue.Queue(), 0
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS rows (id TEXT, school TEXT, room TEXT, "
                        "type TEXT, ts TEXT, data TEXT)")
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name,
                             protocol=mqtt.MQTTv5)
        self.c.on_message = lambda _c, _u, m: self.q.put(m)
        self.c.on_connect = lambda c, *_a: c.subscribe(f"$share/{name}/classroom/+/+/#", 1)

    def connect(self) -> None:
        self.c.connect("127.0.0.1", self.broker.port, clean_start=False, properties=_props())
        self.c.loop_start()

    def stop(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()

    def drain(self, n: int) -> None:
        while self.done < n:
            batch = [self.q.get()]
            while len(batch) < 500:
                try:
                    batch.append(self.q.get(timeout=0.05))
                except queue.Empty:
                    break
            rows = []
            for m in batch:
                r = parse(m.topic, m.payload, "classroom")
                if isinstance(r, Record):
                    rows.append((r.id, r.school, r.room, r.type, r.ts, r.raw.decode()))
            self.db.execute("BEGIN")
            self.db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?)", rows)
            self.db.execute("COMMIT")
            self.done += len(batch)


def _table(title: str, n: int, results: dict[str, float]) -> None:
    print(f"\n{title}\n{'consumer':<12}{'seconds':>10}{'msg/s':>12}{'vs bare':>10}")
    for name, s in results.items():
        print(f"{name:<12}{s:>10.1f}{n / s:>12,.0f}{results['bare'] / s:>10.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, default=10_000)
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--skip-backlog", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="district-bench-"))
    broker = Mosquitto(tmp, extra=["max_queued_messages 0", "max_inflight_messages 1000"])
    pg = None
    try:
        broker.start()
        t0 = time.perf_counter()
        plan = build(args.rooms, max(1, args.rooms // 50), 1, date(2026, 9, 7), seed=1)
        n = len(plan.messages)
        lessons = len(plan.truth.lessons)
        print(f"day of {args.rooms} rooms: {n} messages ({lessons} lessons), built in "
              f"{time.perf_counter() - t0:.1f} s")
        consumers = [("sqlite", f"sqlite:///{tmp}/district.sqlite")]
        if not args.no_pg:
            from tests.district.conftest import Postgres

            pg = Postgres()
            pg.start()
            consumers.append(("postgresql", pg.new_database()))
        live: dict[str, float] = {}
        retained = 0  # statuses retained by an earlier publish arrive on subscribe as well
        for name, url in consumers:
            cfg = collector_cfg(broker, url, f"live-{name}")
            store = Store.open(url, cfg.terms)
            col = Collector(cfg, store)
            col.start()
            while not col.stats.subscribed:
                time.sleep(0.05)
            t0 = time.perf_counter()
            publish(plan.messages, broker.url, timeout=1800)
            pub_s = time.perf_counter() - t0
            while col.stats.committed < n + retained:
                time.sleep(0.02)
            live[name] = time.perf_counter() - t0
            retained = args.rooms
            col.stop()
            assert store.count("lessons") == lessons, (store.count("lessons"), lessons)
            store.close()
            print(f"live {name}: published in {pub_s:.1f} s, all committed after "
                  f"{live[name]:.1f} s")
        bare = Bare(broker, f"{tmp}/bare-live.sqlite", "bare-live")
        bare.connect()
        time.sleep(0.5)
        t0 = time.perf_counter()
        publish(plan.messages, broker.url, timeout=1800)
        bare.drain(n + retained)
        live["bare"] = time.perf_counter() - t0
        bare.stop()
        _table("live: publish the day while the consumer is connected", n, live)
        if args.skip_backlog:
            return
        # sessions first (subscribed, then away), so the broker queues the day for each
        for name, url in consumers:
            cfg = collector_cfg(broker, url, f"bench-{name}")
            store = Store.open(url, cfg.terms)
            col = Collector(cfg, store)
            col.start()
            while not col.stats.subscribed:
                time.sleep(0.05)
            col.stop()
            store.close()
        bare = Bare(broker, f"{tmp}/bare.sqlite", "bare")
        bare.connect()
        time.sleep(0.5)
        bare.stop()
        t0 = time.perf_counter()
        publish(plan.messages, broker.url, timeout=1800)
        pub_s = time.perf_counter() - t0
        print(f"published into 3 sessions in {pub_s:.1f} s ({n / pub_s:,.0f} msg/s)")
        results: dict[str, float] = {}
        t0 = time.perf_counter()
        bare.connect()
        bare.drain(n + retained)
        results["bare"] = time.perf_counter() - t0
        bare.stop()
        for name, url in consumers:
            cfg = collector_cfg(broker, url, f"bench-{name}")
            store = Store.open(url, cfg.terms)
            col = Collector(cfg, store)
            t0 = time.perf_counter()
            col.start()
            while col.stats.committed < n + retained:
                time.sleep(0.02)
            results[name] = time.perf_counter() - t0
            col.stop()
            store.close()
        _table("backlog: the day queued in the broker, then drained", n, results)
    finally:
        broker.kill()
        if pg:
            pg.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
