"""The district dashboard in a real headless Chromium, over a simulated district stored
through the collector's own write path: every page in both languages, charts drawn,
downloads parsed back, the print view on A4, the same figures as ``report --format json``,
and bad parameters answered with 400/404 JSON."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path
from urllib.parse import quote

import aiohttp
import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.async_api import expect

from district.config import from_dict
from district.demo import add_variety
from district.ingest.parse import parse
from district.simulate.fleet import build
from district.store.store import Store
from district.web.app import start_web
from tests.browser.conftest import open_page
from tests.conftest import free_port

pytestmark = pytest.mark.browser

TERM = "2026 autumn"
AS_OF = "2026-10-02"
START = date(2026, 9, 7)
ROOMS, SCHOOLS, DAYS = 24, 4, 15


def _toml(cfg: dict) -> str:
    """Enough TOML for the dashboard's config (strings, numbers, dates, lists, tables)."""
    def val(v) -> str:
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return str(v)

    out = []
    for key, sec in cfg.items():
        for item in (sec if isinstance(sec, list) else [sec]):
            out.append(f"[[{key}]]" if isinstance(sec, list) else f"[{key}]")
            out += [f"{k} = {val(v)}" for k, v in item.items()]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    """A stored district: config file, store, and the variety of the demo."""
    tmp = tmp_path_factory.mktemp("dash")
    plan = build(ROOMS, SCHOOLS, DAYS, START, seed=3, health_every_min=120)
    messages, variety = add_variety(plan.messages, SCHOOLS)
    roster: dict[str, list[str]] = {}
    for i in range(ROOMS):
        roster.setdefault(f"s{i % SCHOOLS + 1:03d}", []).append(f"r{i // SCHOOLS + 1:04d}")
    roster["s001"].append("r9999")  # in the roster, never sends anything
    raw = {
        "district": {"name": "测试区", "timezone": "Asia/Shanghai"},
        "storage": {"url": f"sqlite:///{tmp}/district.sqlite"},
        "web": {"listen": "127.0.0.1:8090"},  # the tests start the app on a free port
        "terms": [{"name": TERM, "start": date(2026, 9, 1), "end": date(2027, 1, 22),
                   "holidays": ["2026-10-01..2026-10-07"]}],
        "schools": [{"id": s, "name": f"第{i + 1}小学", "rooms": rs}
                    for i, (s, rs) in enumerate(sorted(roster.items()))],
    }
    (tmp / "district.toml").write_text(_toml(raw), encoding="utf-8")
    cfg = from_dict(raw)
    store = Store.open(cfg.storage.url, cfg.terms, cfg.schools)
    items = [parse(m.topic, m.payload, "classroom") for m in messages]
    for i in range(0, len(items), 500):
        store.apply(items[i:i + 500])
    try:
        yield cfg, store, variety, tmp / "district.toml"
    finally:
        store.close()


@pytest.fixture
async def dash(district):
    cfg, store, variety, path = district
    port = free_port()
    cfg.web.listen = f"127.0.0.1:{port}"
    runner = await start_web(cfg, store, None)
    try:
        yield f"http://127.0.0.1:{port}", variety, path
    finally:
        await runner.cleanup()


def q(lang: str, **extra: str) -> str:
    params = {"term": TERM, "as_of": AS_OF, "lang": lang, **extra}
    return "?" + "&".join(f"{k}={quote(v)}" for k, v in params.items())


async def loaded(page) -> None:
    await expect(page.locator("body")).to_have_attribute("data-loaded", "1", timeout=20_000)


