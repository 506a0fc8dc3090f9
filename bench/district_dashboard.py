"""Dashboard page load over a simulated full term: N rooms x D school days stored through
the collector's write path (Store.apply) into SQLite, the collector's web app on a free
port, and headless Chromium (Debian's) loading each page R times. A page load is measured
by the page itself: ms from navigation start until its data is rendered (first fetch of
``/api/dashboard/...`` answered, tables and charts drawn). Side by side: the JSON alone
(aiohttp client) and the engine's district report alone (in process).

    .venv/bin/python bench/district_dashboard.py [--rooms 1000] [--days 90] [--runs 30]
                                                 [--db PATH (kept and reused)]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.district_report import START, fill
from district.config import from_dict
from district.kpi.engine import term_report
from district.store.store import Store
from district.web.app import start_web
from district.web.pages import CACHE
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import free_port


def stats(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s), s[max(0, int(len(s) * 0.95 + 0.5) - 1)]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, default=1000)
    ap.add_argument("--schools", type=int, default=20)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--db", help="SQLite file to keep (filled only when missing)")
    args = ap.parse_args()
    end = START + timedelta(days=args.days * 7 // 5 + 7)
    tmp = Path(tempfile.mkdtemp(prefix="district-dash-"))
    db = Path(args.db) if args.db else tmp / "d.sqlite"
    port = free_port()
    cfg = from_dict({"web": {"listen": f"127.0.0.1:{port}"}, "terms": [
        {"name": "t", "start": START, "end": end, "holidays": ["2026-10-01..2026-10-07"]}]})
    runner = None
    fresh = not db.exists()
    store = Store.open(f"sqlite:///{db}", cfg.terms)
    try:
        if fresh:
            n, secs = fill(store, args.rooms, args.schools, args.days)
            print(f"stored {n:,} records ({store.count('lessons'):,} lessons) in {secs:.0f} s")
        rooms = store.count("rooms")
        print(f"term: {rooms:,} rooms, {store.count('lessons'):,} lessons, as of {end}")
        runner = await start_web(cfg, store, None)
        base = f"http://127.0.0.1:{port}"
        q = f"?term=t&as_of={end}&lang=zh-CN"
        pages = {"district": "/", "school": "/schools/s001",
                 "room": "/schools/s001/rooms/r0001", "report": "/report"}
        apis = {"district": "/api/dashboard/district", "school": "/api/dashboard/schools/s001",
                "room": "/api/dashboard/schools/s001/rooms/r0001", "report": "/api/report"}

        engine = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            await asyncio.to_thread(term_report, cfg, store, "t", as_of=end)
            engine.append((time.perf_counter() - t0) * 1000)

        import aiohttp

        cache = runner.app[CACHE]
        api: dict[str, list[float]] = {k: [] for k in apis}
        api_hit: dict[str, list[float]] = {k: [] for k in apis}
        async with aiohttp.ClientSession(base) as http:
            for name, path in apis.items():
                for i in range(args.runs * 2):
                    if i % 2 == 0:
                        cache.clear()  # as if the data had changed since the last view
                    t0 = time.perf_counter()
                    async with http.get(path + q) as r:
                        await r.read()
                        assert r.status == 200, (path, r.status)
                    (api if i % 2 == 0 else api_hit)[name].append(
                        (time.perf_counter() - t0) * 1000)

        from playwright.async_api import async_playwright

        cold_hit: dict[str, list[float]] = {k: [] for k in pages}
        cold: dict[str, list[float]] = {k: [] for k in pages}
        warm: dict[str, list[float]] = {k: [] for k in pages}
        hit: dict[str, list[float]] = {k: [] for k in pages}

        async def load(page, into: dict[str, list[float]], name: str, first: bool) -> None:
            if first:
                await page.goto(base + pages[name] + q)
            else:
                await page.reload()
            await page.wait_for_selector("body[data-loaded]", timeout=60_000)
            into[name].append(float(await page.get_attribute("body", "data-loaded-ms")))

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            viewport = {"width": 1440, "height": 1000}
            try:
                for name in pages:
                    for _ in range(args.runs):
                        # a first visit (new context: nothing cached in the browser) while
                        # the server's view is ready (someone else watches the page)
                        ctx = await browser.new_context(viewport=viewport)
                        await load(await ctx.new_page(), cold_hit, name, True)
                        await ctx.close()
                        # a first visit, data changed since the last view; then reloads
                        # (ECharts in the browser cache), data changed and unchanged
                        ctx = await browser.new_context(viewport=viewport)
                        page = await ctx.new_page()
                        for into, clear, first in ((cold, True, True), (warm, True, False),
                                                   (hit, False, False)):
                            if clear:
                                cache.clear()
                            await load(page, into, name, first)
                        await ctx.close()
            finally:
                await browser.close()

        print(f"\npage load (HTML + data, rendered) in Chromium over {rooms:,} rooms x "
              f"{args.days} school days; ms (median / p95), {args.runs} runs each")
        print("browser: cold = first visit, warm = reload (ECharts cached); server: fresh = "
              "view computed (data changed), cached = the view cache's answer")
        print(f"{'page':<10}{'cold, cached':>16}{'cold, fresh':>16}{'warm, fresh':>16}"
              f"{'warm, cached':>16}{'JSON fresh':>16}{'JSON cached':>16}")
        for name in pages:
            figs = (stats(cold_hit[name]), stats(cold[name]), stats(warm[name]),
                    stats(hit[name]), stats(api[name]), stats(api_hit[name]))
            print(f"{name:<10}" + "".join(f"{m:>9.0f} /{p:>5.0f}" for m, p in figs))
        m, p95 = stats(engine)
        print(f"term_report in process (the engine alone): {m:.0f} / {p95:.0f} ms")
    finally:
        if runner is not None:
            await runner.cleanup()  # stops the view warmer before the store closes
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
