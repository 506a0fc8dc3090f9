"""Health absorption: N rooms each sending `health` every 30 s (N/30 msg/s sustained) into a
collector process on SQLite; the CPU the collector spends (user + system seconds of its
process over the window) and what it keeps (the latest sample per room and a count).

    .venv/bin/python bench/district_health.py [--rooms 10000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent import events as ev
from district.simulate.fleet import Message, _Room
from district.simulate.publish import publish
from tests.conftest import Mosquitto
from tests.helpers.collector import CollectorProc, collector_toml


def health_round(rooms: list[_Room], start: datetime, spread_s: float = 0.0) -> list[Message]:
    """One health sample per room; with ``spread_s`` the rooms' timers are spread evenly
    over that many seconds (rooms do not all start at the same instant)."""
    out = []
    for i, r in enumerate(rooms):
        at = start + timedelta(seconds=spread_s * i / max(1, len(rooms)))
        h = ev.Health(ts=at, cpu_percent=12.0, load_1m=0.3, memory_percent=40.0,
                      disk_free_bytes=10**10, disk_total_bytes=10**11, temperature_c=51.0,
                      rss_bytes=10**8, uptime_s=3600.0, loop_lag_ms=1.0, loop_lag_max_ms=5.0,
                      outbox_depth=0, outbox_bytes=0, outbox_oldest_age_s=0.0, sent_total=1,
                      dropped_total=0)
        out.append(r.envelope(h, at))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=60, help="a multiple of 30")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="district-health-"))
    broker = Mosquitto(tmp, extra=["max_queued_messages 0"])
    collector = None
    try:
        broker.start()
        collector = CollectorProc(tmp, "run", collector_toml(broker.url, "health-bench", tmp))
        collector.start()
        collector.wait_subscribed()
        rooms = [_Room("classroom", f"s{i % 50:03d}", f"r{i:05d}") for i in range(args.rooms)]
        rounds = max(1, args.seconds // 30)
        msgs: list[Message] = []
        for k in range(rounds):
            msgs += health_round(rooms, datetime.fromtimestamp(time.time() + 30 * k, UTC), 30.0)
        assert collector.proc is not None
        ps = psutil.Process(collector.proc.pid)
        cpu0 = sum(ps.cpu_times()[:2])
        t0 = time.perf_counter()
        # paced: msgs spread over the window like rooms on 30 s timers
        publish(msgs, broker.url, speed=1.0, timeout=600)  # real time: N/30 msg/s
        db = sqlite3.connect(f"{tmp}/d.sqlite")
        while db.execute("SELECT coalesce(sum(samples), 0) FROM health").fetchone()[0] < len(
                msgs):
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        cpu = sum(ps.cpu_times()[:2]) - cpu0
        rows, samples = db.execute("SELECT count(*), sum(samples) FROM health").fetchone()
        print(f"{len(msgs):,} health messages from {args.rooms:,} rooms over {wall:.0f} s "
              f"({len(msgs) / wall:,.0f} msg/s)")
        print(f"collector CPU: {cpu:.1f} s = {100 * cpu / wall:.1f} % of one core "
              f"({1e6 * cpu / len(msgs):.0f} us per message)")
        print(f"kept: {rows:,} rows (latest per room), {samples:,} samples counted")
    finally:
        if collector:
            collector.stop()
        broker.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