async def canvas_drawn(page, chart_id: str) -> int:
    """Distinct colours on the chart's canvas: a blank one has 1 (or 0)."""
    return await page.evaluate("""(id) => {
        const c = document.querySelector('#' + id + ' canvas');
        if (!c) return 0;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4 * 7) {
            if (d[i + 3] === 0) continue;
            seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
            if (seen.size > 50) break;
        }
        return seen.size;
    }""", chart_id)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_every_page_renders_with_charts(browser, dash, artifacts, lang) -> None:
    url, variety, _ = dash
    low = variety.low_school
    gap_school, gap_room = variety.gap_room
    off_school, off_room = variety.offline_room
    locale = "zh-CN" if lang == "zh-CN" else "en-US"
    zh = lang == "zh-CN"

    # the district: every school, the low one highlighted, offline and data-loss rooms
    page = await open_page(browser, url + "/" + q(lang), locale=locale)
    await loaded(page)
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await expect(page.locator("#kpis")).to_contain_text("课时达标率" if zh else "Class-hour")
    for s in ("s001", "s002", "s003", "s004"):
        await expect(page.locator(f'#schools tr[data-key="{s}"]')).to_be_visible()
    await expect(page.locator(f'#schools tr[data-key="{low}"] td.below').first).to_be_visible()
    await expect(page.locator("#offline")).to_contain_text(off_room)
    await expect(page.locator("#loss")).to_contain_text(gap_room)
    await expect(page.locator("#below tr.below-row").first).to_be_visible()
    await expect(page.locator("#targets")).to_contain_text("暂无数据" if zh else "no data yet")
    for chart in ("chart-schools", "chart-weekly", "chart-recording"):
        assert await canvas_drawn(page, chart) > 3, chart
    await page.screenshot(path=artifacts / f"district-{lang}.png", full_page=True)
    assert page.js_errors == []
    await page.context.close()

    # a school: rooms, heat map, recordings per subject, homework per class and subject
    page = await open_page(browser, url + f"/schools/{gap_school}" + q(lang), locale=locale)
    await loaded(page)
    await expect(page.locator(f'#rooms tr[data-key="{gap_room}"]')).to_be_visible()
    await expect(page.locator("#homework")).to_contain_text("平板班" if zh else "Tablet class")
    await expect(page.locator("#homework")).to_contain_text(re.compile(r"\d+ / 30"))
    assert await page.locator("#homework .nodata").count() == 0
    assert await page.locator("#recordings .nodata").count() == 0
    await expect(page.locator("#kpis")).to_contain_text("精品课程" if zh else "Quality")
    for chart in ("chart-heatmap", "chart-recordings"):
        assert await canvas_drawn(page, chart) > 3, chart
    await page.screenshot(path=artifacts / f"school-{lang}.png", full_page=True)
    assert page.js_errors == []
    await page.context.close()

    # the low school runs an older agent: homework and quality "no data yet" + the reason
    page = await open_page(browser, url + f"/schools/{low}" + q(lang), locale=locale)
    await loaded(page)
    await expect(page.locator("#homework")).to_contain_text(
        "暂无数据" if zh else "no data yet")
    # the engine's reason, in the page's language
    await expect(page.locator("#homework")).to_contain_text(
        "尚未上报平板作业" if zh else "agents older than tablet homework")
    await expect(page.locator("#homework .nodata").first).to_be_visible()
    await expect(page.locator("#recordings .nodata").first).to_be_visible()
    assert page.js_errors == []
    await page.context.close()

    # a room: its lessons, presence, health
    page = await open_page(browser, url + f"/schools/{off_school}/rooms/{off_room}" + q(lang),
                           locale=locale)
    await loaded(page)
    assert await page.locator("#lessons tbody tr").count() > 20
    await expect(page.locator("#presence")).to_contain_text("离线" if zh else "offline")
    await expect(page.locator("#health")).to_contain_text("CPU")
    assert await canvas_drawn(page, "chart-history") > 3
    await page.screenshot(path=artifacts / f"room-{lang}.png", full_page=True)
    assert page.js_errors == []
    await page.context.close()

    # the term report
    page = await open_page(browser, url + "/report" + q(lang), locale=locale)
    await loaded(page)
    assert await page.locator("#rooms tbody tr").count() == ROOMS + 1
    await page.screenshot(path=artifacts / f"report-{lang}.png", full_page=True)
    assert page.js_errors == []
    await page.context.close()


