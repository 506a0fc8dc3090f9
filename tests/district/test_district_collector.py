"""The collector against a real mosquitto: a simulated fleet in, the report equal to the
figures computed from what was published; garbage on the wire dead-lettered."""

from __future__ import annotations

import time
from datetime import date

import paho.mqtt.client as mqtt

from district.config import from_dict
from district.ingest.collector import Collector
from district.kpi.engine import term_report
from district.simulate.fleet import build
from district.simulate.publish import publish
from district.store.store import Store
from tests.district.fleet_truth import compare

START = date(2026, 9, 7)


def _cfg(broker, storage_url: str, client_id: str = "c1"):
    return from_dict({
        "mqtt": {"url": broker.url, "client_id": client_id},
        "storage": {"url": storage_url, "batch_ms": 20},
        "web": {"listen": ""},
        "terms": [{"name": "t", "start": "2026-09-01", "end": "2027-01-22"}],
    })


def _wait(cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def test_a_fleet_through_the_broker_equals_what_was_published(mosquitto, storage_url) -> None:
    cfg = _cfg(mosquitto, storage_url)
    store = Store.open(cfg.storage.url, cfg.terms)
    col = Collector(cfg, store)
    try:
        col.start()
        _wait(lambda: col.stats.subscribed)
        plan = build(40, 4, 5, START, seed=7)
        publish(plan.messages, mosquitto.url)
        _wait(lambda: col.stats.acked >= len(plan.messages))
        rep = term_report(cfg, store, "t", as_of=date(2026, 9, 11))
        assert compare(rep, plan.truth, "2026-09-01", "2027-01-22") == []
        assert store.count("lessons") == len(plan.truth.lessons)
        c = store.counters()
        assert c.get("lessons:duplicate", 0) >= plan.stats.get("new_id_duplicates", 0)
        assert not any(k.startswith("dead_letters:") for k in c)
        rec_rooms = {(r.school, r.room) for r in rep.rooms if r.recording_room}
        assert rec_rooms >= {k for k in plan.truth.recording_rooms
                             if any(s.recording.minutes > 0 for (a, b, _), s in
                                    plan.truth.lessons.items() if (a, b) == k)}
        assert all(r.state == "online" for r in rep.rooms)
    finally:
        col.stop()
        store.close()


def test_garbage_on_the_wire_is_dead_lettered_and_ingest_goes_on(mosquitto, tmp_path) -> None:
    cfg = _cfg(mosquitto, f"sqlite:///{tmp_path}/d.sqlite")
    store = Store.open(cfg.storage.url, cfg.terms)
    col = Collector(cfg, store)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    try:
        col.start()
        _wait(lambda: col.stats.subscribed)
        pub.connect("127.0.0.1", mosquitto.port)
        pub.loop_start()
        for payload in (b"not json", b"{}", b'{"v": 9}', b"\x00" * 1000):
            pub.publish("classroom/s1/r1/lessons", payload, qos=1).wait_for_publish(5)
        plan = build(2, 1, 1, START, seed=3, faults=False)
        publish(plan.messages, mosquitto.url)
        _wait(lambda: store.count("lessons") == len(plan.truth.lessons))
        c = store.counters()
        assert c["dead_letters:bad_json"] == 2 and c["dead_letters:bad_envelope"] == 1
        assert c["dead_letters:newer_schema"] == 1
        assert {r["reason"] for r in store.dead_letters()} == {"bad_json", "bad_envelope",
                                                                "newer_schema"}
    finally:
        pub.loop_stop()
        pub.disconnect()
        col.stop()
        store.close()


def test_a_restarted_collector_gets_what_arrived_while_it_was_away(mosquitto, tmp_path) -> None:
    cfg = _cfg(mosquitto, f"sqlite:///{tmp_path}/d.sqlite")
    store = Store.open(cfg.storage.url, cfg.terms)
    col = Collector(cfg, store)
    col.start()
    _wait(lambda: col.stats.subscribed)
    col.stop()  # the persistent session keeps our subscription and queue at the broker
    plan = build(5, 1, 2, START, seed=5, faults=False)
    publish(plan.messages, mosquitto.url)
    col = Collector(cfg, store)
    try:
        col.start()
        _wait(lambda: store.count("lessons") == len(plan.truth.lessons))
    finally:
        col.stop()
        store.close()


def test_the_database_going_away_stops_nothing_and_loses_nothing(mosquitto, own_postgres):
    url = own_postgres.new_database()
    cfg = _cfg(mosquitto, url)
    store = Store.open(cfg.storage.url, cfg.terms)
    col = Collector(cfg, store)
    first = build(4, 1, 1, START, seed=21, faults=False)
    second = build(4, 1, 1, date(2026, 9, 8), seed=22, faults=False)
    try:
        col.start()
        _wait(lambda: col.stats.subscribed)
        publish(first.messages, mosquitto.url)
        _wait(lambda: store.count("lessons") == len(first.truth.lessons))
        own_postgres.pause()
        publish(second.messages, mosquitto.url)  # received, cannot be committed
        _wait(lambda: col.stats.store_errors > 0)
        acked = col.stats.acked
        time.sleep(0.5)
        assert col.stats.acked == acked  # nothing acknowledged while nothing commits
        own_postgres.resume()
        want = len(first.truth.lessons) + len(second.truth.lessons)
        _wait(lambda: store.count("lessons") == want, timeout=60)
        assert store.counters()["lessons:stored"] == want
    finally:
        col.stop()
        store.close()
