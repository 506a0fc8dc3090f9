"""The collector's HTTP API on a real aiohttp server on a free loopback port."""

from __future__ import annotations

import base64
import json
from datetime import date

import aiohttp
import pytest

from agent.web.credentials import hash_password
from district.config import from_dict
from district.ingest.parse import parse
from district.kpi.engine import term_report
from district.report import as_dict
from district.store.store import Store
from district.web.app import start_web
from tests.conftest import free_port
from tests.helpers.district import CFG, fixture_messages, lesson, message


@pytest.fixture
async def api(tmp_path):
    port = free_port()
    cfg = from_dict({**CFG, "web": {"listen": f"127.0.0.1:{port}", "token": "s3cret",
                                    "username": "ops",
                                    "password_hash": hash_password("pw", 1000)}})
    store = Store.open(f"sqlite:///{tmp_path}/d.sqlite", cfg.terms, cfg.schools)
    msgs = [parse(t, p, "classroom") for t, p in fixture_messages()]
    msgs.append(parse(*message("a", "r1", lesson("2026-09-09", "G1", "math", True), seq=99),
                      "classroom"))
    msgs.append(parse("classroom/a/r1/lessons", b"garbage", "classroom"))
    store.apply(msgs)
    runner = await start_web(cfg, store, None)
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            yield cfg, store, http
    finally:
        await runner.cleanup()
        store.close()


async def test_report_endpoints_return_the_engines_figures(api) -> None:
    cfg, store, http = api
    q = {"term": "2026 autumn", "as_of": "2026-10-15"}
    async with http.get("/api/report", params=q) as r:
        assert r.status == 200
        doc = await r.json()
    want = as_dict(term_report(cfg, store, "2026 autumn", as_of=date(2026, 10, 15)))
    doc.pop("generated_at"), want.pop("generated_at")
    assert doc == want
    async with http.get("/api/schools/a/report", params=q) as r:
        assert (await r.json())["schools"][0]["school"] == "a"
    async with http.get("/api/schools/a/rooms/r2/report", params=q) as r:
        rooms = (await r.json())["rooms"]
        assert [x["room"] for x in rooms] == ["r2"] and rooms[0]["class_hour_rate"] == 0.75
    async with http.get("/api/schools/zz/report", params=q) as r:
        assert r.status == 404
    async with http.get("/api/report", params={"term": "nope"}) as r:
        assert r.status == 404
    async with http.get("/api/report", params={**q, "as_of": "x"}) as r:
        assert r.status == 400
    async with http.get("/api/report", params={**q, "format": "xlsx"}) as r:
        assert r.status == 200 and (await r.read())[:2] == b"PK"
    async with http.get("/api/weekly", params=q) as r:
        weeks = {w["week"]: w for w in await r.json()}
        assert weeks["2026-W38"]["school_week"] is False


async def test_presence_data_loss_metrics_openapi(api) -> None:
    _, _, http = api
    async with http.get("/api/rooms") as r:
        rooms = {x["room"]: x for x in await r.json()}
    assert rooms["r1"]["state"] == "online" and rooms["r3"]["silent"] is True
    assert rooms["r1"]["data_loss"]["missing"] > 0  # seq jumped to 99
    async with http.get("/api/data-loss") as r:
        loss = await r.json()
    assert loss["missing_total"] > 0 and loss["dead_letters"] == {"bad_json": 1}
    async with http.get("/api/dead-letters") as r:
        assert (await r.json())[0]["reason"] == "bad_json"
    async with http.get("/metrics") as r:
        text = await r.text()
    assert 'district_dead_letters_total{reason="bad_json"} 1.0' in text
    assert "district_seq_missing" in text and 'district_rooms{state="silent"} 1.0' in text
    async with http.get("/api/openapi.json") as r:
        spec = await r.json()
    assert "/api/report" in spec["paths"] and "RoomFigures" in spec["components"]["schemas"]
    async with http.post("/api/report") as r:
        assert r.status == 405


async def test_a_foreign_host_needs_credentials(api) -> None:
    _, _, http = api
    h = {"Host": "district.example.org"}  # what a non-loopback client (or rebinding) sends
    async with http.get("/api/rooms", headers=h) as r:
        assert r.status == 401
    async with http.get("/healthz", headers=h) as r:
        assert r.status == 200
    async with http.get("/api/rooms", headers={**h, "Authorization": "Bearer wrong"}) as r:
        assert r.status == 401
    async with http.get("/api/rooms", headers={**h, "Authorization": "Bearer s3cret"}) as r:
        assert r.status == 200
    basic = base64.b64encode(b"ops:pw").decode()
    async with http.get("/api/rooms", headers={**h, "Authorization": f"Basic {basic}"}) as r:
        assert r.status == 200
        assert json.loads(await r.read())


def test_off_loopback_without_credentials_is_refused() -> None:
    from district.config import ConfigError

    with pytest.raises(ConfigError, match=r"web.listen: .* is not loopback"):
        from_dict({"web": {"listen": "0.0.0.0:8090"}})