async def test_downloads_parse_back_and_print_fits_a4(browser, dash, artifacts) -> None:
    url, _, _ = dash
    page = await open_page(browser, url + "/report" + q("zh-CN"), locale="zh-CN")
    await loaded(page)
    async with page.expect_download() as info:
        await page.click("#dl-csv")
    dl = await info.value
    text = Path(await dl.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:2] == ["term", TERM]
    room_rows = [r for r in rows if r and r[0] == "rooms"]
    assert len(room_rows) == ROOMS + 1
    async with page.expect_download() as info:
        await page.click("#dl-xlsx")
    dl = await info.value
    assert dl.suggested_filename.endswith(".xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(Path(await dl.path()).read_bytes()))
    assert wb["教室 rooms"].max_row == ROOMS + 2  # header + rooms
    assert wb["学校 schools"].max_row == SCHOOLS + 1

    # print: A4 portrait, nothing wider than the printable width
    await page.emulate_media(media="print")
    await page.set_viewport_size({"width": 718, "height": 1000})  # 190 mm at 96 dpi
    assert await page.locator("#dl-csv").is_hidden()
    overflow = await page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 718, overflow
    pdf = await page.pdf(format="A4", print_background=False, prefer_css_page_size=True)
    (artifacts / "report-zh-CN.pdf").write_bytes(pdf)
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert boxes and all(abs(float(w) - 595.3) < 1 and abs(float(h) - 841.9) < 1
                         for w, h in boxes), boxes  # A4 portrait in points
    assert len(re.findall(rb"/Type /Page\b", pdf)) >= 1
    await page.screenshot(path=artifacts / "report-print-zh-CN.png", full_page=True)
    await page.context.close()


async def test_numbers_update_live_without_reload(browser, district, dash) -> None:
    """A lesson stored while the page is open shows up by polling, the page not reloaded."""
    store = district[1]
    url, variety, _ = dash
    school, room = variety.gap_room
    page = await open_page(browser, url + f"/schools/{school}" + q("en", refresh="1"))
    await loaded(page)
    await page.evaluate("window.__noReload = 1")
    cell = page.locator(f'#rooms tr[data-key="{room}"] td').nth(2)  # lessons
    before = int(await cell.inner_text())
    from tests.helpers.district import lesson, message

    extra = [parse(*message(school, room, lesson("2026-09-30", f"LIVE{i}", "music", True)),
                   "classroom") for i in range(3)]
    store.apply(extra)
    await expect(cell).to_have_text(str(before + 3), timeout=15_000)
    assert await page.evaluate("window.__noReload") == 1
    await page.context.close()


def shown(text: str, rate: float) -> bool:
    """A rate as the page prints it ("179.9 %"): the report's fraction to 0.1 % (JS rounds
    a tie up, Python to even)."""
    assert text.endswith(" %"), text
    return abs(float(text[:-2]) - rate * 100) <= 0.05 + 1e-9


async def test_one_schools_report(browser, dash) -> None:
    """The school page's report link: that school's rooms only, and its downloads too."""
    url, _, _ = dash
    page = await open_page(browser, url + "/schools/s002" + q("en"))
    await loaded(page)
    await page.click("#nav-report")
    await loaded(page)
    assert "school=s002" in page.url
    assert await page.locator("#rooms tbody tr").count() == ROOMS // SCHOOLS
    async with page.expect_download() as info:
        await page.click("#dl-csv")
    text = Path(await (await info.value).path()).read_bytes().decode("utf-8-sig")
    rooms = [r for r in csv.reader(io.StringIO(text)) if r and r[0] == "rooms"]
    assert len(rooms) == ROOMS // SCHOOLS and {r[1] for r in rooms} == {"s002"}
    await page.context.close()


async def test_dashboard_shows_the_figures_of_report_json(browser, dash) -> None:
    url, _, path = dash
    out = subprocess.run([sys.executable, "-m", "district", "report", "-c", str(path),
                          "--term", TERM, "--as-of", AS_OF, "--format", "json"],
                         capture_output=True, check=True, timeout=120)
    rep = json.loads(out.stdout)
    page = await open_page(browser, url + "/" + q("en"))
    await loaded(page)
    for s in rep["schools"]:
        row = page.locator(f'#schools tr[data-key="{s["school"]}"]')
        cells = await row.locator("td").all_inner_texts()
        # school, rooms, smart lessons, per room, class-hour rate, subject rate, ...
        assert cells[1] == str(s["rooms"])
        assert cells[2] == str(s["smart_lessons"])
        assert shown(cells[4], s["class_hour_rate"])
        assert shown(cells[5], s["subject_rate"])
    d = rep["district"]
    kpis = await page.locator("#kpis .kpi-value").all_inner_texts()
    assert shown(kpis[0], d["class_hour_rate"]) and shown(kpis[1], d["subject_rate"])
    await page.context.close()

    page = await open_page(browser, url + "/report" + q("en"))
    await loaded(page)
    for r in rep["rooms"]:
        cells = await page.locator(
            f'#rooms tr[data-key="{r["school"]}/{r["room"]}"] td').all_inner_texts()
        assert cells[3] == str(r["smart_lessons"])
        if r["class_hour_rate"] is None:
            assert cells[4] == "no data yet"
        else:
            assert shown(cells[4], r["class_hour_rate"])
    await page.context.close()


async def test_language_like_the_agents_pages(dash) -> None:
    """Accept-Language picks zh-CN or en; ?lang= overrides it; anything else is en."""
    url, _, _ = dash
    cases = [({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}, "", "zh-CN"),
             ({"Accept-Language": "en-US,en;q=0.9"}, "", "en"),
             ({"Accept-Language": "zh-CN"}, "?lang=en", "en"),
             ({"Accept-Language": "en"}, "?lang=zh-CN", "zh-CN"),
             ({"Accept-Language": "fr-FR"}, "", "en"), ({}, "?lang=xx", "en")]
    async with aiohttp.ClientSession(url) as http:
        for headers, query, want in cases:
            async with http.get("/" + query, headers=headers) as r:
                assert r.status == 200
                assert f'<html lang="{want}">' in await r.text(), (headers, query)
                assert r.headers["Content-Language"] == want
                assert "script-src 'self'" in r.headers["Content-Security-Policy"]


async def test_bad_parameters_are_400_or_404_json(dash) -> None:
    url, variety, _ = dash
    school = variety.gap_room[0]
    cases = [
        (f"/schools/nope{q('en')}", 404), (f"/api/dashboard/schools/nope{q('en')}", 404),
        (f"/schools/{school}/rooms/nope{q('en')}", 404),
        (f"/api/dashboard/schools/{school}/rooms/nope{q('en')}", 404),
        ("/?term=1999%20spring", 404), ("/api/dashboard/district?term=x", 404),
        (f"/?term={quote(TERM)}&as_of=yesterday", 400),
        ("/api/dashboard/district?as_of=2026-13-01", 400),
        ("/schools/a'%20OR%201=1--", 400), ("/api/dashboard/schools/%3Cscript%3E", 400),
        (f"/report?term={quote(TERM)}&school=s001%22;DROP%20TABLE%20lessons", 400),
        (f"/api/dashboard/schools/{'x' * 65}", 400),
    ]
    async with aiohttp.ClientSession(url) as http:
        for path, want in cases:
            async with http.get(path) as r:
                assert r.status == want, (path, r.status)
                body = await r.json()
                assert body["ok"] is False and body["error"]["message"]
        async with http.get(f"/api/dashboard/schools/{school}{q('en')}") as r:
            assert r.status == 200  # and the store is intact


TEXT = st.characters(blacklist_categories=("Cs",))
NASTY = ["s001' OR '1'='1", "s001; DROP TABLE lessons; --", "<script>alert(1)</script>",
         "../../etc/passwd", "%00", "s001\x00", "${jndi:ldap://x}", "2026 autumn'--", "..",
         "s001/r0001", " ", "ｓ００１"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(school=st.one_of(st.text(TEXT, max_size=80), st.sampled_from(NASTY)),
       term=st.one_of(st.text(TEXT, max_size=40), st.sampled_from(NASTY)),
       as_of=st.one_of(st.none(), st.text(TEXT, max_size=20)), lang=st.text(TEXT, max_size=10))
def test_fuzzed_parameters_never_500(district, school, term, as_of, lang) -> None:
    """Any school, term, as_of and lang: 200, 400 or 404, always JSON when not 200."""
    import asyncio

    cfg, store, _, _ = district

    async def go() -> None:
        from aiohttp.test_utils import TestClient, TestServer

        from district.web.app import make_app

        async with TestClient(TestServer(make_app(cfg, store))) as client:
            params = {"term": term, "lang": lang}
            if as_of is not None:
                params["as_of"] = as_of
            for path in (f"/api/dashboard/schools/{quote(school, safe='')}",
                         f"/schools/{quote(school, safe='')}/rooms/r0001", "/",
                         "/api/dashboard/district", "/report"):
                p = dict(params, school=school) if path == "/report" else params
                r = await client.get(path, params=p)
                assert r.status in (200, 400, 404), (path, r.status)
                if r.status != 200:
                    assert (await r.json())["ok"] is False

    asyncio.run(go())
