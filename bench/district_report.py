"""Report latency over a simulated term: N rooms x D school days of lesson summaries and
daily usage stored through the collector's own write path (Store.apply), then the district
report, one school's and one room's, timed repeatedly on SQLite and on PostgreSQL.

    .venv/bin/python bench/district_report.py [--rooms 1000] [--days 90] [--no-pg]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from district.config import from_dict
from district.ingest.parse import parse
from district.kpi.engine import term_report, weekly_series
from district.report import render
from district.simulate.fleet import build, school_days
from district.store.store import Store

START = date(2026, 9, 1)


def fill(store: Store, rooms: int, schools: int, days: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = 0
    for i, day in enumerate(school_days(START, days)):
        plan = build(rooms, schools, 1, day, seed=i, faults=True)
        items = [parse(m.topic, m.payload, "classroom") for m in plan.messages
                 if m.topic.endswith(("/lessons", "/usage", "/status"))]
        for j in range(0, len(items), 500):
            store.apply(items[j:j + 500])
        n += len(items)
    return n, time.perf_counter() - t0


def timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, default=1000)
    ap.add_argument("--schools", type=int, default=20)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    end = START + timedelta(days=args.days * 7 // 5 + 7)
    cfg = from_dict({"web": {"listen": ""}, "terms": [
        {"name": "t", "start": START.isoformat(), "end": end.isoformat(),
         "holidays": ["2026-10-01..2026-10-07"]}]})
    tmp = Path(tempfile.mkdtemp(prefix="district-report-"))
    engines = [("sqlite", f"sqlite:///{tmp}/d.sqlite")]
    pg = None
    try:
        if not args.no_pg:
            from tests.district.conftest import Postgres

            pg = Postgres()
            pg.start()
            engines.append(("postgresql", pg.new_database()))
        rows = []
        for name, url in engines:
            store = Store.open(url, cfg.terms)
            n, secs = fill(store, args.rooms, args.schools, args.days)
            print(f"{name}: stored {n:,} records ({store.count('lessons'):,} lessons) in "
                  f"{secs:.0f} s ({n / secs:,.0f}/s)")
            district = timed(lambda s=store: term_report(cfg, s, "t", as_of=end), args.runs)
            school = timed(lambda s=store: term_report(cfg, s, "t", school="s001",
                                                       as_of=end), args.runs)
            room = timed(lambda s=store: term_report(cfg, s, "t", school="s001",
                                                     room="r0001", as_of=end), args.runs)
            weekly = timed(lambda s=store: weekly_series(cfg, s, "t", as_of=end), args.runs)
            rep = term_report(cfg, store, "t", as_of=end)
            xlsx = timed(lambda r=rep: render(r, "xlsx"), 5)
            rows.append((name, district, school, room, weekly, xlsx))
            store.close()
        print(f"\nterm of {args.rooms} rooms x {args.days} school days; ms (median / p95) "
              f"over {args.runs} runs")
        print(f"{'engine':<12}{'district':>16}{'one school':>16}{'one room':>16}"
              f"{'weekly':>16}{'xlsx render':>16}")
        for name, *figs in rows:
            print(f"{name:<12}" + "".join(f"{m:>8.1f} /{p:>6.1f}" for m, p in figs))
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
