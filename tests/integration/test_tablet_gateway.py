"""The tablet gateway in a running agent, driven by real WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.events import AttendanceEvent, InteractionEvent
from agent.tablets.service import TabletService
from drivers.emulators.tablets import TabletClient, TabletRefused
from drivers.tablets import protocol as p

ROSTER = ("classSourcedId,userSourcedId,role\n"
          + "".join(f"c-7a,stu-{i:03d},student\n" for i in range(1, 7))
          + "c-7a,tea-1,teacher\nc-8b,stu-100,student\n")


async def wait_for(cond, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.02)


@pytest.fixture
def tablets_cfg(tmp_path: Path, make_config):
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tab-tok": "s3cret-token"}))

    def make(**over: Any):
        t = {"enabled": True, "join_code": "7A-2024", "roster_file": str(roster),
             "device_tokens_file": str(tokens), "late_after_min": 5.0, **over}
        return make_config(tablets=t)

    return make


@contextlib.asynccontextmanager
async def tablet_agent(run_agent, cfg):
    async with run_agent(cfg) as agent:
        svc = agent.ctx.service(TabletService)
        assert svc is not None
        url = agent.web_url.replace("http://", "ws://") + "/ws/tablet"
        yield agent, svc, url


def client(url: str, n: int, student: str | None = None, **kw: Any) -> TabletClient:
    kw.setdefault("join_code", "7A-2024")
    return TabletClient(url, f"tab-{n:02d}", student or f"stu-{n:03d}", **kw)


def capture(agent, *types) -> list[Any]:
    got: list[Any] = []
    agent.ctx.bus.add_listener(lambda e: got.append(e) if isinstance(e, types) else None)
    return got


# --------------------------------------------------------------------------- attendance


async def test_attendance_present_late_absent(run_agent, tablets_cfg):
    async with tablet_agent(run_agent, tablets_cfg(max_backdate_s=1800)) as (agent, svc, url):
        events = capture(agent, AttendanceEvent, InteractionEvent)
        clients = [client(url, i) for i in range(1, 7)]
        start = datetime.now(UTC) - timedelta(minutes=10)  # late mark was 5 minutes ago
        # stu-001 checked in at the door, before the lesson context existed: present
        await clients[0].connect()
        await clients[0].request(clients[0].checkin(at=start - timedelta(minutes=2)))
        svc.set_lesson("2026-03-02-p1", start, "c-7a")
        for c in clients[1:]:
            await c.connect()
        # stu-002 tapped "I'm here" 1 minute into the lesson, sent now (offline tablet)
        await clients[1].request(clients[1].checkin(at=start + timedelta(minutes=1)))
        # stu-003 and stu-004 check in now: late
        await clients[2].request(clients[2].checkin())
        await clients[3].request(clients[3].checkin())
        # stu-004 checks in twice: counted once
        await clients[3].request(clients[3].checkin())
        # stu-005, stu-006 never check in. A visitor from another class does:
        visitor = client(url, 9, "stu-100")
        await visitor.connect()
        await visitor.request(visitor.checkin())

        tally = svc.lesson_tally("2026-03-02-p1")
        assert tally["attendance"] == {"enrolled": 6, "present": 2, "late": 2, "absent": 2,
                                       "unknown_checkins": 1, "head_count": None}
        assert svc.status()["checked_in"] == 5
        final = svc.end_lesson("2026-03-02-p1")
        assert final is not None and final.final
        by_student = {r.student_id: r.status for r in final.students}
        assert by_student == {"stu-001": "present", "stu-002": "present", "stu-003": "late",
                              "stu-004": "late", "stu-005": "absent", "stu-006": "absent"}
        assert "tea-1" not in by_student  # teachers are not students
        await wait_for(lambda: any(isinstance(e, AttendanceEvent) for e in events))
        checkins = [e for e in events if isinstance(e, InteractionEvent) and e.kind == "checkin"]
        assert len(checkins) == 5  # the repeated check-in published nothing
        assert {e.late for e in checkins if e.lesson_id} == {False, True}
        for c in [*clients, visitor]:
            await c.close()


async def test_attendance_survives_agent_restart(run_agent, tablets_cfg):
    cfg = tablets_cfg()
    start = datetime.now(UTC) - timedelta(minutes=1)
    async with tablet_agent(run_agent, cfg) as (_agent, svc, url):
        svc.set_lesson("L-restart", start, "c-7a")
        c = client(url, 1)
        await c.connect()
        await c.request(c.checkin())
        replay = c.hand("raise")
        await c.request(replay)
        await c.close()
    async with tablet_agent(run_agent, cfg) as (_agent, svc, url):
        assert svc.current_lesson and svc.current_lesson.lesson_id == "L-restart"
        assert svc.lesson_tally("L-restart")["attendance"]["present"] == 1
        c = client(url, 1)
        await c.connect()
        ack = await c.request(replay)  # the same message id after an agent restart
        assert ack.duplicate
        await c.close()


async def test_early_checkin_survives_agent_restart_before_the_lesson(run_agent, tablets_cfg):
    cfg = tablets_cfg()
    async with tablet_agent(run_agent, cfg) as (_agent, svc, url):
        assert svc.current_lesson is None
        c = client(url, 1)
        await c.connect()
        early = c.checkin()  # at the door, before the lesson opened
        assert not (await c.request(early)).duplicate
        await c.close()
    # the agent restarts before the lesson: the resend is (rightly) only a duplicate, so
    # the stored check-in is all that remembers the student was there
    async with tablet_agent(run_agent, cfg) as (_agent, svc, url):
        assert svc.status()["checked_in"] == 1
        c = client(url, 1)
        await c.connect()
        assert (await c.request(early)).duplicate
        await c.close()
        svc.set_lesson("L-early", datetime.now(UTC), "c-7a")
        att = svc.lesson_tally("L-early")["attendance"]
        assert (att["present"], att["absent"]) == (1, 5)
    # and once the lesson took it, it belongs to the lesson (not counted twice, not lost)
    async with tablet_agent(run_agent, cfg) as (_agent, svc, url):
        assert svc.current_lesson and svc.current_lesson.lesson_id == "L-early"
        assert svc.pending == {}
        event = svc.end_lesson()
        assert event is not None and (event.present, event.absent) == (1, 5)


# --------------------------------------------------------------------------- resend


async def test_reconnect_with_resend_counts_once(run_agent, tablets_cfg):
    async with tablet_agent(run_agent, tablets_cfg()) as (agent, svc, url):
        events = capture(agent, InteractionEvent)
        svc.set_lesson("L-resend", datetime.now(UTC), "c-7a")
        q = svc.ask("2+2?", ["3", "4", "5"], question_id="q1", correct="4")
        assert q["sent_to"] == 0
        c = client(url, 1)
        await c.connect()
        assert c.welcome.question and c.welcome.question.question_id == "q1"
        sent = [c.checkin(), c.answer("q1", choice="4", time_to_answer_s=3.5),
                c.hand("raise"), c.answer("q2", text="because"), c.focus("background")]
        for m in sent:
            await c.send(m)  # no waiting for acks ...
        await c.drop()  # ... and the network goes: some were processed, acks lost
        await c.connect()  # resends everything still unacknowledged, in order
        await wait_for(lambda: not c.unacked)
        # and a buggy app replays an already acknowledged message on the new connection
        ack = await c.request(sent[1])
        assert ack.duplicate
        ids = [e.message_id for e in events if e.device_id == "tab-01"]
        assert sorted(ids) == sorted(m.id for m in sent)  # each exactly once
        tally = svc.lesson_tally("L-resend")
        assert (tally["checkins"], tally["answers"], tally["hands"]) == (1, 2, 1)
        assert svc.status()["answers_current_question"] == 1
        answer = next(e for e in events if e.kind == "answer" and e.question_id == "q1")
        assert answer.correct is True and answer.time_to_answer_s == 3.5
        await c.close()


async def test_same_device_reconnecting_replaces_half_open_session(run_agent, tablets_cfg):
    async with tablet_agent(run_agent, tablets_cfg()) as (_agent, svc, url):
        old = client(url, 1)
        await old.connect()
        new = client(url, 1)
        await new.connect()
        assert await old.wait_closed() == p.CLOSE_REPLACED
        await new.request(new.heartbeat())
        assert len(svc.gateway.sessions) == 1
        await old.close()
        await new.close()


# --------------------------------------------------------------------------- isolation


async def test_flood_from_one_tablet_does_not_hold_up_the_others(run_agent, tablets_cfg):
    cfg = tablets_cfg(rate_per_s=20, rate_burst=20)
    async with tablet_agent(run_agent, cfg) as (_agent, svc, url):
        svc.set_lesson("L-flood", datetime.now(UTC), "c-7a")
        flooder = client(url, 1)
        await flooder.connect()
        others = [client(url, i) for i in range(2, 6)]
        for c in others:
            await c.connect()

        async def flood() -> int:
            n = 0
            with contextlib.suppress(Exception):
                for _ in range(5000):
                    await flooder.ws.send_str(p.encode(flooder.hand("raise")))
                    n += 1
                    if n % 200 == 0:
                        await asyncio.sleep(0)
            return n

        flood_task = asyncio.create_task(flood())
        for c in others:  # while the flood runs, every other tablet works normally
            await c.request(c.checkin())
            for k in range(5):
                await c.request(c.answer(f"q{k}", choice="A"))
        await flood_task
        assert await flooder.wait_closed() == p.CLOSE_RATE_LIMITED
        assert any(e.code == "rate_limited" for e in flooder.errors)
        assert all(c.connected for c in others)
        assert all(not c.unacked and not c.errors for c in others)
        tally = svc.lesson_tally("L-flood")
        assert tally["checkins"] == 4 and tally["answers"] == 20
        assert tally["hands"] == 1  # the flooder's accepted burst: one raise, repeats ignored
        st = svc.status()
        assert st["closes"].get("rate_limited") == 1 and st["errors"]["rate_limited"] > 20
        for c in [flooder, *others]:
            await c.close()


# --------------------------------------------------------------------------- bad input


SOFT_CASES = [
    ("{not json", "malformed_json"),
    ("[1, 2]", "invalid_message"),
    ('"hello"', "invalid_message"),
    ('{"id": "x1"}', "invalid_message"),
    ('{"type": 5, "id": "x1"}', "invalid_message"),
    ('{"type": "teleport", "id": "x1"}', "unknown_type"),
    ('{"type": "checkin"}', "invalid_field"),
    ('{"type": "checkin", "id": 17}', "invalid_field"),
    ('{"type": "checkin", "id": ""}', "invalid_field"),
    ('{"type": "checkin", "id": "x1", "at": "yesterday"}', "invalid_field"),
    ('{"type": "answer", "id": "x1", "question_id": "q1"}', "invalid_field"),
    ('{"type": "answer", "id": "x1", "question_id": ["q1"], "choice": "A"}', "invalid_field"),
    ('{"type": "answer", "id": "x1", "question_id": "q1", "choice": "A", '
     '"time_to_answer_s": -3}', "invalid_field"),
    ('{"type": "answer", "id": "x1", "question_id": "q1", "choice": 2}', "invalid_field"),
    ('{"type": "hand", "id": "x1", "state": "wave"}', "invalid_field"),
    ('{"type": "focus", "id": "x1", "state": true}', "invalid_field"),
    ('{"type": "broadcast_ack", "id": "x1"}', "invalid_field"),
    ('{"type": "hello", "id": "x2", "protocol": 1, "device_id": "tab-01", '
     '"student_id": "stu-001", "join_code": "7A-2024"}', "already_authenticated"),
    ('{"type": "heartbeat", "id": "' + "x" * 65 + '"}', "invalid_field"),
    ('{"type": "answer", "id": "x1", "question_id": "q1", "text": "' + "y" * 9000 + '"}',
     "too_big"),
    (b"\x00\x01binary", "binary_not_supported"),
    # deep nesting under the size limit used to raise RecursionError -> traceback + 1011
    ('{"type": "heartbeat", "id": "x1", "zzz": ' + "[" * 3000 + "]" * 3000 + "}",
     "malformed_json"),
]


async def test_every_malformed_message_gets_an_error_and_the_session_lives(run_agent,
                                                                           tablets_cfg):
    cfg = tablets_cfg(rate_per_s=100, rate_burst=200)
    async with tablet_agent(run_agent, cfg) as (_agent, svc, url):
        c = client(url, 1)
        bystander = client(url, 2)
        await c.connect()
        await bystander.connect()
        for raw, code in SOFT_CASES:
            before = len(c.errors)
            await c.send_raw(raw)
            hb = await c.request(c.heartbeat())  # the session still works ...
            assert not hb.duplicate
            assert [e.code for e in c.errors[before:]] == [code], raw
        await bystander.request(bystander.heartbeat())  # ... and so does everyone else
        errors = svc.status()["errors"]
        for _raw, code in SOFT_CASES:
            assert errors.get(code, 0) >= 1
        assert c.errors[0].ref is None and c.errors[5].ref == "x1"
        await c.close()
        await bystander.close()


async def refused(url: str, **kw: Any) -> TabletRefused:
    c = TabletClient(url, kw.pop("device_id", "tab-01"), kw.pop("student_id", "stu-001"), **kw)
    with pytest.raises(TabletRefused) as info:
        await c.connect()
    await c.close()
    return info.value


async def test_auth_refusals_have_clear_reasons(run_agent, tablets_cfg):
    async with tablet_agent(run_agent, tablets_cfg()) as (_agent, svc, url):
        e = await refused(url, join_code="wrong")
        assert (e.code, e.close_code) == ("auth_failed", p.CLOSE_AUTH_FAILED)
        e = await refused(url)
        assert e.code == "auth_failed" and "join_code" in e.message
        e = await refused(url, device_id="tab-tok", token="nope")
        assert e.code == "auth_failed"
        e = await refused(url, device_id="tab-unknown", token="s3cret-token")
        assert e.code == "auth_failed"
        e = await refused(url, student_id="stu-999", join_code="7A-2024")
        assert (e.code, e.close_code) == ("unknown_student", p.CLOSE_AUTH_FAILED)
        ok = TabletClient(url, "tab-tok", "stu-002", token="s3cret-token")
        await ok.connect()
        await ok.request(ok.heartbeat())
        await ok.close()

        async with aiohttp.ClientSession() as http:
            async def first_frame(frame: str) -> tuple[str, int | None]:
                async with http.ws_connect(url) as ws:
                    await ws.send_str(frame)
                    msg = await ws.receive(timeout=10)
                    code = json.loads(msg.data)["code"]
                    await ws.receive(timeout=10)
                    return code, ws.close_code

            hello = {"type": "hello", "id": "h1", "protocol": 2, "device_id": "tab-01",
                     "student_id": "stu-001", "join_code": "7A-2024"}
            assert await first_frame(json.dumps(hello)) == ("unsupported_version",
                                                            p.CLOSE_UNSUPPORTED_VERSION)
            assert await first_frame('{"type":"checkin","id":"c1"}') == (
                "not_authenticated", p.CLOSE_AUTH_FAILED)
            assert await first_frame("{{{") == ("malformed_json", p.CLOSE_AUTH_FAILED)
            deep = '{"type":"hello","id":"h1","x":' + "[" * 3000 + "]" * 3000 + "}"
            assert await first_frame(deep) == ("malformed_json", p.CLOSE_AUTH_FAILED)
        closes = svc.status()["closes"]
        assert closes["auth_failed"] >= 8 and closes["unsupported_version"] == 1


async def test_connection_level_limits_close_with_reason_codes(run_agent, tablets_cfg):
    cfg = tablets_cfg(hello_timeout_s=0.3, heartbeat_s=0.2, heartbeat_timeout_s=0.5,
                      max_message_bytes=1024, rate_burst=200)
    async with tablet_agent(run_agent, cfg) as (_agent, svc, url):
        async with aiohttp.ClientSession() as http:
            # connects and never says hello
            async with http.ws_connect(url) as ws:
                msg = await ws.receive(timeout=10)
                assert json.loads(msg.data)["code"] == "not_authenticated"
                await ws.receive(timeout=10)
                assert ws.close_code == p.CLOSE_HELLO_TIMEOUT
        # says hello then goes silent (half-open / hung app)
        silent = client(url, 1)
        await silent.connect()
        assert await silent.wait_closed() == p.CLOSE_IDLE_TIMEOUT
        await silent.close()
        # a frame far above the limit is cut by the WebSocket layer
        big = client(url, 2)
        await big.connect()
        await big.send_raw('{"type":"heartbeat","id":"' + "z" * 5000 + '"}')
        assert await big.wait_closed() == p.CLOSE_TOO_BIG
        await big.close()
        # a stream of garbage: closed after max_errors
        noisy = client(url, 3)
        await noisy.connect()
        with contextlib.suppress(Exception):
            for _ in range(60):
                await noisy.send_raw("nope")
        assert await noisy.wait_closed() == p.CLOSE_TOO_MANY_ERRORS
        await noisy.close()
        closes = svc.status()["closes"]
        for reason in ("hello_timeout", "idle_timeout", "too_big", "too_many_errors"):
            assert closes.get(reason) == 1, (reason, closes)


def _raw_ws_hello(port: int, device: str, student: str) -> socket.socket:
    """A WebSocket client on a bare socket that sends hello and then never reads."""
    import base64
    import os
    import struct

    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws/tablet HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(1)
    assert b" 101 " in buf
    payload = json.dumps({"type": "hello", "id": "h1", "protocol": 1, "device_id": device,
                          "student_id": student, "join_code": "7A-2024"}).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    s.sendall(struct.pack("!BBH", 0x81, 0x80 | 126, len(payload)) + mask + masked)
    return s


async def test_tablet_that_does_not_read_is_closed_as_slow_consumer(run_agent, tablets_cfg):
    cfg = tablets_cfg(send_queue_max=8)
    async with tablet_agent(run_agent, cfg) as (agent, svc, url):
        port = int(url.split(":")[2].split("/")[0])
        stuck = await asyncio.to_thread(_raw_ws_hello, port, "tab-09", "stu-006")
        reader = client(url, 1)
        await reader.connect()
        await wait_for(lambda: len(svc.gateway.sessions) == 2)
        body = "x" * 60_000
        for i in range(400):  # far more than socket buffers + the send queue hold
            await agent.ctx.commands.dispatch("tablets/broadcast",
                                              {"title": f"slide {i}", "body": body})
            # the reading tablet gets every slide while the other one is stuck
            await wait_for(lambda i=i: len(reader.broadcasts) == i + 1)
            if "tab-09" not in svc.gateway.sessions:
                break
        await wait_for(lambda: "tab-09" not in svc.gateway.sessions)
        assert svc.status()["closes"].get("slow_consumer") == 1
        # the reading tablet got its broadcasts and is still connected
        await reader.request(reader.heartbeat())
        assert reader.connected and reader.broadcasts
        stuck.close()
        await reader.close()


# --------------------------------------------------------------------------- commands


async def test_question_and_broadcast_commands_reach_tablets(run_agent, tablets_cfg):
    async with tablet_agent(run_agent, tablets_cfg()) as (agent, svc, url):
        svc.set_lesson("L-cmd", datetime.now(UTC), "c-7a")
        events = capture(agent, InteractionEvent)
        cs = [client(url, i) for i in range(1, 4)]
        for c in cs:
            await c.connect()
        res = await agent.ctx.commands.dispatch(
            "tablets/question", {"prompt": "Capital of France?",
                                 "choices": ["Paris", "Rome"], "correct": "Paris"})
        assert res.ok and res.result["sent_to"] == 3
        bad = await agent.ctx.commands.dispatch("tablets/question",
                                                {"prompt": "?", "choices": ["only"]})
        assert not bad.ok and bad.error["code"] == "bad_args"
        await wait_for(lambda: all(c.questions for c in cs))
        qid = res.result["question_id"]
        await cs[0].request(cs[0].answer(qid, choice="Paris"))
        await cs[1].request(cs[1].answer(qid, choice="Rome"))
        await cs[1].request(cs[1].hand("raise"))
        st = svc.status()
        assert st["answers_current_question"] == 2 and st["hands_up"] == 1
        assert [e.correct for e in events if e.kind == "answer"] == [True, False]
        res = await agent.ctx.commands.dispatch("tablets/broadcast",
                                                {"title": "Open page 12"})
        assert res.ok
        bid = res.result["broadcast_id"]
        await wait_for(lambda: svc.lesson_tally("L-cmd")["broadcast_acks"].get(bid) == 3)
        await cs[1].close()
        await wait_for(lambda: svc.status()["hands_up"] == 0)  # left: hand no longer up
        res = await agent.ctx.commands.dispatch("tablets/lesson", {"action": "end"})
        assert res.ok and res.result["absent"] == 6
        for c in cs:
            await c.close()


async def test_status_api_and_metrics_show_tablets(run_agent, tablets_cfg):
    async with tablet_agent(run_agent, tablets_cfg()) as (agent, _svc, url):
        c = client(url, 1)
        await c.connect()
        await c.request(c.checkin())
        async with aiohttp.ClientSession() as http:
            async with http.get(agent.web_url + "/api/status") as r:
                doc = await r.json()
            assert doc["tablets"]["connected"] == 1
            assert doc["tablets"]["checked_in"] == 1
            async with http.get(agent.web_url + "/metrics") as r:
                text = await r.text()
            # deeply nested JSON overflowed json.loads' stack -> 500; it is a bad body
            deep = '{"prompt": ' + "[" * 50_000 + "]" * 50_000 + "}"
            async with http.post(agent.web_url + "/api/tablets/question", data=deep,
                                 headers={"Content-Type": "application/json",
                                          "X-Requested-With": "test"}) as r:
                assert r.status == 400
                assert (await r.json())["error"]["code"] == "bad_json"
        assert 'classroom_tablets_messages_total{type="checkin"} 1.0' in text
        assert "classroom_tablets_connected 1.0" in text
        await c.close()


# --------------------------------------------------------------------------- xAPI


async def test_xapi_statements_reach_a_local_lrs_after_it_recovers(run_agent, tablets_cfg):
    from aiohttp import web

    from tests.conftest import free_port

    got: list[dict[str, Any]] = []
    calls = {"n": 0}

    async def statements(request: web.Request) -> web.Response:
        calls["n"] += 1
        assert request.headers["X-Experience-API-Version"] == "1.0.3"
        assert request.headers["Authorization"].startswith("Basic ")
        if calls["n"] == 1:
            return web.Response(status=503)  # the LRS is down at first: retried
        got.extend(await request.json())
        return web.json_response([s["id"] for s in got])

    app = web.Application()
    app.router.add_post("/xapi/statements", statements)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        cfg = tablets_cfg(xapi={"enabled": True, "endpoint": f"http://127.0.0.1:{port}/xapi/",
                                "username": "agent", "password": "pw",
                                "home_page": "https://sis.school.example"})
        async with tablet_agent(run_agent, cfg) as (_agent, svc, url):
            svc.set_lesson("L-x", datetime.now(UTC), "c-7a")
            c = client(url, 1)
            await c.connect()
            await c.request(c.checkin())
            await c.request(c.answer("q1", choice="B", time_to_answer_s=2))
            await c.request(c.hand("raise"))
            svc.end_lesson()
            await wait_for(lambda: len(got) >= 3)
            verbs = sorted(s["verb"]["display"]["en-US"] for s in got)
            assert verbs == ["answered", "asked", "attended"]
            assert {s["actor"]["account"]["name"] for s in got} == {"stu-001"}
            assert svc.status()["xapi"]["sent"] == 3 and calls["n"] >= 2
            await c.close()
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- emulator


async def test_bots_join_check_in_drop_and_reconnect_without_double_counts(run_agent,
                                                                           tablets_cfg):
    from drivers.emulators.tablets import run_bots

    async with tablet_agent(run_agent, tablets_cfg(late_after_min=0.05)) as (agent, svc, url):
        events = capture(agent, InteractionEvent)
        svc.set_lesson("L-bots", datetime.now(UTC), "c-7a")
        stop = asyncio.Event()
        task = asyncio.create_task(run_bots(
            url, count=6, join_code="7A-2024", duration_s=0, speed=20, late=0.34,
            absent=0.17, late_delay_s=40, drop_every_s=20, stop=stop))
        await wait_for(lambda: svc.lesson_tally("L-bots")["checkins"] == 5)
        svc.ask("pick one", ["A", "B"], question_id="qb")
        await wait_for(lambda: svc.status()["answers_current_question"] >= 3)
        stop.set()
        stats = await task
        assert stats.refused == {} and stats.acks > 0
        att = svc.end_lesson()
        assert (att.present, att.late, att.absent) == (3, 2, 1)
        keys = [(e.device_id, e.message_id) for e in events]
        assert len(keys) == len(set(keys))  # drops + resends never counted twice


def test_simulate_tablets_subcommand_is_registered():
    from agent.cli import build_parser

    args = build_parser().parse_args(["simulate", "tablets", "--count", "3", "--join-code",
                                      "x", "--url", "ws://127.0.0.1:1/ws/tablet"])
    assert args.count == 3 and callable(args.func)
