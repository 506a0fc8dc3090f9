"""Exactly-once under faults: two collector processes on one shared subscription, one
SIGKILLed while the fleet publishes (and started again), the broker stopped and started
mid-stream; every lesson is counted once and the report equals the figures computed from
what was published."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import pytest

from district.config import from_dict
from district.kpi.engine import term_report
from district.simulate.fleet import build
from district.simulate.publish import publish
from district.store.store import Store
from tests.district.fleet_truth import compare
from tests.helpers.collector import CollectorProc


def collector(tmp: Path, name: str, broker_url: str, storage_url: str) -> CollectorProc:
    return CollectorProc(tmp, name,
        f'[mqtt]\nurl = "{broker_url}"\nclient_id = "{name}"\nreceive_maximum = 50\n'
        f'[storage]\nurl = "{storage_url}"\nbatch_max = 50\nbatch_ms = 10\n'
        '[web]\nlisten = ""\n'
        '[[terms]]\nname = "t"\nstart = "2026-09-01"\nend = "2027-01-22"\n')


@pytest.mark.slow
def test_every_lesson_once_through_kill_and_broker_restart(mosquitto_factory, storage_url,
                                                           tmp_path) -> None:
    broker = mosquitto_factory(persistent=True)
    cfg = from_dict({"storage": {"url": storage_url}, "web": {"listen": ""},
                     "terms": [{"name": "t", "start": "2026-09-01", "end": "2027-01-22"}]})
    Store.open(storage_url, cfg.terms).close()  # migrate once before two processes race
    a = collector(tmp_path, "ca", broker.url, storage_url)
    b = collector(tmp_path, "cb", broker.url, storage_url)
    plan = build(60, 4, 4, date(2026, 9, 7), seed=11)
    n = len(plan.messages)
    sent = threading.Event()
    errors: list[BaseException] = []

    def run_publisher() -> None:
        try:
            # paced so the faults below land mid-stream: ~n messages over ~6 s
            publish(plan.messages, broker.url, speed=(4 * 86400) / 6.0, timeout=120)
        except BaseException as e:
            errors.append(e)
        finally:
            sent.set()

    try:
        a.start()
        b.start()
        a.wait_subscribed()
        b.wait_subscribed()
        pub = threading.Thread(target=run_publisher)
        pub.start()
        time.sleep(1.5)
        a.kill()  # mid-stream: whatever it had received but not committed is redelivered
        time.sleep(1.0)
        broker.stop()  # clean stop: the broker saves sessions and queues
        time.sleep(0.5)
        broker.start()
        a.start()
        pub.join(150)
        assert sent.is_set() and not errors, errors
        store = Store.open(storage_url, cfg.terms)
        try:
            deadline = time.monotonic() + 60
            while store.count("lessons") < len(plan.truth.lessons):
                assert time.monotonic() < deadline, (store.count("lessons"),
                                                     len(plan.truth.lessons))
                time.sleep(0.2)
            time.sleep(1.0)  # let the last usage revisions land
            deadline = time.monotonic() + 30
            while True:
                rep = term_report(cfg, store, "t", as_of=date(2026, 9, 11))
                problems = compare(rep, plan.truth, "2026-09-01", "2027-01-22")
                if not problems or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert problems == []
            assert store.count("lessons") == len(plan.truth.lessons)
            c = store.counters()
            assert c["lessons:stored"] == len(plan.truth.lessons)  # never stored twice
            assert sum(v for k, v in c.items() if k.startswith("dead_letters:")) == 0
            assert n > 1000
        finally:
            store.close()
    finally:
        a.stop()
        b.stop()
